"""The SageMaker backend: what it cannot express is known now; compile and submit come next.

Nothing here imports boto3 or the sagemaker SDK at module import time.
"""

from __future__ import annotations

from typing import Any

from cloudauto.backend import Backend, CompiledJob, Feature, JobHandle, NotSupportedError
from cloudauto.spec.backends import SageMakerSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import JobSpec


class SageMakerBackend(Backend):
    name = "sagemaker"
    tasks = frozenset(Task)
    settings_model = SageMakerSettings
    install_hint = "pip install cloudauto-sagemaker"

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        found: dict[Feature, str] = {}
        kinds = {d.kind for _, _, d in spec.space.distributions()}
        if kinds & {"normal", "lognormal"}:
            found[Feature.NORMAL_DISTRIBUTION] = "SageMaker parameter ranges are bounded (Continuous, Integer, Categorical)"
        return found

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        policy = spec.policy
        if policy is not None:
            feature = {
                "bandit": Feature.BANDIT_POLICY,
                "median_stopping": Feature.MEDIAN_STOPPING_POLICY,
                "truncation_selection": Feature.TRUNCATION_POLICY,
            }[policy.policy]
            return {feature: "SageMaker has only TrainingJobEarlyStoppingType Auto; the policy becomes Auto"}
        return {}

    def _compile(self, spec: JobSpec) -> CompiledJob:
        raise NotSupportedError("compiling is not yet supported by the sagemaker backend in this version of cloudauto-sagemaker")

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        raise NotSupportedError("submitting is not yet supported by the sagemaker backend")

    def _attach(self, job_id: str) -> JobHandle:
        raise NotSupportedError("attaching to jobs is not yet supported by the sagemaker backend")
