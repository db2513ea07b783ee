"""A trial whose AutoGluon fit trained no model (time limit exceeded, every model failed) fails with the reason, in the
local worker and the SageMaker and Azure ML entries (they share cloudauto.runtime): never `completed` with a NaN score."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import TrialStatus

from .foundation_specs import bike_head

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("cloudauto"))
SPACE = """sweep:
  sampling: grid
  space:
{space}
limits: {{max_concurrent_trials: 2}}
"""
OUT_OF_TIME = "    models: SeasonalNaive\n    SeasonalNaive.seasonal_period: {choice: [24, 12]}\n    time_limit: 0.01\n"


def bike_spec(folder: Path, data: Path, space: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(bike_head("no-model", str(data)) + SPACE.format(space=space))
    return path


def no_model(trial) -> str:
    """The error of a trial that must have failed because nothing was trained."""
    with pytest.raises(Exception) as info:
        trial()
    assert type(info.value).__name__ == "NoModelTrained", info.value
    return str(info.value)


def test_a_forecasting_fit_out_of_time_fails_naming_the_time_limit_and_the_model(foundation_data, tmp_path):
    from cloudauto.runtime.autogluon_trial import run_trial

    spec = cloudauto.JobSpec.from_file(bike_spec(tmp_path, foundation_data / "data", OUT_OF_TIME))
    params = {"models": "SeasonalNaive", "time_limit": 0.01}
    error = no_model(lambda: run_trial(spec, params, tmp_path / "out", lambda v: False))
    assert error.startswith("no model was trained within time_limit=0.01 s (AutoGluon had no time left for SeasonalNaive)")
    assert error.endswith("raise sweep.space.time_limit")


def test_a_forecasting_fit_whose_models_all_failed_names_them_and_their_error(foundation_data, tmp_path):
    from cloudauto.runtime.autogluon_trial import run_trial

    (tmp_path / "empty").mkdir()
    spec = cloudauto.JobSpec.from_file(bike_spec(tmp_path, foundation_data / "data", OUT_OF_TIME))
    params = {"models": "Chronos2", "Chronos2.model_path": str(tmp_path / "empty"), "time_limit": 60}
    error = no_model(lambda: run_trial(spec, params, tmp_path / "out", lambda v: False))
    assert error.startswith("no model was trained: AutoGluon's Chronos2 failed (ValueError: Unrecognized model in"), error
    assert "see the trial log" in error


def test_a_tabular_fit_whose_models_all_failed_names_them_and_their_error(datasets, tmp_path):
    """(Out of time before any model, TabularPredictor raises its own clear error: "Not enough time left ...".)"""
    from cloudauto.runtime.autogluon_trial import run_trial

    spec = cloudauto.JobSpec.from_dict(
        {
            "name": "no-model",
            "task": "tabular_classification",
            "data": {"train": str(datasets / "iris" / "train.csv"), "label": "target"},
            "metric": "accuracy",
            "sweep": {"space": {"models": "GBM", "time_limit": 60}},
        }
    )
    params = {"models": "GBM", "GBM.num_leaves": -5, "time_limit": 60}
    error = no_model(lambda: run_trial(spec, params, tmp_path / "out", lambda v: False))
    assert error.startswith("no model was trained: AutoGluon's LightGBM failed ("), error
    assert "num_leaves" in error and error.endswith("see the trial log")


def test_a_sweep_whose_fits_trained_nothing_fails_and_prints_its_failures_grouped(foundation_data, tmp_path, runs_dir):
    run = subprocess.run(
        [EXE, "run", str(bike_spec(tmp_path, foundation_data / "data", OUT_OF_TIME))], capture_output=True, text=True, timeout=900
    )
    out = run.stdout + run.stderr
    assert run.returncode == 4, out[-3000:]
    assert "2 trials failed (0, 1): NoModelTrained: no model was trained within time_limit=0.01 s" in out, out[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    assert [t.status for t in job.trials()] == [TrialStatus.FAILED] * 2
    assert all("raise sweep.space.time_limit" in t.error for t in job.trials())


def test_the_sagemaker_entry_writes_the_failure_sagemaker_shows(foundation_data, tmp_path):
    from cloudauto.runtime import sagemaker_entry
    from cloudauto.runtime.bundle import bundle_files, write_folder

    from .sagemaker_service import opt_ml, training_job_hyperparameters

    spec = cloudauto.JobSpec.from_file(bike_spec(tmp_path, foundation_data / "data", OUT_OF_TIME))
    request = cloudauto.compile(spec, backend="sagemaker").native
    code = write_folder(bundle_files(spec), tmp_path / "code")
    hps = training_job_hyperparameters(request, models='"SeasonalNaive"', **{"SeasonalNaive.seasonal_period": "24"})
    bike = foundation_data / "data" / "bike"
    ml = opt_ml(tmp_path / "ml", request, hps, {"train": [bike / "train.csv"], "test": [bike / "test.csv"]})
    env = {
        f"SM_{k}": str(ml / v)
        for k, v in {
            "INPUT_CONFIG_DIR": "input/config",
            "OUTPUT_DIR": "output",
            "MODEL_DIR": "model",
            "INPUT_DIR": "input",
        }.items()
    }
    assert sagemaker_entry.main(["--cloudauto-spec", str(code / "spec.json")], env) == 1
    failure = (ml / "output" / "failure").read_text()
    assert failure.startswith("NoModelTrained: no model was trained within time_limit=0.01 s"), failure
    assert json.loads((code / "spec.json").read_text())["name"] == "no-model"
