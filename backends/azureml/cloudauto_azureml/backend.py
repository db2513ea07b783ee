"""The Azure ML backend: what it cannot express is known now; compile and submit come next.

Nothing here imports azure-ai-ml at module import time.
"""

from __future__ import annotations

from typing import Any

from cloudauto.backend import Backend, CompiledJob, Feature, JobHandle, NotSupportedError
from cloudauto.spec.backends import AzureMLSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import JobSpec, Sampling
from cloudauto.spec.types import scheme_of


class AzureMLBackend(Backend):
    name = "azureml"
    tasks = frozenset(Task)
    settings_model = AzureMLSettings
    install_hint = "pip install cloudauto-azureml"

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        found: dict[Feature, str] = {}
        if any(scheme_of(u) == "s3" for u in spec.data.uris().values()):
            found[Feature.S3_DATA] = "Azure ML reads azureml://, https:// and local data; copy the data to a datastore"
        if spec.sweep and spec.sweep.sampling is Sampling.BAYESIAN and spec.policy is not None:
            found[Feature.BAYESIAN_WITH_EARLY_TERMINATION] = "Azure ML's Bayesian sampling supports no early termination policy"
        return found

    def _compile(self, spec: JobSpec) -> CompiledJob:
        from .compile import build

        job, files, warnings, notes = build(spec)
        return CompiledJob(self.name, spec, job, files=files, warnings=warnings, notes=notes)

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        raise NotSupportedError("submitting is not yet supported by the azureml backend")

    def _attach(self, job_id: str) -> JobHandle:
        raise NotSupportedError("attaching to jobs is not yet supported by the azureml backend")
