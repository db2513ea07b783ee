"""A local trial's objective is the last value it reported, as SageMaker's FinalHyperParameterTuningJobObjectiveMetric
("the latest objective metric emitted by a training job") is: the state its model ended in, not a peak it left.
A trial stopped by the policy ends with the value the policy judged; nothing after the verdict counts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

pytestmark = pytest.mark.slow

SCRIPT = """
    import sys
    import cloudauto
    for epoch, value in enumerate(map(float, sys.argv[1].split("_")), 1):
        verdict = cloudauto.report(score=value, step=epoch)
        if verdict.should_stop and "--ignore-stop" not in sys.argv:
            break
"""


def curves_spec(tmp_path: Path, curves: list[str], extra: str, args: str = "") -> cloudauto.JobSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "curve.py").write_text(textwrap.dedent(SCRIPT))
    path = tmp_path / "curves.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            name: curves
            task: custom
            engine: command
            command: {{run: "python curve.py ${{{{sweep.curve}}}} {args}", code: code}}
            metric: {{name: score, goal: maximize}}
            sweep:
              sampling: grid
              space: {{curve: {{choice: {curves!r}}}}}
            """)
        + textwrap.dedent(extra)
    )
    return cloudauto.JobSpec.from_file(path)


def test_a_completed_trials_objective_is_its_last_report_not_its_best(runs_dir, tmp_path):
    job = cloudauto.submit(curves_spec(tmp_path, ["0.9_0.5", "0.6_0.7"], ""), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    first, second = job.trials()
    assert (first.objective, [m.value for m in first.metrics]) == (0.5, [0.9, 0.5])
    assert second.objective == 0.7
    assert job.best_trial().number == 1


def test_a_trial_stopped_by_asha_ends_with_the_value_judged_and_cannot_meet_a_target_it_left(runs_dir, tmp_path):
    spec = curves_spec(
        tmp_path,
        ["0.5_0.5_0.5_0.5", "0.99_0.1_0.1_0.1", "0.6_0.6_0.6_0.6"],
        """\
          early_termination: {policy: asha, min_resource: 1, max_resource: 4, reduction_factor: 2}
        limits: {max_concurrent_trials: 1, stop_when: {target: 0.95}}
        """,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    trials = job.trials()
    assert len(trials) == 3  # 0.99 was a step, not the trial's result: the target was not reached
    stopped = trials[1]
    assert stopped.status is TrialStatus.TERMINATED
    assert [(m.step, m.value) for m in stopped.metrics] == [(1, 0.99), (2, 0.1)]  # stopped at rung 2
    assert stopped.objective == 0.1
    assert "stop_when" not in (job.status_reason() or "")


def test_reports_after_the_stop_verdict_do_not_count(runs_dir, tmp_path):
    """A script that goes on reporting after the verdict (it ignores should_stop) until it is ended."""
    spec = curves_spec(
        tmp_path,
        ["0.5_0.5_0.5_0.5", "0.9_0.1_0.99_0.99"],
        """\
          early_termination: {policy: asha, min_resource: 1, max_resource: 4, reduction_factor: 2}
        limits: {max_concurrent_trials: 1}
        """,
        args="--ignore-stop",
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    stopped = job.trials()[1]
    assert stopped.status is TrialStatus.TERMINATED
    assert [m.value for m in stopped.metrics] == [0.9, 0.1] and stopped.objective == 0.1


WRAP_UP = """
    import os, sys, time
    import cloudauto
    for epoch in range(1, 5):
        verdict = cloudauto.report(score=0.5 + epoch / 100, step=epoch)
        if verdict.should_stop:
            break
    started = time.monotonic()
    final = cloudauto.report(score=0.99)  # a final evaluation, after the verdict: answered at once, not counted
    print(f"final report: stop={final.should_stop} in {time.monotonic() - started:.2f}s", flush=True)
    time.sleep(float(sys.argv[1]))  # saving the model
    with open(os.path.join(os.environ["CLOUDAUTO_OUTPUT_DIR"], "model.txt"), "w") as f:
        f.write("saved")
"""


def wrap_up_spec(tmp_path: Path, save_seconds: float, limits: str) -> cloudauto.JobSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "save.py").write_text(textwrap.dedent(WRAP_UP))
    path = tmp_path / "save.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            name: save
            task: custom
            engine: command
            command: {{run: "python save.py {save_seconds}", code: code}}
            metric: {{name: score, goal: maximize}}
            sweep:
              sampling: grid
              space: {{x: {{choice: [1]}}}}
              early_termination: {{policy: asha, min_resource: 1, max_resource: 4, reduction_factor: 2}}
            limits: {limits}
            """)
    )
    return cloudauto.JobSpec.from_file(path)


def test_a_script_stopped_at_max_resource_gets_its_report_answered_and_time_to_save_its_model(runs_dir, tmp_path):
    job = cloudauto.submit(wrap_up_spec(tmp_path, 7, "{trial_timeout: 2m}"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    (trial,) = job.trials()
    log = (job.dir / "trials" / "0" / "trial.log").read_text()
    assert trial.status is TrialStatus.COMPLETED, log
    assert (job.dir / "trials" / "0" / "model.txt").read_text() == "saved", log
    assert trial.scores.get("exit_code") == 0 and "exit code 0," in log, (trial.scores, log)
    assert "final report: stop=True in 0.0" in log, log  # answered at once
    assert trial.objective == 0.54 and [m.value for m in trial.metrics] == [0.51, 0.52, 0.53, 0.54]  # 0.99 not counted


def test_a_stopped_script_that_overruns_its_trial_timeout_is_ended_and_says_its_wrap_up_was_cut_short(runs_dir, tmp_path):
    job = cloudauto.submit(wrap_up_spec(tmp_path, 60, "{trial_timeout: 8s}"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    (trial,) = job.trials()
    log = (job.dir / "trials" / "0" / "trial.log").read_text()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == 0.54, log  # it had its whole budget
    assert not (job.dir / "trials" / "0" / "model.txt").exists()
    assert "did not exit" in (trial.error or "") and "SIGTERM" in trial.error, trial.error
