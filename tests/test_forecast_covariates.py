"""forecasting.known_covariates and data.static_features: the spec's rules, the data check, and how the files travel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.runtime.data_check import data_issues
from cloudauto.spec.errors import SpecError

from .conftest import ROOT

SPEC = ROOT / "job_specs" / "store_sales_forecast.yaml"


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    """The example's data and a copy of its spec beside it (relative paths as the example has them)."""
    from job_specs import make_data

    make_data.sales(tmp_path / "data")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text())
    return tmp_path


def issues(path: Path, *overrides: str) -> list[str]:
    return [str(i) for i in data_issues(cloudauto.JobSpec.from_file(path, overrides=list(overrides)))]


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("[promo, price]", "[promo, sales]", r"forecasting.known_covariates\[1\]: 'sales' is data.label"),
        ("[promo, price]", "[promo, promo]", r"known_covariates\[1\]: 'promo' is listed twice"),
        ("  item_id: store\n", "", "data.static_features: static features are one row per series, keyed by the item_id column"),
        ("metric: MASE", "engine: command\ncommand: {run: python x.py}\nmetric: MASE", "forecasting: the forecasting block is AutoGluon's"),
    ],
)
def test_the_rules_name_the_field_and_its_line(old, new, words):
    text = SPEC.read_text()
    assert old in text
    with pytest.raises(SpecError, match=words) as caught:
        cloudauto.JobSpec.from_yaml(text.replace(old, new), source=str(SPEC))
    assert all(i.line for i in caught.value.issues)


def test_covariates_are_refused_outside_forecasting():
    text = (ROOT / "job_specs" / "iris.yaml").read_text()
    with pytest.raises(SpecError, match="static_features is for time_series_forecasting"):
        cloudauto.JobSpec.from_yaml(text, overrides=["data.static_features=./stores.csv"])
    with pytest.raises(SpecError, match="forecasting: the forecasting block is for time_series_forecasting"):
        cloudauto.JobSpec.from_yaml(text, overrides=["forecasting.known_covariates=[a]"])


def test_the_example_data_passes(sales):
    assert issues(sales / "spec.yaml") == []


def test_a_known_covariate_missing_from_the_data_is_named_with_a_suggestion(sales):
    found = issues(sales / "spec.yaml", "forecasting.known_covariates=[Promo, price]")
    assert any("forecasting.known_covariates[0]: column 'Promo' is not in ./data/sales/train.csv; did you mean 'promo'" in i for i in found), found


def test_a_static_features_file_keyed_otherwise_or_lacking_a_series_is_refused(sales):
    stores = sales / "data" / "sales" / "stores.csv"
    table = pd.read_csv(stores)
    table.rename(columns={"store": "shop"}).to_csv(stores, index=False)
    (found,) = issues(sales / "spec.yaml")
    assert "data.static_features: ./data/sales/stores.csv has no column 'store' (data.item_id)" in found
    table.iloc[:2].to_csv(stores, index=False)
    found = issues(sales / "spec.yaml")
    assert any("has no row for the series 'store_2' of ./data/sales/train.csv" in i for i in found), found
    pd.concat([table, table.iloc[:1]]).to_csv(stores, index=False)
    (found,) = issues(sales / "spec.yaml")
    assert "more than one row for the series 'store_0'" in found


def test_a_known_covariate_blank_in_the_test_horizon_is_refused(sales):
    test = sales / "data" / "sales" / "test.csv"
    frame = pd.read_csv(test)
    frame.loc[(frame.store == "store_1") & (frame.day == "2026-03-05"), "promo"] = None
    frame.loc[(frame.store == "store_1") & (frame.day == "2026-01-05"), "price"] = None  # in the history: AutoGluon fills it
    frame.to_csv(test, index=False)
    (found,) = issues(sales / "spec.yaml")
    assert "data.test: known covariate 'promo' is blank in 1 of the last 7 rows of series 'store_1'" in found, found


def test_submit_refuses_bad_covariates_before_anything_starts(sales, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(sales / "home"))
    from cloudauto.backend import DataCheckError

    spec = cloudauto.JobSpec.from_file(sales / "spec.yaml", overrides=["forecasting.known_covariates=[discount]"])
    with pytest.raises(DataCheckError, match="column 'discount' is not in"):
        cloudauto.submit(spec, backend="local")
    assert not (sales / "home" / "runs").exists() or not any((sales / "home" / "runs").iterdir())


def test_static_features_travel_to_sagemaker_and_azure_like_the_training_data(sales, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    spec = cloudauto.JobSpec.from_file(
        sales / "spec.yaml", overrides=["backends.sagemaker.role=arn:aws:iam::123456789012:role/x", "backends.sagemaker.bucket=b-1"]
    )
    native = cloudauto.compile(spec, backend="sagemaker").native
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in native["TrainingJobDefinition"]["InputDataConfig"]}
    assert channels["static_features"].endswith("/data/static_features/stores.csv")
    azure = cloudauto.JobSpec.from_file(sales / "spec.yaml", overrides=["backends.azureml.environment=azureml:ag:1"])
    rendered = cloudauto.compile(azure, backend="azureml").render()
    assert "--data-static_features ${{inputs.static_features}}" in " ".join(rendered.split())  # YAML wraps the line


def test_the_trial_entries_take_the_static_features_file(tmp_path, monkeypatch):
    """SageMaker's channel and Azure ML's --data-static_features both become data.static_features."""
    from cloudauto.runtime import azureml_entry

    seen = {}

    def fake_trial(spec, params, out_dir, report, **options):
        seen["static"] = spec.data.static_features
        raise SystemExit(0)

    monkeypatch.setattr("cloudauto.runtime.autogluon_trial.run_trial", fake_trial)
    spec_json = tmp_path / "spec.json"
    import json

    spec_json.write_text(json.dumps(cloudauto.JobSpec.from_file(SPEC).to_dict()))
    with pytest.raises(SystemExit):
        azureml_entry.main(
            ["--spec", str(spec_json), "--output", str(tmp_path / "out"), "--data-train", "/mnt/t.csv", "--data-static_features", "/mnt/s.csv", "--param", "models=SeasonalNaive"]
        )
    assert seen["static"] == "/mnt/s.csv"
