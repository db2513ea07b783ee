"""limits.stop_when, sweep.warm_start, limits.trial_retries and limits.max_failed_trials in a
CreateHyperParameterTuningJob request, with SageMaker's own limits (botocore's service model):

| spec | request |
| --- | --- |
| stop_when.target | HyperParameterTuningJobConfig.TuningJobCompletionCriteria.TargetObjectiveMetricValue |
| stop_when.no_improvement_trials (>= 3) | ...TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving |
| stop_when.converged | ...TuningJobCompletionCriteria.ConvergenceDetected.CompleteOnConvergence: Enabled |
| warm_start (1-5 parents; not a grid of numbered points) | WarmStartConfig{ParentHyperParameterTuningJobs, WarmStartType IdenticalDataAndAlgorithm / TransferLearning} |
| trial_retries (1-30) | TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts |
| max_failed_trials | no field: the handle's wait() stops the tuning job once that many training jobs failed |
"""

from __future__ import annotations

import re
from typing import Any, Optional

from cloudauto.spec.models import JobSpec
from cloudauto.tuning.flat import GRID_PARAM, grid_encoded

MIN_NOT_IMPROVING = 3  # BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving: min 3
MAX_RETRY_ATTEMPTS = 30  # RetryStrategy.MaximumRetryAttempts: 1 to 30
TUNING_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")  # HyperParameterTuningJobName
WARM_START_TYPES = {"same_data": "IdenticalDataAndAlgorithm", "transfer": "TransferLearning"}
PARENT_ENDED = {"Completed", "Stopped", "Failed"}  # a parent must be in one of these (SageMaker's warm start limits)


def apply(spec: JobSpec, request: dict[str, Any], out: Any) -> list[str]:
    """Add the fields to the request; errors and warnings go to `out`; returns the compile notes."""
    notes: list[str] = []
    config = request["HyperParameterTuningJobConfig"]
    stop = spec.limits.stop_when
    if stop is not None:
        criteria: dict[str, Any] = {}
        if stop.target is not None:
            criteria["TargetObjectiveMetricValue"] = float(stop.target)
        if stop.no_improvement_trials is not None:
            if stop.no_improvement_trials < MIN_NOT_IMPROVING:
                out.error(
                    ("limits", "stop_when", "no_improvement_trials"),
                    f"SageMaker's MaxNumberOfTrainingJobsNotImproving is at least {MIN_NOT_IMPROVING}, "
                    f"got {stop.no_improvement_trials}",
                )
            criteria["BestObjectiveNotImproving"] = {"MaxNumberOfTrainingJobsNotImproving": stop.no_improvement_trials}
            notes.append(
                "stop_when.no_improvement_trials: SageMaker counts a training job that improves the best objective "
                "by 1% or less as not improving; the local backend counts any strict improvement"
            )
        if stop.converged:
            criteria["ConvergenceDetected"] = {"CompleteOnConvergence": "Enabled"}
            notes.append("stop_when.converged: SageMaker's own convergence detection ends the tuning job")
        if criteria:
            config["TuningJobCompletionCriteria"] = criteria
            notes.append(
                "stop_when: held by SageMaker (TuningJobCompletionCriteria); the tuning job completes once a criterion "
                "is met, and the training jobs still running then are stopped"
            )
    warm = spec.sweep.warm_start if spec.sweep else None
    if warm is not None and grid_encoded(spec):
        out.error(
            ("sweep", "warm_start"),
            f"this grid runs as the local grid's numbered points (one categorical {GRID_PARAM}, each number a point "
            "of this spec's table): SageMaker's warm start needs a parent's hyperparameters to keep their names, types "
            "and count (static plus tunable), which a parent tuned over the spec's own parameters does not, and a "
            f"parent's {GRID_PARAM} numbers the points of its own grid, not this one's: drop sweep.warm_start, or use "
            "random or bayesian sampling (the local backend's grid skips the points its parents ran)",
        )
    elif warm is not None:
        for i, parent in enumerate(warm.from_):
            if not TUNING_JOB_NAME.match(parent):
                out.error(
                    ("sweep", "warm_start", "from", i),
                    f"'{parent}' is not a SageMaker tuning job name (1-32 letters, digits and hyphens)",
                )
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in warm.from_],
            "WarmStartType": WARM_START_TYPES[warm.mode.value],
        }
        notes.append(
            f"warm_start: {WARM_START_TYPES[warm.mode.value]} from {', '.join(warm.from_)}; submit checks that each "
            "exists and has ended (Completed, Stopped or Failed); the parents' training jobs count against "
            "MaxNumberOfTrainingJobs on SageMaker's side"
        )
    retries = spec.limits.trial_retries
    if retries:
        request["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": retries}
        notes.append(
            f"trial_retries: RetryStrategy.MaximumRetryAttempts {retries}: SageMaker retries a training job that "
            "failed with an internal server error (its infrastructure), not one whose script failed; "
            "MaxRuntimeInSeconds bounds all attempts together"
        )
    if spec.limits.max_failed_trials is not None:
        notes.append(max_failed_note(spec))
    return notes


def max_failed_note(spec: JobSpec) -> str:
    return (
        f"max_failed_trials {spec.limits.max_failed_trials}: SageMaker has no such field; it is held by the client, "
        "not the service: wait() stops the tuning job once that many training jobs failed (a job nobody waits on "
        "runs on)"
    )


def check_parents(sm: Any, spec: JobSpec) -> None:
    """At submit, before anything is uploaded: each warm-start parent exists and has ended."""
    from cloudauto.backend import CompileError
    from cloudauto.spec.errors import SpecIssue

    from .submit import tuning_job_status

    warm = spec.sweep.warm_start if spec.sweep else None
    if warm is None:
        return
    problems, missing = [], False
    for i, parent in enumerate(warm.from_):
        status: Optional[str] = tuning_job_status(sm, parent)
        if status is None:
            missing = True
            problems.append(SpecIssue(f"sagemaker: no tuning job {parent} to warm-start from", ("sweep", "warm_start", "from", i)))
        elif status not in PARENT_ENDED:
            problems.append(
                SpecIssue(
                    f"sagemaker: tuning job {parent} is {status}; a warm start's parent must have ended "
                    "(Completed, Stopped or Failed)",
                    ("sweep", "warm_start", "from", i),
                )
            )
    if problems:
        error = CompileError("sagemaker", [spec.locate(p) for p in problems])
        if missing:
            error.exit_code = 3  # no such job, as everywhere else
        raise error


__all__ = ["apply", "check_parents", "max_failed_note"]
