"""The trial entry script in SageMaker's container contract, run against a fake /opt/ml tree."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cloudauto
from cloudauto.runtime.sagemaker_entry import decode, toolkit_decoded
from cloudauto.runtime.versions import AUTOGLUON_VERSION

from ..conftest import ROOT
from .sagemaker_service import decoded_by_the_toolkit, opt_ml, run_train, sagemaker_strings, training_job_hyperparameters
from .test_sagemaker_compile import EVERY


def through_the_toolkit(tmp_path: Path, request: dict, hps: dict[str, str]) -> dict:
    """The hyperparameters as sagemaker-training decodes them for the entry script (its SM_HPS)."""
    root = opt_ml(tmp_path / f"ml-{len(list(tmp_path.iterdir()))}", request, hps, {})
    return decoded_by_the_toolkit(root)


def test_decode_restores_types_and_exact_values(tmp_path):
    request = cloudauto.compile(cloudauto.JobSpec.from_yaml(EVERY), backend="sagemaker").native
    params = decode(through_the_toolkit(tmp_path, request, sagemaker_strings(request, pick=1)))
    assert params["ch"] == 800 and isinstance(params["ch"], int)  # categorical strings back to ints
    assert params["qu"] == 64 and isinstance(params["qu"], int)  # k = 8 -> 8 * 8
    assert params["ri"] == 9 and isinstance(params["ri"], int)  # randint's high is excluded
    assert params["u"] == 0.5 and params["lu"] == 0.1
    assert params["ql"] == 1000 and params["fixed"] == "medium_quality"
    assert decode(toolkit_decoded(sagemaker_strings(request, pick=1))) == params  # run bare: the same values


TRICKY = """\
name: tricky
task: custom
engine: command
metric: {name: score, goal: maximize}
command: {run: 'python train.py --v ${{sweep.v}}', code: .}
sweep:
  sampling: random
  space:
    v:
      choice: ["true", true, "True", "1e-3", 0.001, 1, "1", 1.5, "null", "a \\"b\\" c; rm -rf / $HOME `x`", "{\\"k\\": [1]}", "", " 7 "]
    n: {randint: [-3, 4]}
    f: {loguniform: [1.0e-06, 0.5]}
    s: "it's \\"quoted\\" & {json: true}"
"""


def test_every_categorical_value_survives_the_toolkit_exactly(tmp_path):
    """Booleans, numbers-as-strings, quotes, shell metacharacters, JSON text: each comes back as it was written."""
    spec = cloudauto.JobSpec.from_yaml(TRICKY)
    request = cloudauto.compile(spec, backend="sagemaker").native
    ranges = {r["Name"]: r for r in request["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]}
    written = {name: dist.values for _, name, dist in spec.space.distributions() if dist.kind == "choice"}
    for name, values in written.items():
        for raw, original in zip(ranges[name]["Values"], values, strict=True):
            hps = training_job_hyperparameters(request, **{name: raw})
            got = decode(through_the_toolkit(tmp_path, request, hps))[name]
            assert got == original and type(got) is type(original), (name, raw, got)
    got = decode(through_the_toolkit(tmp_path, request, training_job_hyperparameters(request)))
    assert got["s"] == 'it\'s "quoted" & {json: true}'


@pytest.mark.parametrize("seed", range(6))
def test_sampled_values_decode_inside_their_ranges(tmp_path, seed):
    """Values SageMaker could pick (not the bounds the tests wrote), through the toolkit."""
    spec = cloudauto.JobSpec.from_yaml(EVERY)
    request = cloudauto.compile(spec, backend="sagemaker").native
    params = decode(through_the_toolkit(tmp_path, request, training_job_hyperparameters(request, random.Random(seed))))
    for _, name, dist in spec.space.distributions():
        value = params[name]
        if dist.kind == "fixed":
            assert value == dist.value
        elif dist.kind == "choice":
            assert value in dist.values
        else:
            assert dist.low <= value <= dist.high, (name, value)
            if dist.kind in ("randint", "quniform"):
                assert isinstance(value, int) and (dist.kind == "randint" or value % dist.q == 0)


def test_decode_picks_the_chosen_subspace(tmp_path):
    spec = cloudauto.JobSpec.from_file(  # the tutorial's sub-spaces, trained by a script of your own
        ROOT / "job_specs" / "fridge_objects_od.yaml",
        overrides=["engine=command", "command={run: 'python train.py --lr ${{sweep.learning_rate}}', code: .}"],
    )
    request = cloudauto.compile(spec, backend="sagemaker").native
    hps = sagemaker_strings(request)
    hps["cloudauto_subspace"] = "1"
    assert decode(through_the_toolkit(tmp_path, request, hps)) == {
        "model_name": "fasterrcnn_resnet50_fpn",
        "learning_rate": 0.0001,
        "optimizer": "sgd",
        "min_size": 600,
    }
    hps["cloudauto_subspace"] = "0"
    assert decode(through_the_toolkit(tmp_path, request, hps)) == {
        "model_name": "yolov5",
        "learning_rate": 0.0001,
        "model_size": "small",
    }


@pytest.mark.slow
def test_a_tuning_trial_runs_under_the_training_toolkit(tmp_path, aws):
    """The compiled request, as SageMaker would start one of its training jobs: the toolkit fetches the
    source tarball from S3 (moto), installs its requirements, runs cloudauto_entry.py; AutoGluon trains."""
    import boto3

    from cloudauto.runtime.bundle import bundle_files, tar_gz
    from job_specs import make_data

    make_data.iris(tmp_path / "src")
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            "sweep.space={models: {choice: [GBM, RF]}, time_limit: 20}",
            "backends.sagemaker.bucket=toolkit-test",
            "metrics=[log_loss]",  # issue 32: the spec's other metrics and feature importance travel in spec.json
            "autogluon={feature_importance: true}",
        ],
    )
    request = cloudauto.compile(spec, backend="sagemaker").native
    source = json.loads(request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"])
    bucket, _, key = source.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz(bundle_files(spec)))
    hps = training_job_hyperparameters(request, models='"GBM"')
    root = opt_ml(
        tmp_path / "opt" / "ml",
        request,
        hps,
        {"train": [tmp_path / "src/iris/train.csv"], "test": [tmp_path / "src/iris/test.csv"]},
    )
    run = run_train(root)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert (root / "code" / "cloudauto_entry.py").is_file()  # the toolkit unpacked the tarball from S3
    assert (root / "output" / "success").exists() and not (root / "output" / "failure").exists()
    definition, *extra = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    values = [float(m.group(1)) for m in re.finditer(definition["Regex"], out)]
    assert len(values) >= 2 and values[-1] == max(values) and values[-1] > 0.9  # the last line is the objective
    assert [d["Name"] for d in extra] == ["cloudauto:test_accuracy", "cloudauto:val_log_loss", "cloudauto:test_log_loss"]
    assert all(float(re.search(d["Regex"], out).group(1)) >= 0 for d in extra)  # each matched by its definition
    assert "WeightedEnsemble_L2" in (root / "model" / "models.json").read_text()
    assert (root / "model" / "importance.json").is_file()
    assert '"models": "GBM"' in out and '"time_limit": 20' in out
    info = json.loads(next((root / "model").rglob("cloudauto_model.json")).read_text())
    assert info["autogluon_version"] == AUTOGLUON_VERSION
    from cloudauto.runtime.inference import model_fn, transform_fn

    model = model_fn(str(root / "model"))
    body, kind = transform_fn(
        model,
        b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n",
        "text/csv",
        "application/json",
    )
    assert kind == "application/json" and json.loads(body) == [{"prediction": 0}]


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
        [sys.executable, "-m", "cloudauto.runtime.sagemaker_entry", "--cloudauto-spec", str(tmp_path / "spec.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert (
        "DecodeError: hyperparameter cloudauto_space is missing or not cloudauto's decoding table"
        in (ml / "output" / "failure").read_text()
    )


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
    ml = opt_ml(tmp_path / "ml", request, training_job_hyperparameters(request, opt='"a b; rm -rf /"'), {})
    for name, data in files.items():  # the tarball unpacked where the toolkit unpacks sagemaker_submit_directory
        (ml / "code" / name).parent.mkdir(parents=True, exist_ok=True)
        (ml / "code" / name).write_bytes(data)
    run = run_train(ml, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Invoking script with the following command" in run.stdout + run.stderr  # the toolkit ran it
    assert "got 'a b; rm -rf /'" in run.stdout  # one argument, verbatim: no shell in between
    (definition,) = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    lr = decode(toolkit_decoded(json.loads((ml / "input/config/hyperparameters.json").read_text())))["lr"]
    values = [float(m.group(1)) for m in re.finditer(definition["Regex"], run.stdout)]
    assert values == pytest.approx([0.5, 0.5 + lr, 0.5 + 2 * lr])


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
