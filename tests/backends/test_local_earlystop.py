"""Early termination acts while a trial trains, or not at all (issue 27 item 3).

The first tests pin the AutoGluon 1.6.3 hook the trial relies on: the `reporter` fit argument
that LightGBM's early-stopping callback calls every boosting round and the torch MLP every
epoch. If AutoGluon stops calling it, the reports come only after the fit and these fail.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

pytestmark = pytest.mark.slow


def noisy(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A binary task LightGBM keeps improving on for a few hundred rounds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    logit = x[:, 0] + 0.8 * x[:, 1] * x[:, 2] - 0.6 * x[:, 3] ** 2 + 0.5 * np.sin(3 * x[:, 4])
    y = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(8)]).assign(label=y)


def fit(tmp_path: Path, hyperparameters: dict, report, metric: str = "accuracy"):
    from autogluon.tabular import TabularPredictor

    from cloudauto.runtime.ag_callbacks import ReportAfterEachModel

    callback = ReportAfterEachModel(report)
    predictor = TabularPredictor(label="label", eval_metric=metric, path=str(tmp_path / "ag"), verbosity=0)
    predictor.fit(noisy(), hyperparameters=hyperparameters, callbacks=[callback], learning_curves=True, num_cpus=1)
    return predictor, callback


def test_lightgbm_reports_every_ten_rounds_while_it_trains_and_a_stop_ends_its_training(tmp_path):
    seen: list[tuple[float, float]] = []

    def go_on(value: float) -> bool:
        seen.append((time.time(), value))
        return False

    predictor, callback = fit(tmp_path / "free", {"GBM": {"learning_rate": 0.02}}, go_on)
    rounds = predictor._trainer.load_model("LightGBM").params_trained["num_boost_round"]
    assert rounds > 60 and callback.in_training >= 6  # AutoGluon called the reporter from LightGBM's loop
    assert callback.reports == callback.in_training + 2  # and then LightGBM's val_score and the ensemble's
    ended = predictor.info()["model_info"]["LightGBM"]["fit_time"]
    assert seen[callback.in_training - 1][0] - seen[0][0] > 0.2 * ended  # spread over the fit, not all at its end
    objective = float(predictor.leaderboard(silent=True)["score_val"].max())
    assert seen[-1][1] == pytest.approx(objective)

    def stop_at_third(value: float) -> bool:
        return len(stopped) == 2 or bool(stopped.append(value))

    stopped: list[float] = []
    predictor, callback = fit(tmp_path / "cut", {"GBM": {"learning_rate": 0.02}}, stop_at_third)
    model = predictor._trainer.load_model("LightGBM")
    assert callback.stopped and callback.cut_short and callback.reports == 3
    assert model.params_trained["num_boost_round"] <= 30 < rounds  # LightGBM stopped at round 30, not at its end
    assert predictor.model_names() == ["LightGBM"]  # the ensemble, a model not trained yet, is skipped


def test_the_torch_mlp_reports_every_epoch_while_it_trains(tmp_path):
    def go_on(value: float) -> bool:
        return False

    _, callback = fit(tmp_path, {"NN_TORCH": {"num_epochs": 4}}, go_on)
    assert callback.in_training == 4 and callback.reports == 6


def test_a_verdict_after_the_last_model_is_ignored(tmp_path):
    # XGBoost has no reporter hook: its one step comes after its fit, and a stop there has nothing left to stop
    _, callback = fit(tmp_path, {"XGB": {"n_estimators": 20}}, lambda value: True)
    assert callback.stopped and not callback.cut_short and callback.in_training == 0


def diabetes_sweep(datasets: Path, space: str, policy: str, trials: int) -> cloudauto.JobSpec:
    from ..conftest import ROOT

    folder = datasets / "diabetes"
    return cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "diabetes.yaml",
        overrides=[
            f"data.train={folder / 'train.csv'}",
            f"data.test={folder / 'test.csv'}",
            "sweep.sampling=grid",
            f"sweep.space={space}",
            f"sweep.early_termination={policy}",
            f"limits.max_trials={trials}",
            "limits.max_concurrent_trials=1",
        ],
    )


def test_a_verdict_after_a_single_model_fit_leaves_the_trial_completed_with_its_objective_last(runs_dir, datasets):
    # XGBoost reports once, after its fit. The slow trial (learning rate 1e-4: RMSE near the mean
    # predictor's) is far outside a 1 % slack of the fast one at that report: the verdict says stop,
    # but the fit has ended, so the trial stays completed and keeps its objective.
    spec = diabetes_sweep(
        datasets,
        "{models: XGB, XGB.learning_rate: {choice: [0.1, 0.0001]}, XGB.n_estimators: 50, time_limit: 30}",
        "{policy: bandit, slack_factor: 0.01}",
        2,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    trials = job.trials()
    assert [t.status for t in trials] == [TrialStatus.COMPLETED, TrialStatus.COMPLETED]
    assert "trial 1: the stop verdict came after its fit had ended; it is ignored" in job.logs()
    for trial in trials:
        assert trial.error is None and trial.metrics[-1].value == pytest.approx(trial.objective, rel=1e-12)
    assert trials[1].objective > 1.1 * trials[0].objective  # the slow one is the weak one the policy judged


def test_a_stopped_lightgbm_trial_ends_mid_fit_and_its_objective_is_its_last_point(runs_dir, datasets):
    spec = diabetes_sweep(
        datasets,
        "{models: GBM, GBM.learning_rate: {choice: [0.05, 0.00001]}, GBM.min_data_in_leaf: 5, time_limit: 30}",
        "{policy: bandit, slack_factor: 0.05, delay_evaluation: 1}",
        2,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    fast, slow = job.trials()
    assert fast.status is TrialStatus.COMPLETED and len(fast.metrics) >= 3
    assert slow.status is TrialStatus.TERMINATED and "bandit at interval 2" in slow.error
    assert len(slow.metrics) <= 3  # two reports while LightGBM trained (rounds 10, 20), then its objective at most
    for trial in (fast, slow):
        assert trial.metrics[-1].value == pytest.approx(trial.objective, rel=1e-12)
    assert (Path(slow.artifacts["dir"]) / "model" / "predictor.pkl").is_file()  # it keeps the rounds it trained
