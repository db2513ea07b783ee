"""The trial entry script in SageMaker's container contract, run against a fake /opt/ml tree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cloudauto
from cloudauto.runtime.sagemaker_entry import decode

from ..conftest import ROOT
from .test_sagemaker_compile import EVERY


def sagemaker_strings(request: dict, pick: int = 0) -> dict[str, str]:
    """The hyperparameters SageMaker would hand a training job: static ones plus one value per range."""
    definition = request["TrainingJobDefinition"]
    hps = dict(definition["StaticHyperParameters"])
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    for r in ranges.get("CategoricalParameterRanges", []):
        hps[r["Name"]] = r["Values"][min(pick, len(r["Values"]) - 1)]
    for r in ranges.get("IntegerParameterRanges", []):
        hps[r["Name"]] = r["MaxValue"] if pick else r["MinValue"]
    for r in ranges.get("ContinuousParameterRanges", []):
        hps[r["Name"]] = r["MaxValue"] if pick else r["MinValue"]
    return hps


def test_decode_restores_types_and_exact_values():
    request = cloudauto.compile(cloudauto.JobSpec.from_yaml(EVERY), backend="sagemaker").native
    params = decode(sagemaker_strings(request, pick=1))
    assert params["ch"] == 800 and isinstance(params["ch"], int)  # categorical strings back to ints
    assert params["qu"] == 64 and isinstance(params["qu"], int)  # k = 8 -> 8 * 8
    assert params["ri"] == 9 and isinstance(params["ri"], int)  # randint's high is excluded
    assert params["u"] == 0.5 and params["lu"] == 0.1
    assert params["ql"] == 1000 and params["fixed"] == "medium_quality"


def test_decode_picks_the_chosen_subspace():
    spec = cloudauto.JobSpec.from_file(  # the tutorial's sub-spaces, trained by a script of your own
        ROOT / "job_specs" / "fridge_objects_od.yaml",
        overrides=["engine=command", "command={run: 'python train.py --lr ${{sweep.learning_rate}}', code: .}"],
    )
    request = cloudauto.compile(spec, backend="sagemaker").native
    hps = sagemaker_strings(request)
    hps["cloudauto_subspace"] = "1"
    assert decode(hps) == {"model_name": "fasterrcnn_resnet50_fpn", "learning_rate": 0.0001, "optimizer": "sgd", "min_size": 600}
    hps["cloudauto_subspace"] = "0"
    assert decode(hps) == {"model_name": "yolov5", "learning_rate": 0.0001, "model_size": "small"}


@pytest.mark.slow
def test_the_entry_script_trains_reports_and_saves_the_model(tmp_path):
    from job_specs import make_data

    make_data.iris(tmp_path / "src")
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml", overrides=["sweep.space={models: {choice: [GBM, RF]}, time_limit: 20}"]
    )
    request = cloudauto.compile(spec, backend="sagemaker").native
    ml = tmp_path / "opt" / "ml"
    for sub in ("input/config", "input/data/train", "input/data/test", "model", "output"):
        (ml / sub).mkdir(parents=True)
    (ml / "input/config/hyperparameters.json").write_text(json.dumps(sagemaker_strings(request)))
    (ml / "input/data/train/train.csv").write_bytes((tmp_path / "src/iris/train.csv").read_bytes())
    (ml / "input/data/test/test.csv").write_bytes((tmp_path / "src/iris/test.csv").read_bytes())
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    env = {
        "PATH": "/usr/bin:/bin",
        "SM_INPUT_DIR": str(ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(ml / "input/config"),
        "SM_MODEL_DIR": str(ml / "model"),
        "SM_OUTPUT_DIR": str(ml / "output"),
        "SM_CHANNEL_TRAIN": str(ml / "input/data/train"),
        "SM_CHANNEL_TEST": str(ml / "input/data/test"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "cloudauto.runtime.sagemaker_entry", "--spec", str(tmp_path / "spec.json"), "--models", "GBM"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (definition,) = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    values = [float(m.group(1)) for m in re.finditer(definition["Regex"], run.stdout)]
    assert len(values) >= 2 and values[-1] == max(values) and values[-1] > 0.9  # the last line is the objective
    assert '"models": "GBM"' in run.stdout
    from cloudauto.runtime.inference import model_fn, transform_fn

    model = model_fn(str(ml / "model"))
    body, kind = transform_fn(
        model,
        b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n",
        "text/csv",
        "application/json",
    )
    assert kind == "application/json" and json.loads(body) == [{"prediction": 0}]
    assert not (ml / "output" / "failure").exists()


def test_a_failure_is_written_where_sagemaker_reads_it(tmp_path):
    ml = tmp_path / "ml"
    (ml / "input/config").mkdir(parents=True)
    (ml / "input/config/hyperparameters.json").write_text(json.dumps({"cloudauto_space": "not json"}))
    (tmp_path / "spec.json").write_text(
        json.dumps({"name": "x", "task": "tabular_regression", "metric": "r2", "data": {"train": "t.csv", "label": "y"}})
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "SM_INPUT_CONFIG_DIR": str(ml / "input/config"),
        "SM_OUTPUT_DIR": str(ml / "output"),
        "SM_MODEL_DIR": str(ml / "model"),
        "SM_INPUT_DIR": str(ml / "input"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "cloudauto.runtime.sagemaker_entry", "--spec", str(tmp_path / "spec.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "JSONDecodeError" in (ml / "output" / "failure").read_text()


def test_a_command_trial_runs_from_the_bundle_with_its_values_filled(tmp_path):
    """engine: command through the same entry: the user's script, filled, reporting lines the regex reads."""
    from cloudauto.runtime.bundle import bundle_files, tar_gz

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "import sys, cloudauto\n"
        "lr, opt = float(sys.argv[2]), sys.argv[4]\n"
        "print('got', repr(opt))\n"
        "for step in range(3):\n"
        "    cloudauto.report(acc=0.5 + step * lr, step=step)\n"
    )
    (tmp_path / "spec.yaml").write_text(
        "name: cmd\ntask: custom\nengine: command\nmetric: {name: acc, goal: maximize}\n"
        "command: {run: 'python train.py --lr ${{sweep.lr}} --opt ${{sweep.opt}}', code: src}\n"
        "sweep: {sampling: random, space: {lr: {uniform: [0.1, 0.2]}, opt: {choice: ['a b; rm -rf /', adam]}}}\n"
        "limits: {max_trials: 2}\n"
    )
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    request = cloudauto.compile(spec, backend="sagemaker").native
    files = bundle_files(spec)
    assert "code/train.py" in files and tar_gz(files) == tar_gz(bundle_files(spec))  # deterministic bytes
    ml = tmp_path / "ml"
    code = ml / "code"
    for name, data in files.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(data)
    (ml / "input/config").mkdir(parents=True)
    (ml / "input/config/hyperparameters.json").write_text(json.dumps(sagemaker_strings(request, pick=0)))
    env = {"PATH": "/usr/bin:/bin", "SM_INPUT_DIR": str(ml / "input"), "SM_INPUT_CONFIG_DIR": str(ml / "input/config")}
    env.update(SM_MODEL_DIR=str(ml / "model"), SM_OUTPUT_DIR=str(ml / "output"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # `python` in the command is the image's python
    run = subprocess.run([sys.executable, "cloudauto_entry.py"], cwd=code, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "got 'a b; rm -rf /'" in run.stdout  # one argument, verbatim: no shell in between
    (definition,) = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    values = [float(m.group(1)) for m in re.finditer(definition["Regex"], run.stdout)]
    assert values == pytest.approx([0.5, 0.6, 0.7])


def test_cloud_trials_fit_within_their_timeout_like_local_ones():
    from cloudauto.runtime.sagemaker_entry import default_time_limit

    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml", overrides=["limits.trial_timeout=100"])
    assert default_time_limit(spec) == 80.0
    assert default_time_limit(cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml")) == 96.0  # 2m
    assert (
        default_time_limit(
            cloudauto.JobSpec.from_file(ROOT / "job_specs" / "diabetes.yaml", overrides=["limits.trial_timeout=null"])
        )
        is None
    )
