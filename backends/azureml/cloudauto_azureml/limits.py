"""limits.stop_when, sweep.warm_start, limits.trial_retries and limits.max_failed_trials on Azure ML.

azure-ai-ml 1.x's SweepJob has none of them: its limits are max_total_trials,
max_concurrent_trials, timeout and trial_timeout (SweepJobLimits), it takes no parent sweep,
and RetrySettings exists for parallel jobs only, not for a sweep's trials. So:

- stop_when (target, no_improvement_trials): held by the client, not the service: the
  handle's wait() reads the trials and cancels the sweep once a criterion is met (a sweep
  nobody waits on runs its budget); a warning, an error under --strict.
- max_failed_trials: the same, cancelling once that many trials failed.
- stop_when.converged, warm_start, trial_retries: refused, with the reason; no client can
  run a sweep's trial again or seed the service's sampler.
"""

from __future__ import annotations

from cloudauto.backend import Feature
from cloudauto.spec.models import JobSpec

_CLIENT = "held by the client, not the service: wait() cancels the sweep once {what} (a sweep nobody waits on runs its budget)"


def refused(spec: JobSpec) -> dict[Feature, str]:
    found: dict[Feature, str] = {}
    stop = spec.limits.stop_when
    if stop is not None and stop.converged:
        found[Feature.STOP_ON_CONVERGENCE] = (
            "Azure ML's sweep has no completion criteria, and convergence detection is SageMaker's own model; "
            "use no_improvement_trials (held by the client) or compile for sagemaker"
        )
    if spec.sweep is not None and spec.sweep.warm_start is not None:
        found[Feature.WARM_START] = (
            "an Azure ML sweep job cannot start from earlier sweeps: azure-ai-ml's SweepJob takes no parent jobs, and "
            "its sampler cannot be given earlier trials; run it on sagemaker (WarmStartConfig) or local"
        )
    if spec.limits.trial_retries:
        found[Feature.TRIAL_RETRIES] = (
            "an Azure ML sweep's trials cannot be retried: SweepJob has no retry setting (azure-ai-ml's RetrySettings "
            "is for parallel jobs only), and a client cannot run a sweep's trial again; a trial on a preempted "
            "low-priority node is requeued by the service by itself (compute.spot)"
        )
    return found


def held_by_client(spec: JobSpec) -> dict[Feature, str]:
    found: dict[Feature, str] = {}
    stop = spec.limits.stop_when
    if stop is not None and (stop.target is not None or stop.no_improvement_trials is not None):
        found[Feature.STOP_WHEN] = "Azure ML's sweep has no completion criteria; " + _CLIENT.format(what="a criterion is met")
    if spec.limits.max_failed_trials is not None:
        found[Feature.MAX_FAILED_TRIALS] = "Azure ML's sweep has no failure budget; " + _CLIENT.format(
            what=f"{spec.limits.max_failed_trials} trials failed"
        )
    return found


def notes(spec: JobSpec) -> list[str]:
    return [f"{feature.value}: {why}" for feature, why in held_by_client(spec).items()]


__all__ = ["held_by_client", "notes", "refused"]
