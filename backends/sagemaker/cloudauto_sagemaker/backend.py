"""The SageMaker backend: a spec becomes a hyperparameter tuning job on the AutoGluon DLC.

Compiling is offline (no credentials): `compile.py` builds the CreateHyperParameterTuningJob
request; `submit.py` stages and creates it, `handle.py` follows it, `endpoint.py` deploys
and scores. Nothing here imports boto3 or the sagemaker SDK at module import time.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

from cloudauto.backend import Backend, CompiledJob, Endpoint, Feature, JobHandle, NotSupportedError, request_json
from cloudauto.spec.backends import SageMakerSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import JobSpec

_POLICY_FEATURES = {
    "bandit": Feature.BANDIT_POLICY,
    "median_stopping": Feature.MEDIAN_STOPPING_POLICY,
    "truncation_selection": Feature.TRUNCATION_POLICY,
}


def _hyperband_warnings(spec: JobSpec) -> dict[Feature, str]:
    """What of asha / hyperband SageMaker's Hyperband strategy does not take (the rest is native, see the compile note)."""
    policy = spec.policy
    left = []
    if "reduction_factor" in policy.model_fields_set:
        left.append(f"reduction_factor {policy.reduction_factor}")
    if getattr(policy, "brackets", None) is not None:
        left.append(f"brackets {policy.brackets}")
    sampling = spec.sweep.sampling.value if spec.sweep else "random"
    if sampling != "random":
        left.append(f"sampling: {sampling}")
    if not left:
        return {}
    feature = Feature.ASHA_POLICY if policy.policy == "asha" else Feature.HYPERBAND_POLICY
    return {
        feature: f"SageMaker's Hyperband strategy takes only MinResource and MaxResource and chooses its own reduction "
        f"factor, brackets and configurations: {', '.join(left)} apply on the local backend only"
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
        found = self._held_by_client(spec)
        policy = spec.policy
        if policy is not None and policy.policy in ("asha", "hyperband"):
            return _hyperband_warnings(spec)
        if policy is not None and spec.backends.sagemaker.strategy != "Hyperband":
            found[_POLICY_FEATURES[policy.policy]] = (
                "SageMaker has only TrainingJobEarlyStoppingType Auto (its own median rule); the policy becomes Auto"
            )
        return found

    def _held_by_client(self, spec: JobSpec) -> dict[Feature, str]:
        """What SageMaker has no field for, held by wait() instead (an error under --strict)."""
        if spec.limits.max_failed_trials is None:
            return {}
        from .completion import max_failed_note

        return {Feature.MAX_FAILED_TRIALS: max_failed_note(spec)}

    def cost_basis(self, spec: JobSpec) -> Any:
        from .compile import cost_basis

        return cost_basis(spec)

    def _compile(self, spec: JobSpec) -> CompiledJob:
        from .compile import REQUEST_SUFFIX, earlier_request, tuning_request

        request, warnings, notes = tuning_request(spec)
        name = request["HyperParameterTuningJobName"]
        text = request_json(request, what=f"the tuning job request {name}", indent=2) + "\n"
        files = {f"{name}{REQUEST_SUFFIX}": text}
        return CompiledJob(
            self.name, spec, request, files=files, warnings=warnings, notes=notes, earlier=partial(earlier_request, spec)
        )

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        from .submit import submit

        return submit(job, **options)

    def _attach(self, job_id: str) -> JobHandle:
        from .handle import SageMakerJob

        handle = SageMakerJob(job_id)
        handle.describe()  # a clear error now if there is no such job
        return handle

    def deploy(self, job: JobHandle, *, name: str, **options: Any) -> Endpoint:
        from .endpoint import deploy
        from .handle import SageMakerJob

        if not isinstance(job, SageMakerJob):
            raise NotSupportedError(f"the sagemaker backend deploys sagemaker jobs, not {job.backend} jobs")
        return deploy(job, name=name, **options)

    def endpoint(self, name: str) -> Endpoint:
        from .endpoint import SageMakerEndpoint

        endpoint = SageMakerEndpoint(name)
        endpoint.status()  # a clear error now if there is no such endpoint
        return endpoint

    def list_endpoints(self) -> list[Any]:
        from .endpoint import list_endpoints

        return list_endpoints()

    def setup(self, *, print_only: bool = False, region: Optional[str] = None, **options: Any) -> list[str]:
        """The bucket and execution role a first job needs (setup.py): what was made or found, then the `export` lines
        of SAGEMAKER_ROLE, SAGEMAKER_BUCKET and the region; with `print_only` a CloudFormation template, no AWS call."""
        from .setup import setup, template

        if print_only:
            return template(region)
        said, settings = setup(region=region, **options)
        return [*said, "put these in your environment (or backends.sagemaker.role / bucket / region in the spec):"] + [
            f"export {name}={value}" for name, value in settings.items()
        ]

    def teardown(self, **options: Any) -> list[str]:
        from .setup import teardown

        return teardown(**options)

    def doctor(self, spec: Optional[JobSpec] = None) -> list[Any]:
        from .doctor import doctor

        return doctor(spec)

    def preflight(self, spec: JobSpec) -> list[Any]:
        from .doctor import preflight

        return preflight(spec)

    def jobs(self) -> list[JobHandle]:
        """Tuning jobs cloudauto submitted (tagged cloudauto:job), oldest first."""
        from .handle import SageMakerJob
        from .submit import aws_call, session_for

        session = session_for()
        sm = session.client("sagemaker")
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Ascending"}
        while True:
            page = aws_call("list tuning jobs", sm.list_hyper_parameter_tuning_jobs, **kwargs)
            found += page.get("HyperParameterTuningJobSummaries", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return [SageMakerJob(s["HyperParameterTuningJobName"], session=session) for s in found]
