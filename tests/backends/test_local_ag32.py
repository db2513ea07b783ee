"""Issue 32 items 1, 2, 4, 5 end to end on the local backend: real AutoGluon fits (LightGBM, time_limit 15) of a
binary medical table with an ID column and a positive class that is the alphabetically first label value."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cloudauto
from cloudauto.backend import JobStatus
from cloudauto.cli import main

pytestmark = pytest.mark.slow

SPEC = """\
name: med
task: tabular_classification
data: {{train: train.csv, test: test.csv, label: diagnosis{ignore}}}
metric: accuracy
metrics: [f1, roc_auc, log_loss]
autogluon: {{feature_importance: true{positive}}}
sweep:
  space: {{models: GBM, time_limit: 15}}
limits: {{max_trials: 1}}
"""


def _tables(folder: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    x1, x2, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "x1": x1,
            "x2": x2,
            "x3": rng.normal(size=n),
            # benign: the minority and the alphabetically first, which AutoGluon would not take as positive
            "diagnosis": np.where(x1 + 0.5 * x2 + 0.8 * noise > 0.6, "benign", "malignant"),
        }
    )
    frame.iloc[:220].to_csv(folder / "train.csv", index=False)
    frame.iloc[220:].to_csv(folder / "test.csv", index=False)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Two jobs on the same data, fit at once: positive_class benign (ID ignored), and AutoGluon's defaults."""
    root = tmp_path_factory.mktemp("ag32")
    old = os.environ.get("CLOUDAUTO_HOME")
    os.environ["CLOUDAUTO_HOME"] = str(root / "home")
    try:
        _tables(root)
        (root / "med.yaml").write_text(SPEC.format(ignore=", ignore_columns: [patient_id]", positive=", positive_class: benign"))
        (root / "default.yaml").write_text(SPEC.format(ignore="", positive="").replace("med", "med-default"))  # no learner_kwargs
        started = [cloudauto.submit(cloudauto.JobSpec.from_file(root / f), backend="local") for f in ("med.yaml", "default.yaml")]
        assert [job.wait(progress=False) for job in started] == [JobStatus.COMPLETED] * 2
        yield root, started[0], started[1]
    finally:
        if old is None:
            os.environ.pop("CLOUDAUTO_HOME", None)
        else:
            os.environ["CLOUDAUTO_HOME"] = old


def _f1(y_true, y_pred, positive: str) -> float:
    tp = sum((t == positive) and (p == positive) for t, p in zip(y_true, y_pred, strict=True))
    fp = sum((t != positive) and (p == positive) for t, p in zip(y_true, y_pred, strict=True))
    fn = sum((t == positive) and (p != positive) for t, p in zip(y_true, y_pred, strict=True))
    return 2 * tp / (2 * tp + fp + fn)


def test_positive_class_drives_f1_and_the_probability_columns(jobs):
    from autogluon.tabular import TabularPredictor

    root, med, default = jobs
    test = pd.read_csv(root / "test.csv")
    recorded = {}
    for job, positive in ((med, "benign"), (default, "malignant")):
        trial = job.best_trial()
        predictor = TabularPredictor.load(str(Path(trial.artifacts["dir"]) / "model"))
        assert predictor.positive_class == positive
        assert list(predictor.predict_proba(test.head(2)).columns)[-1] == positive  # proba_ of the positive class last
        predicted = predictor.predict(test)
        assert trial.scores["test_f1"] == pytest.approx(_f1(test["diagnosis"], predicted, positive))
        recorded[positive] = trial.scores["test_f1"]
        if job is med:
            assert "patient_id" not in predictor.features()  # ignored by AutoGluon's own ignored_columns
    assert recorded["benign"] != pytest.approx(recorded["malignant"], abs=1e-3)  # the same fit, judged from the other side


def test_each_trial_records_the_positive_class_it_scored_and_trials_and_best_print_it(jobs):
    """Issue 32: the spec's positive class, or the one AutoGluon took, is in the trial's record and shown."""
    root, med, default = jobs
    runner = CliRunner()
    for job, positive in ((med, "benign"), (default, "malignant")):
        trial = job.best_trial()
        assert trial.positive_class == positive and "positive_class" not in trial.scores  # the scores stay figures
        best = runner.invoke(main, ["best", job.id])
        assert best.exit_code == 0 and json.loads(best.stdout)["positive_class"] == positive, best.output
        one = runner.invoke(main, ["trials", job.id, "--trial", str(trial.number)])
        assert f"positive class: {positive} (" in one.stdout, one.output


def test_every_trial_records_each_metric_and_best_and_leaderboard_show_them(jobs, tmp_path):
    root, med, _ = jobs
    trial = med.best_trial()
    for key in ("val_f1", "val_roc_auc", "val_log_loss", "test_f1", "test_roc_auc", "test_log_loss", "test_accuracy"):
        assert isinstance(trial.scores[key], float), key
    assert 0 < trial.scores["val_log_loss"] and 0.5 < trial.scores["test_roc_auc"] <= 1
    board = med.leaderboard()
    assert list(board.columns[:6]) == ["trial", "status", "accuracy", "f1", "roc_auc", "log_loss"]
    assert board.loc[0, "f1"] == trial.scores["val_f1"]
    runner = CliRunner()
    best = runner.invoke(main, ["best", med.id])
    assert best.exit_code == 0, best.output
    shown = json.loads(best.stdout)
    assert shown["metrics"]["f1"] == {"validation": trial.scores["val_f1"], "test": trial.scores["test_f1"]}
    text = runner.invoke(main, ["trials", med.id])
    assert "f1" in text.stdout.splitlines()[0] and f"{trial.scores['val_log_loss']:.6g}" in text.stdout
    from cloudauto import run_result

    result = run_result.build(med, exit_code=0)
    assert result.spec.metrics == ["f1", "roc_auc", "log_loss"] and result.best.metrics["roc_auc"]["test"] > 0.5
    from mlflow.tracking import MlflowClient

    parent, uri = med.export_mlflow(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracking_uri=uri)
    child = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")[0]
    assert child.data.metrics["val_f1"] == pytest.approx(trial.scores["val_f1"])


def test_trials_models_and_importance_print_without_autogluon(jobs, tmp_path):
    root, med, _ = jobs
    runner = CliRunner()
    models = runner.invoke(main, ["trials", med.id, "--trial", "0", "--models"])
    assert models.exit_code == 0, models.output
    assert "LightGBM" in models.stdout and "WeightedEnsemble_L2" in models.stdout and "(best)" in models.stdout
    importance = runner.invoke(main, ["trials", med.id, "--trial", "0", "--importance", "--format", "json"])
    features = json.loads(importance.stdout)["features"]
    assert {f["feature"] for f in features} == {"x1", "x2", "x3"}  # patient_id ignored, so not a feature
    assert max(features, key=lambda f: f["importance"])["feature"] == "x1"  # the label is mostly x1
    assert runner.invoke(main, ["trials", med.id, "--models"]).exit_code == 64
    missing = runner.invoke(main, ["trials", med.id, "--trial", "7", "--models"])
    assert missing.exit_code != 0 and "no trial 7" in missing.output
    from cloudauto.report import best_importance

    assert [r["feature"] for r in best_importance(med.best_trial())][0] == "x1"
    png = runner.invoke(main, ["report", med.id, "-o", str(tmp_path / "r.png")])
    assert png.exit_code == 0 and (tmp_path / "r.png").stat().st_size > 10_000


def test_predict_and_score_keep_the_id_column(jobs, tmp_path):
    root, med, _ = jobs
    runner = CliRunner()
    out = tmp_path / "out.csv"
    done = runner.invoke(
        main, ["predict", med.id, str(root / "test.csv"), "-o", str(out), "--probabilities", "--keep-columns", "patient_id"]
    )
    assert done.exit_code == 0, done.output
    scored, test = pd.read_csv(out), pd.read_csv(root / "test.csv")
    assert list(scored.columns[:1]) == ["patient_id"] and list(scored["patient_id"]) == list(test["patient_id"])
    assert {"proba_benign", "proba_malignant"} <= set(scored.columns)
    assert (scored["prediction"] == np.where(scored["proba_benign"] >= 0.5, "benign", "malignant")).all()
    bad = runner.invoke(main, ["predict", med.id, str(root / "test.csv"), "-o", str(tmp_path / "b.csv"), "--keep-columns", "pid"])
    assert bad.exit_code != 0 and "'pid'" in bad.output and "patient_id" in bad.output
    endpoint = med.deploy(name="med-ag32")
    try:
        answer = endpoint.score(test.head(5), keep_columns=["patient_id"])
        assert list(answer["patient_id"]) == list(test["patient_id"].head(5))
        assert list(answer["prediction"]) == list(scored["prediction"].head(5))
        alone = endpoint.score(test.head(5).drop(columns=["patient_id"]))  # an ignored column is never asked for
        assert list(alone["prediction"]) == list(answer["prediction"])
        cli = runner.invoke(main, ["score", "med-ag32", str(root / "test.csv"), "--keep-columns", "patient_id"])
        assert cli.exit_code == 0, cli.output
        assert cli.stdout.splitlines()[0].startswith("patient_id,")
    finally:
        endpoint.delete()
