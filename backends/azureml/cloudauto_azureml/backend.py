"""The Azure ML backend: a spec becomes an AutoML job or a sweep job, run through MLClient.

`compile.py` builds the azure-ai-ml entities offline, `submit.py` sends them, `handle.py`
follows a job, `endpoint.py` deploys and scores. Nothing here imports azure-ai-ml at
module import time.
"""

from __future__ import annotations

from typing import Any, Optional

from cloudauto.backend import Backend, CompiledJob, Endpoint, Feature, JobHandle, NotSupportedError
from cloudauto.spec.backends import AzureMLSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import JobSpec, Sampling
from cloudauto.spec.types import scheme_of


class AzureMLBackend(Backend):
    name = "azureml"
    tasks = frozenset(Task)
    settings_model = AzureMLSettings
    install_hint = "pip install cloudauto-azureml"
    autogluon_engines = frozenset({"autogluon"})  # native is an Azure AutoML job with its own parameters
    mounted_schemes = frozenset({"azureml"})  # an azureml:// checkpoint folder is a trial input Azure mounts

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        found: dict[Feature, str] = {}
        if any(scheme_of(u) == "s3" for u in spec.data.uris().values()):
            found[Feature.S3_DATA] = "Azure ML reads azureml://, https:// and local data; copy the data to a datastore"
        if spec.sweep and spec.sweep.sampling is Sampling.BAYESIAN and spec.policy is not None:
            found[Feature.BAYESIAN_WITH_EARLY_TERMINATION] = "Azure ML's Bayesian sampling supports no early termination policy"
        from .limits import refused

        found.update(refused(spec))
        return found

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        from .limits import held_by_client

        found = held_by_client(spec)
        policy = spec.policy
        if policy is None or policy.policy not in ("asha", "hyperband"):
            return found
        from .compile import nearest_bandit

        bandit = nearest_bandit(policy)
        rungs = ", ".join(str(r) for r in policy.rungs() if r < policy.max_resource) or "none"
        feature = Feature.ASHA_POLICY if policy.policy == "asha" else Feature.HYPERBAND_POLICY
        return {
            **found,
            feature: "Azure ML's sweep jobs have no successive halving or Hyperband (their early termination policies are "
            "bandit, median stopping and truncation selection); compiled as the nearest, a BanditPolicy with slack_factor "
            f"{bandit['slack_factor']:g} (1/η) evaluated every {bandit['evaluation_interval']} metric logs. It differs: a "
            "bandit stops a run whose best value is outside that slack of the best run's, where "
            f"{policy.policy} ranks the runs at each rung ({policy.resource} {rungs}) and keeps the top 1/"
            f"{policy.reduction_factor}"
            + (", in brackets," if policy.policy == "hyperband" else "")
            + f" and no run is stopped at max_resource {policy.max_resource} (end the script's loop there)"
        }

    def cost_basis(self, spec: JobSpec) -> Any:
        from .compile import cost_basis

        return cost_basis(spec)

    def _compile(self, spec: JobSpec) -> CompiledJob:
        from .compile import build
        from .limits import notes as limit_notes

        job, files, warnings, notes = build(spec)
        notes = [*notes, *limit_notes(spec)]
        if spec.compute.instance_count > 1:  # said, as the estimate counts one node a trial
            notes.append(
                f"compute.instance_count {spec.compute.instance_count} is not sent: Azure ML runs each trial on one node of "
                "the cluster, and the estimate counts one"
            )
        return CompiledJob(self.name, spec, job, files=files, warnings=warnings, notes=notes)

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        from .submit import submit

        return submit(job, **options)

    def _attach(self, job_id: str) -> JobHandle:
        from .handle import AzureMLJob

        handle = AzureMLJob(job_id)
        handle.get()  # a clear error now if there is no such job
        return handle

    def list_endpoints(self) -> list[Any]:
        from .endpoint import list_endpoints
        from .submit import client_for

        return list_endpoints(client_for())

    def deploy(self, job: JobHandle, *, name: str, **options: Any) -> Endpoint:
        from .endpoint import deploy
        from .handle import AzureMLJob

        if not isinstance(job, AzureMLJob):
            raise NotSupportedError(f"the azureml backend deploys azureml jobs, not {job.backend} jobs")
        return deploy(job, name=name, **options)

    def endpoint(self, name: str) -> Endpoint:
        from .endpoint import AzureEndpoint
        from .submit import client_for

        endpoint = AzureEndpoint(name, client=client_for())
        endpoint.scoring_uri  # noqa: B018 - a clear error now if there is no such endpoint (or it was removed)
        return endpoint

    def setup(self, **options: Any) -> list[str]:
        from .setup import setup

        return setup(**options)

    def teardown(self, **options: Any) -> list[str]:
        from .setup import teardown

        return teardown(**options)

    def doctor(self, spec: Optional[JobSpec] = None) -> list[Any]:
        from .preflight import doctor

        return doctor(spec)

    def preflight(self, spec: JobSpec) -> list[Any]:
        from .preflight import preflight

        return preflight(spec)
