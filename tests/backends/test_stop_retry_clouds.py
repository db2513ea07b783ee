"""Issue 33 items 2-4 on the clouds: the SageMaker request field by field (botocore's model, then moto), the
warm-start parents checked at submit, max_failed_trials held by wait(); Azure ML's refusals and notes."""

from __future__ import annotations

import pytest

import cloudauto
from cloudauto.backend import CompileError, JobStatus

from .test_sagemaker_compile import SCRIPT, valid
from .test_sagemaker_submit import _iris_spec, _report_lines

AZURE = SCRIPT.replace("code: .}", "code: ., image: python:3.11}") + "sweep:\n  sampling: random\n  space: {lr: {uniform: [0.1, 0.5]}}\n"
SWEEP = SCRIPT + "sweep:\n  sampling: bayesian\n  space: {lr: {uniform: [0.1, 0.5]}}\n"


def spec_of(extra: str, sweep: str = SWEEP) -> cloudauto.JobSpec:
    return cloudauto.JobSpec.from_yaml(sweep + extra)


def test_sagemaker_request_carries_each_field_as_the_service_model_names_it():
    spec = spec_of(
        "  warm_start: {from: [parent-one, parent-two], mode: transfer}\n"
        "limits: {stop_when: {target: 0.97, no_improvement_trials: 10, converged: true}, trial_retries: 3, max_failed_trials: 2}\n"
    )
    job = cloudauto.compile(spec, backend="sagemaker")
    request = valid(job.native)
    assert request["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] == {
        "TargetObjectiveMetricValue": 0.97,
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 10},
        "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
    }
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "parent-one"},
            {"HyperParameterTuningJobName": "parent-two"},
        ],
        "WarmStartType": "TransferLearning",
    }
    assert request["TrainingJobDefinition"]["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    notes = "\n".join(job.notes)
    assert "held by SageMaker (TuningJobCompletionCriteria)" in notes and "1% or less" in notes
    assert "max_failed_trials 2: SageMaker has no such field; it is held by the client, not the service" in notes
    assert any("limits.max_failed_trials" in w.message for w in job.warnings)
    with pytest.raises(CompileError, match="held by the client, not the service.*--strict"):
        cloudauto.compile(spec, backend="sagemaker", strict=True)
    same = valid(cloudauto.compile(spec_of("  warm_start: {from: [p1]}\n"), backend="sagemaker").native)
    assert same["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
    plain = valid(cloudauto.compile(spec_of(""), backend="sagemaker").native)
    assert "TuningJobCompletionCriteria" not in plain["HyperParameterTuningJobConfig"] and "WarmStartConfig" not in plain
    assert "RetryStrategy" not in plain["TrainingJobDefinition"]


@pytest.mark.parametrize(
    "extra, words",
    [
        ("limits: {stop_when: {no_improvement_trials: 2}}", "MaxNumberOfTrainingJobsNotImproving is at least 3, got 2"),
        ("  warm_start: {from: [not_a_name]}\n", "'not_a_name' is not a SageMaker tuning job name"),
    ],
)
def test_sagemaker_limits_are_compile_errors_at_the_field(extra, words):
    with pytest.raises(CompileError, match=words):
        cloudauto.compile(spec_of(extra + "\n"), backend="sagemaker")


def test_spec_limits_shared_by_every_backend():
    from cloudauto.spec.errors import SpecError

    with pytest.raises(SpecError, match="at most 5 items"):
        spec_of("  warm_start: {from: [a, b, c, d, e, f]}\n")
    with pytest.raises(SpecError, match="stop_when names no criterion"):
        spec_of("limits: {stop_when: {converged: false}}\n")
    with pytest.raises(SpecError, match="less than or equal to 30"):
        spec_of("limits: {trial_retries: 31}\n")


def test_moto_accepts_the_request_and_submit_checks_the_parents(tmp_path, sm_session):
    _, tuner = sm_session
    parent = cloudauto.submit(_iris_spec(tmp_path), backend="sagemaker")
    assert parent.status() is JobStatus.COMPLETED  # moto completes at once
    spec = _iris_spec(
        tmp_path,
        **{"sweep.warm_start": f"{{from: [{parent.id}], mode: same_data}}", "limits.stop_when": "{target: 0.99}",
           "limits.trial_retries": "2"},
    )
    child = cloudauto.submit(spec, backend="sagemaker")
    described = child.describe()
    assert described["TrainingJobDefinition"]["RetryStrategy"] == {"MaximumRetryAttempts": 2}
    missing = _iris_spec(tmp_path, **{"sweep.warm_start": "{from: [no-such-parent]}"})
    with pytest.raises(CompileError, match="no tuning job no-such-parent to warm-start from") as caught:
        cloudauto.submit(missing, backend="sagemaker")
    assert caught.value.exit_code == 3
    tuner.running.add(parent.id)
    running = _iris_spec(tmp_path, **{"sweep.warm_start": f"{{from: [{parent.id}]}}"})
    with pytest.raises(CompileError, match=f"tuning job {parent.id} is InProgress; a warm start's parent must have ended"):
        cloudauto.submit(running, backend="sagemaker")


def test_wait_stops_a_sagemaker_job_once_max_failed_trials_failed(tmp_path, sm_session):
    _, tuner = sm_session
    job = cloudauto.submit(_iris_spec(tmp_path, **{"limits.max_failed_trials": "2"}), backend="sagemaker")
    tuner.running.add(job.id)
    job.CRITERIA_POLL_S = 0.0
    tuner.run_trial(job.id, 0, log=_report_lines("accuracy", [0.9]), model=b"", status="Failed")
    with pytest.raises(TimeoutError):
        job.wait(poll=0.05, timeout=0.5, progress=False)
    assert tuner.stopped == []
    tuner.run_trial(job.id, 1, log=_report_lines("accuracy", [0.8]), model=b"", status="Failed")
    assert job.wait(poll=0.05, timeout=5, progress=False) is JobStatus.CANCELED
    assert tuner.stopped == [job.id]
    assert job.criteria_stop.startswith("limits.max_failed_trials 2 reached: trials")


def test_azureml_refuses_what_it_has_not_and_holds_the_rest_in_the_client(tmp_path):
    for extra, words in [
        ("  warm_start: {from: [p1]}\n", "sweep.warm_start: an Azure ML sweep job cannot start from earlier sweeps"),
        ("limits: {trial_retries: 2}\n", "limits.trial_retries: an Azure ML sweep's trials cannot be retried"),
        ("limits: {stop_when: {converged: true}}\n", "convergence detection is SageMaker's own model"),
    ]:
        with pytest.raises(CompileError, match=words):
            cloudauto.compile(spec_of(extra, AZURE), backend="azureml")
    held = spec_of("limits: {stop_when: {target: 0.9}, max_failed_trials: 2}\n", AZURE)
    job = cloudauto.compile(held, backend="azureml")
    notes = "\n".join(job.notes)
    assert "limits.stop_when: Azure ML's sweep has no completion criteria; held by the client, not the service" in notes
    assert "limits.max_failed_trials: Azure ML's sweep has no failure budget; held by the client" in notes
    with pytest.raises(CompileError, match="an error under --strict"):
        cloudauto.compile(held, backend="azureml", strict=True)


def test_local_refuses_convergence_and_says_why():
    with pytest.raises(CompileError, match="convergence detection is SageMaker's own model .* use no_improvement_trials"):
        cloudauto.compile(spec_of("limits: {stop_when: {converged: true}}\n"), backend="local")
