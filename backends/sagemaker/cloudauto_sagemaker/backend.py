"""The SageMaker backend: a spec becomes a hyperparameter tuning job on the AutoGluon DLC.

Compiling is offline (no credentials): `compile.py` builds the CreateHyperParameterTuningJob
request. Nothing here imports boto3 or the sagemaker SDK at module import time.
"""

from __future__ import annotations

import json
from typing import Any

from cloudauto.backend import Backend, CompiledJob, Feature, JobHandle, NotSupportedError
from cloudauto.spec.backends import SageMakerSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import JobSpec

_POLICY_FEATURES = {
    "bandit": Feature.BANDIT_POLICY,
    "median_stopping": Feature.MEDIAN_STOPPING_POLICY,
    "truncation_selection": Feature.TRUNCATION_POLICY,
}


class SageMakerBackend(Backend):
    name = "sagemaker"
    tasks = frozenset(Task)
    settings_model = SageMakerSettings
    install_hint = "pip install cloudauto-sagemaker"

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        found: dict[Feature, str] = {}
        unbounded = sorted({name for _, name, d in spec.space.distributions() if d.kind in ("normal", "lognormal")})
        if unbounded:
            found[Feature.NORMAL_DISTRIBUTION] = (
                f"{', '.join(unbounded)}: SageMaker parameter ranges are bounded (Continuous, Integer, Categorical)"
            )
        return found

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        policy = spec.policy
        if policy is not None and spec.backends.sagemaker.strategy != "Hyperband":
            return {
                _POLICY_FEATURES[policy.policy]: "SageMaker has only TrainingJobEarlyStoppingType Auto "
                "(its own median rule); the policy becomes Auto"
            }
        return {}

    def _compile(self, spec: JobSpec) -> CompiledJob:
        from .compile import tuning_request

        request, warnings, notes = tuning_request(spec)
        name = request["HyperParameterTuningJobName"]
        text = json.dumps(request, indent=2) + "\n"
        return CompiledJob(self.name, spec, request, files={f"{name}.tuning-job.json": text}, warnings=warnings, notes=notes)

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        raise NotSupportedError("submitting is not yet supported by the sagemaker backend in this version of cloudauto-sagemaker")

    def _attach(self, job_id: str) -> JobHandle:
        raise NotSupportedError("attaching to jobs is not yet supported by the sagemaker backend")
