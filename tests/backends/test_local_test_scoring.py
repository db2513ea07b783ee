"""A test set that cannot be scored costs the test score only: the trial keeps its model and objective."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus
from cloudauto.cli import main as cli

from ..conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_test_file_missing_a_feature_keeps_the_trained_model(runs_dir, datasets, http_dir, tmp_path, capsys):
    # the test set is read over HTTP, so the data check at submit leaves it to the trial, as on a cloud service
    served, url = http_dir
    pd.read_csv(datasets / "iris" / "test.csv").drop(columns=["petal width (cm)"]).to_csv(served / "test.csv", index=False)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            f"data.train={datasets / 'iris' / 'train.csv'}",
            f"data.test={url}/test.csv",
            "sweep.space={models: GBM, time_limit: 20}",
            "limits.max_trials=1",
            "limits.max_concurrent_trials=1",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED, job.status_reason()
    (trial,) = job.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective is not None and trial.objective > 0.8
    assert "test_accuracy" not in trial.scores
    assert trial.error and "test set" in trial.error and "petal width (cm)" in trial.error  # the column is named
    assert job.best_trial().number == trial.number
    assert (Path(trial.artifacts["dir"]) / "model" / "cloudauto_model.json").is_file()
    # the model is usable: a batch scores with it, and `trials` shows the test error beside the objective
    rows = pd.read_csv(datasets / "iris" / "test.csv").drop(columns=["target"]).head(5)
    rows.to_csv(tmp_path / "in.csv", index=False)
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv")
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert len(pd.read_csv(tmp_path / "out.csv")) == 5
    shown = CliRunner().invoke(cli, ["trials", job.id])
    assert shown.exit_code == 0 and "completed" in shown.output and "petal width (cm)" in shown.output, shown.output
    # and where the best trial is shown: `best`, the run/submit --wait summary, the CI result and its summary
    best = CliRunner().invoke(cli, ["best", job.id])
    assert best.exit_code == 0 and f"trial {trial.number}: test set" in best.stderr and "petal width (cm)" in best.stderr
    assert json.loads(best.stdout)["trial"] == trial.number
    status = CliRunner().invoke(cli, ["status", job.id])
    assert status.exit_code == 0 and f"warning: best trial {trial.number}: test set" in status.stderr
    from cloudauto import run_result, summary
    from cloudauto.cli.outcome import _print_summary

    _print_summary(job)
    printed = capsys.readouterr()
    (line,) = [ln for ln in (printed.out + printed.err).splitlines() if "not scored" in ln]
    assert line.startswith(f"warning: best trial {trial.number}: test set") and "petal width (cm)" in line
    result = run_result.build(job, exit_code=0)
    (warning,) = [w for w in result.warnings if "not scored" in w]
    assert warning.startswith(f"best trial {trial.number}: test set") and "petal width (cm)" in warning
    assert warning in summary.markdown(result, job.trials())
