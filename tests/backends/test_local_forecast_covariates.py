"""A forecast with a known covariate, a past covariate and static features, trained by AutoGluon on the local backend,
served, and asked with and without the future values it needs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus, NotSupportedError

from ..conftest import ROOT

pytestmark = pytest.mark.slow
pytest.importorskip("autogluon.timeseries", reason="the cloudauto-local[timeseries] extra is not installed")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """store_sales_forecast.yaml on three stores x 67 days: SeasonalNaive and DirectTabular (~5 s each on a quiet machine)."""
    from job_specs import make_data

    root = tmp_path_factory.mktemp("sales")
    old = os.environ.get("CLOUDAUTO_HOME")
    os.environ["CLOUDAUTO_HOME"] = str(root / "home")
    try:
        make_data.sales(root)
        spec = cloudauto.JobSpec.from_file(
            ROOT / "job_specs" / "store_sales_forecast.yaml",
            overrides=[
                f"data.train={root}/sales/train.csv",
                f"data.test={root}/sales/test.csv",
                f"data.static_features={root}/sales/stores.csv",
            ],
        )
        job = cloudauto.submit(spec, backend="local")
        assert job.wait(progress=False) is JobStatus.COMPLETED, job.status_reason()
        endpoint = job.deploy(name=f"sales-{job.id[-4:]}")
        try:
            yield job, endpoint, root / "sales"
        finally:
            endpoint.delete()
    finally:
        if old is None:
            os.environ.pop("CLOUDAUTO_HOME", None)
        else:
            os.environ["CLOUDAUTO_HOME"] = old


def test_the_trials_fit_with_the_covariates_and_static_features(trained):
    from autogluon.timeseries import TimeSeriesPredictor

    job, _, _ = trained
    trials = {t.params["models"]: t for t in job.trials()}
    assert set(trials) == {"SeasonalNaive", "DirectTabular"}
    assert all(t.objective is not None for t in trials.values()), [(t.status, t.error) for t in trials.values()]
    # DirectTabular uses the promotions and prices it is told of; SeasonalNaive cannot
    assert trials["DirectTabular"].objective < trials["SeasonalNaive"].objective
    assert trials["DirectTabular"].scores["test_MASE"] > 0
    model = Path(trials["DirectTabular"].artifacts["dir"]) / "model"
    predictor = TimeSeriesPredictor.load(str(model))
    assert predictor.known_covariates_names == ["promo", "price"]
    info = json.loads((model / "cloudauto_model.json").read_text())
    assert info["past_covariates"] == ["temperature"] and info["static_features"] == ["size", "region"]
    log = " ".join(job.logs(trials["DirectTabular"].number).split())  # AutoGluon's own account of the columns it took
    assert "known_covariates: categorical: [] continuous (float): ['promo', 'price']" in log
    assert "static_features: categorical: ['region'] continuous (float): ['size']" in log


def test_trials_importance_of_a_forecast_says_it_is_for_tabular_tasks(trained):
    from click.testing import CliRunner

    from cloudauto.cli import main

    job, _, _ = trained
    done = CliRunner().invoke(main, ["trials", job.id, "--trial", "0", "--importance"])
    assert done.exit_code == 4, done.output
    assert "permutation feature importance is for tabular tasks; a time_series_forecasting trial has none" in done.output
    assert "set autogluon.feature_importance" not in done.output  # validate refuses that for time series


def test_a_request_with_the_future_covariates_gets_the_forecast(trained):
    _, endpoint, data = trained
    request = pd.read_csv(data / "request.csv")  # history, then 7 days of promo and price with sales blank
    forecast = endpoint.score(request)
    assert len(forecast) == 7 * 3
    first = forecast[forecast["store"] == "store_0"]
    assert pd.to_datetime(first["day"]).min() == pd.Timestamp("2026-03-02")
    # the promotion days are forecast higher: the known covariate reaches the model
    truth = pd.read_csv(data / "test.csv")
    future = truth[pd.to_datetime(truth["day"]) >= pd.Timestamp("2026-03-02")].reset_index(drop=True)
    joined = forecast.assign(day=pd.to_datetime(forecast["day"]).dt.strftime("%Y-%m-%d")).merge(future, on=["store", "day"])
    assert joined[joined.promo == 1]["mean"].mean() > joined[joined.promo == 0]["mean"].mean()
    # a new store, with its static features in its rows
    new = request[request.store == "store_2"].assign(store="store_9", size=2.0, region="north")
    assert len(endpoint.score(new)) == 7


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r[r["sales"].notna()], r"400.*series 'store_0': this model forecasts with the known covariates promo, price, so it needs their values for the next 7 steps \(2026-03-02 to 2026-03-08\); 7 of them have no row"),
        (lambda r: r.drop(columns=["promo"]), r"400.*missing columns: promo; .*the known covariates promo, price for the next 7 steps"),
        (lambda r: r.drop(columns=["temperature"]), r"400.*missing columns: temperature"),
        (
            lambda r: r[~((r.store == "store_1") & (r.day >= "2026-03-06"))],
            r"400.*series 'store_1': .*3 of them have no row \(2026-03-06, 2026-03-07, 2026-03-08\)",
        ),
        (
            lambda r: r.assign(price=r.price.where(~((r.store == "store_2") & (r.day == "2026-03-04")))),
            r"400.*series 'store_2': the known covariate 'price' has no value at 2026-03-04, one of the 7 steps to forecast",
        ),
        (lambda r: r.assign(store=r.store.str.replace("store_2", "store_9")), r"400.*series 'store_9': no static features \(size, region\)"),
    ],
    ids=["no-future", "no-promo-column", "no-past-covariate", "short-future", "blank-future", "unknown-series"],
)
def test_a_request_without_what_the_model_needs_is_a_400_naming_it(trained, change, words):
    from cloudauto.scoring import HTTPScorer, ScoringError

    _, endpoint, data = trained
    request = change(pd.read_csv(data / "request.csv"))
    with pytest.raises(ScoringError, match=words):
        HTTPScorer(endpoint.url).score(request)


def test_batch_of_a_forecaster_is_refused_before_it_starts(trained, tmp_path):
    job, _, data = trained
    with pytest.raises(NotSupportedError, match="time_series_forecasting job"):
        job.predict_batch(data / "request.csv", tmp_path / "out.csv")
