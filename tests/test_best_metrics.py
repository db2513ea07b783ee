"""`best`'s "metrics": the primary metric beside the spec's other ones, on validation and test data."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cloudauto.backend import JobHandle, JobStatus, Trial, TrialStatus
from cloudauto.cli import main as cli
from cloudauto.spec import JobSpec

from .conftest import BASE


class Handle(JobHandle):
    backend, id = "local", "job-1"

    def __init__(self, spec: JobSpec, trials: list[Trial]):
        self._spec, self._trials = spec, trials

    def status(self) -> JobStatus:
        return JobStatus.COMPLETED

    def trials(self) -> list[Trial]:
        return self._trials

    def cancel(self) -> None: ...

    def logs(self, trial=None) -> str:
        return ""

    @property
    def spec(self) -> JobSpec:
        return self._spec


def _best(monkeypatch, spec: JobSpec, trial: Trial) -> dict:
    monkeypatch.setattr("cloudauto.cli.jobs._job", lambda backend, job_id: Handle(spec, [trial]))
    done = CliRunner().invoke(cli, ["best", "job-1"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_best_json_metrics_hold_the_primary_metric_on_validation_and_test(monkeypatch):
    spec = JobSpec.from_yaml(BASE.replace("metric: accuracy", "metric: f1\nmetrics: [roc_auc]"))
    trial = Trial("1", 1, {}, TrialStatus.COMPLETED, objective=0.75, scores={"test_f1": 0.7, "val_roc_auc": 0.9})
    assert _best(monkeypatch, spec, trial)["metrics"] == {"f1": {"validation": 0.75, "test": 0.7}, "roc_auc": {"validation": 0.9}}
    alone = Trial("1", 1, {}, TrialStatus.COMPLETED, objective=0.5)  # no metrics: in the spec, the primary one still
    assert _best(monkeypatch, JobSpec.from_yaml(BASE), alone)["metrics"] == {"accuracy": {"validation": 0.5}}


def test_the_result_file_holds_the_primary_metric_beside_the_others(tmp_path):
    """Issue 32: the result file's best.metrics is what `best` shows: the primary metric first, on validation and test."""
    from cloudauto import run_result

    spec = JobSpec.from_yaml(BASE.replace("metric: accuracy", "metric: f1\nmetrics: [roc_auc]"))
    trial = Trial("1", 1, {}, TrialStatus.COMPLETED, objective=0.75, scores={"test_f1": 0.7, "val_roc_auc": 0.9})
    written = run_result.write(run_result.build(Handle(spec, [trial]), exit_code=0), tmp_path / "result.json")
    best = json.loads(written.read_text())["best"]
    assert best["metrics"] == {"f1": {"validation": 0.75, "test": 0.7}, "roc_auc": {"validation": 0.9}}
    assert list(best["metrics"]) == ["f1", "roc_auc"]
    assert run_result.read(written).best.metrics["f1"] == {"validation": 0.75, "test": 0.7}


def test_trials_and_best_show_the_positive_class_a_binary_trial_scored(monkeypatch):
    """Issue 32: the positive class the trial recorded is printed by `trials --trial N` and `best` (text and JSON)."""
    spec = JobSpec.from_yaml(BASE.replace("metric: accuracy", "metric: f1"))
    trial = Trial("0", 0, {}, TrialStatus.COMPLETED, objective=0.75, positive_class="benign")
    assert _best(monkeypatch, spec, trial)["positive_class"] == "benign"
    shown = CliRunner().invoke(cli, ["trials", "job-1", "--trial", "0"])
    assert shown.exit_code == 0 and "positive class: benign (f1 scores this class; AutoGluon's pick)" in shown.stdout, shown.output
    listed = json.loads(CliRunner().invoke(cli, ["trials", "job-1", "--format", "json"]).stdout)
    assert listed[0]["positive_class"] == "benign" and listed[0]["metrics"] == {"f1": {"validation": 0.75}}
    multiclass = Trial("0", 0, {}, TrialStatus.COMPLETED, objective=0.5)  # no positive class: nothing said
    assert "positive_class" not in _best(monkeypatch, JobSpec.from_yaml(BASE), multiclass)
    assert "positive class" not in CliRunner().invoke(cli, ["trials", "job-1", "--trial", "0"]).stdout


def test_trials_prints_each_figure_column_with_one_number_of_decimals(monkeypatch):
    """newuser2 §5: Mitra's f1 of 0 printed as `0` beside GBM's `0.761905`; the leaderboard printed 0.000000."""
    spec = JobSpec.from_yaml(BASE.replace("metric: accuracy", "metric: accuracy\nmetrics: [f1, roc_auc]"))
    trials = [
        Trial("0", 0, {}, TrialStatus.COMPLETED, objective=7 / 12, scores={"val_f1": 0.0, "val_roc_auc": 0.4892857}),
        Trial("1", 1, {}, TrialStatus.COMPLETED, objective=19 / 24, scores={"val_f1": 0.7619048, "val_roc_auc": 1.0}),
        Trial("2", 2, {}, TrialStatus.FAILED, error="boom"),
    ]
    monkeypatch.setattr("cloudauto.cli.jobs._job", lambda backend, job_id: Handle(spec, trials))
    shown = CliRunner().invoke(cli, ["trials", "job-1"])
    assert shown.exit_code == 0, shown.output
    rows = [line.split()[:5] for line in shown.stdout.splitlines()[1:4]]
    assert rows == [
        ["0", "completed", "0.583333", "0.000000", "0.489286"],
        ["1", "completed", "0.791667", "0.761905", "1.000000"],
        ["2", "failed", "-", "-", "-"],
    ], shown.stdout


def test_the_result_file_best_holds_the_positive_class_a_binary_trial_scored(tmp_path):
    """`best` and `trials --trial N` show it; the result file's best lacked it."""
    from cloudauto import run_result

    spec = JobSpec.from_yaml(BASE.replace("metric: accuracy", "metric: f1"))
    trial = Trial("0", 0, {}, TrialStatus.COMPLETED, objective=0.75, positive_class="benign")
    written = run_result.write(run_result.build(Handle(spec, [trial]), exit_code=0), tmp_path / "result.json")
    assert json.loads(written.read_text())["best"]["positive_class"] == "benign"
    assert run_result.read(written).best.positive_class == "benign"
    plain = Trial("0", 0, {}, TrialStatus.COMPLETED, objective=0.75)  # not binary: no positive class, no key
    again = run_result.write(run_result.build(Handle(JobSpec.from_yaml(BASE), [plain]), exit_code=0), tmp_path / "r2.json")
    assert "positive_class" not in json.loads(again.read_text())["best"]
