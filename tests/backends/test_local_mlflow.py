"""Local sweeps in MLflow: recorded by the scheduler when a job with backends.local.mlflow ends, or by
`cloudauto mlflow JOB`; read back through mlflow's own search_runs and metric history, from a file store
and from a SQLite one."""

from __future__ import annotations

import textwrap

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from ..conftest import ROOT

SCRIPT = """
    import argparse
    import cloudauto
    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float)
    args = parser.parse_args()
    for step in range(1, 7):
        verdict = cloudauto.report(score=args.quality * step / 6, step=step)
        if verdict.should_stop:
            break
"""


def test_a_sweep_with_backends_local_mlflow_is_a_parent_run_with_a_child_per_trial(runs_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""\
        name: tracked
        task: custom
        engine: command
        command: {run: "python train.py --quality ${{sweep.quality}}", code: code}
        metric: {name: score, goal: maximize}
        sweep:
          sampling: grid
          space: {quality: {choice: [0.9, 0.1]}}
          early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}
        limits: {max_trials: 2, max_concurrent_trials: 1}
        backends: {local: {mlflow: {tracking_uri: ./mlflow.db}}}
        """)
    )
    job = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="local")
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    assert "mlflow: the sweep is run" in job.logs()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # relative to the spec's folder
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    parent = next(r for r in runs if r.data.tags["cloudauto_trial"] == "parent")
    children = sorted(
        (r for r in runs if r.data.tags["cloudauto_trial"] != "parent"), key=lambda r: r.data.tags["cloudauto_trial"]
    )
    assert len(runs) == 3 and parent.info.status == "FINISHED" and parent.data.tags["cloudauto_job"] == job.id
    assert parent.data.params["policy"] == "median_stopping" and parent.data.metrics["best_score"] == pytest.approx(0.9)
    good, weak = children
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert good.data.params == {"quality": "0.9"} and good.info.status == "FINISHED"
    assert weak.info.status == "KILLED" and weak.data.tags["cloudauto_status"] == TrialStatus.TERMINATED.value
    assert "median stopping" in weak.data.tags["cloudauto_reason"]
    history = client.get_metric_history(good.info.run_id, "score")
    assert [(m.step, round(m.value, 4)) for m in history] == [(s, round(0.9 * s / 6, 4)) for s in range(1, 7)]
    assert good.data.metrics["objective"] == pytest.approx(0.9)


@pytest.mark.slow
def test_cloudauto_mlflow_records_a_finished_autogluon_job_with_its_model_once(runs_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from cloudauto.cli import main as cli
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            f"data.train={tmp_path}/data/iris/train.csv",
            f"data.test={tmp_path}/data/iris/test.csv",
            "sweep.space={models: GBM, time_limit: 20}",
            "limits.max_trials=1",
            "limits.max_concurrent_trials=1",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    monkeypatch.chdir(tmp_path)  # ./tracking.db is relative to the working folder
    uri = "./tracking.db"
    runner = CliRunner()
    for _ in range(2):  # once more: brought up to date, nothing doubled
        done = runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", uri, "--experiment", "iris-local"])
        assert done.exit_code == 0, done.output
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'tracking.db'}")
    experiment = client.get_experiment_by_name("iris-local")
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()  # beside the database
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    (child,) = [r for r in runs if r.data.tags["cloudauto_trial"] == "0"]
    assert child.data.params == {"models": "GBM", "time_limit": "20"}
    assert child.data.metrics["test_accuracy"] > 0.8 and child.info.status == "FINISHED"
    names = [a.path for a in client.list_artifacts(child.info.run_id, "model")]
    assert "model/cloudauto_model.json" in names
    refused = runner.invoke(cli, ["mlflow", "no-such-job", "--tracking-uri", uri])
    assert refused.exit_code != 0 and "no-such-job" in refused.output


def test_a_relative_sqlite_uri_keeps_its_artifacts_beside_the_file_it_names(tmp_path, monkeypatch):
    """`cloudauto mlflow JOB --tracking-uri sqlite:///runs.db` (relative, as MLflow takes it: to the working folder)
    ended in an internal error: the artifact folder beside it was turned into a file URI while still relative."""
    from cloudauto_local.mlflow_export import _artifacts_beside

    monkeypatch.chdir(tmp_path)
    assert _artifacts_beside("sqlite:///runs.db") == (tmp_path / "mlartifacts").as_uri()
    assert _artifacts_beside(f"sqlite:///{tmp_path}/a/runs.db") == (tmp_path / "a" / "mlartifacts").as_uri()


def _one_trial_job(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent("""\
        name: unrecorded
        task: custom
        engine: command
        command: {run: "python train.py --quality ${{sweep.quality}}", code: code}
        metric: {name: score, goal: maximize}
        sweep: {sampling: grid, space: {quality: {choice: [0.5]}}}
        limits: {max_trials: 1, max_concurrent_trials: 1}
        """)
    )
    job = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="local")
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    return job


def test_cloudauto_mlflow_says_which_tracking_store_it_cannot_use_and_what_to_do(runs_dir, tmp_path, monkeypatch):
    """A folder refused by MLflow 3, a server nobody answers at, mlflow not installed: the user's setup (exit 3),
    named in one line, no traceback and no 'bug' (it was exit 70; an unreachable server took minutes of retries)."""
    import sys
    import time

    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    from ..conftest import _free_port

    job = _one_trial_job(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for uri in ("./folder", (tmp_path / "other").as_uri()):
        done = runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", uri])
        assert done.exit_code == 3, done.output
        assert "MLFLOW_ALLOW_FILE_STORE=true" in done.output and ".db" in done.output
        assert "folder" in done.output or "other" in done.output
        assert "bug" not in done.output and "Traceback" not in done.output
    server = f"http://127.0.0.1:{_free_port()}"
    began = time.monotonic()
    done = runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", server])
    assert done.exit_code == 3, done.output
    assert server in done.output and "not reachable" in done.output and "bug" not in done.output
    assert time.monotonic() - began < 30
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")  # MLflow cannot read it: said, as the store's problem
    done = runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", "./folder"])
    assert done.exit_code == 3 and "MLFLOW_ALLOW_FILE_STORE" in done.output, done.output
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", "./folder"]).exit_code == 0
    for name in ("mlflow", "mlflow.entities", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)
    done = runner.invoke(cli, ["mlflow", job.id, "--tracking-uri", "./tracking.db"])
    assert done.exit_code == 3 and "pip install mlflow" in done.output, done.output


def test_a_trials_child_run_carries_its_positive_class_and_its_retries(tmp_path):
    """The positive class the trial scored (text, no figure) and the retries an infrastructure fault cost it."""
    import json
    import time

    from cloudauto_local.handle import LocalJobHandle
    from cloudauto_local.store import RunStore
    from mlflow.tracking import MlflowClient

    from cloudauto.reporting import POSITIVE_CLASS

    spec = {"name": "med", "task": "tabular_classification", "data": {"train": "/nowhere.csv", "label": "y"}, "metric": "f1"}
    store = RunStore.create(tmp_path / "med-1", "med-1", json.dumps(spec), None)
    for number, retried in ((0, True), (1, False)):
        store.add_trial(number, {"models": "GBM"}, {})
        store.start_trial(number, 1, str(tmp_path / "med-1" / "trials" / str(number)))
        if retried:
            store.retry_trial(number, "worker died (SIGKILL)")
            store.start_trial(number, 1, str(tmp_path / "med-1" / "trials" / str(number)))
        store.finish_trial(number, TrialStatus.COMPLETED, objective=0.8, metrics={"val_f1": 0.8, POSITIVE_CLASS: "benign"})
    store.set_job(status="completed", created=time.time() - 60, ended=time.time())
    job = LocalJobHandle(tmp_path / "med-1")
    assert [(t.positive_class, t.retries) for t in job.trials()] == [("benign", 1), ("benign", 0)]
    parent, uri = job.export_mlflow(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracking_uri=uri)
    children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    by_trial = {run.data.tags["cloudauto_trial"]: run for run in children}
    assert by_trial["0"].data.tags["cloudauto_positive_class"] == "benign"
    assert by_trial["0"].data.tags["cloudauto_retries"] == "1"
    assert by_trial["1"].data.tags["cloudauto_positive_class"] == "benign"
    assert by_trial["1"].data.tags["cloudauto_retries"] == "0"
    assert POSITIVE_CLASS not in by_trial["0"].data.metrics and by_trial["0"].data.metrics["val_f1"] == pytest.approx(0.8)
