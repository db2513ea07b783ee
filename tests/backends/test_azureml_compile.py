"""Azure ML compile: real azure-ai-ml entities whose YAML loads back with load_job."""

from __future__ import annotations

import json
import math

import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.backend import CompileError

from ..conftest import BASE, EXAMPLES, ROOT


def compiled(spec: cloudauto.JobSpec, tmp_path, strict: bool = False):
    job = cloudauto.compile(spec, backend="azureml", strict=strict)
    written = job.write(tmp_path)
    return job, load_job(next(p for p in written if p.suffix == ".yml"))


def test_the_fridge_spec_is_the_tutorials_job(tmp_path):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    _, job = compiled(spec, tmp_path)
    assert type(job).__name__ == "ImageObjectDetectionJob"
    assert job.task_type.lower() == "imageobjectdetection" or "object" in str(job.task_type).lower()
    assert str(job.primary_metric).lower().endswith("mean_average_precision") or "MEAN_AVERAGE_PRECISION" in str(
        job.primary_metric
    )
    assert job.compute.endswith("gpu-cluster-nc24s-v3")
    assert (job.limits.max_trials, job.limits.max_concurrent_trials, job.limits.timeout_minutes) == (20, 4, 360)
    assert str(job.sweep.sampling_algorithm).lower().endswith("random")
    policy = job.sweep.early_termination
    assert (policy.evaluation_interval, policy.slack_factor, policy.delay_evaluation) == (2, 0.2, 6)
    yolo, rcnn = job.search_space
    assert yolo.model_name.values == ["yolov5"]
    assert (yolo.learning_rate.min_value, yolo.learning_rate.max_value) == (0.0001, 0.01)
    assert yolo.model_size.values == ["small", "medium"]
    assert rcnn.model_name.values == ["fasterrcnn_resnet50_fpn"]
    assert (rcnn.learning_rate.min_value, rcnn.learning_rate.max_value) == (0.0001, 0.001)
    assert rcnn.optimizer.values == ["sgd", "adam", "adamw"] and rcnn.min_size.values == [600, 800]
    assert job.training_data.path.startswith("azureml://datastores/workspaceblobstore/paths/fridge/train")
    assert job.training_data.type == "mltable"


def test_the_torch_script_becomes_a_sweep_over_a_command_job(tmp_path):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "torch_digits" / "spec.yaml")
    _, job = compiled(spec, tmp_path)
    assert type(job).__name__ == "SweepJob"
    assert job.trial.command == (
        "python train.py --lr ${{search_space.learning_rate}} --width ${{search_space.width}} "
        "--optimizer ${{search_space.optimizer}} --epochs 12"
    )
    lr = job.search_space["learning_rate"]
    assert type(lr).__name__ == "LogUniform"
    assert lr.min_value == pytest.approx(math.log(0.0003)) and lr.max_value == pytest.approx(math.log(0.03))
    assert job.search_space["width"].values == [8, 16, 32]
    assert (job.objective.goal, job.objective.primary_metric) == ("maximize", "val_accuracy")
    assert type(job.early_termination).__name__ == "MedianStoppingPolicy" and job.early_termination.delay_evaluation == 3
    assert (job.limits.max_total_trials, job.limits.max_concurrent_trials, job.limits.trial_timeout) == (8, 2, 300)
    environment = job.trial.environment  # the example's conda file on Azure's base image: torch, sklearn, mlflow
    assert environment.image.startswith("mcr.microsoft.com/azureml/")
    pip = next(d["pip"] for d in environment.conda_file["dependencies"] if isinstance(d, dict))
    assert {"torch", "scikit-learn", "mlflow", "azureml-mlflow"} <= {p.split(">")[0].split("=")[0].split("<")[0] for p in pip}
    code = tmp_path / job.trial.code  # the example's own folder plus cloudauto's reporting module, beside the YAML
    assert (code / "train.py").is_file() and (code / "cloudauto" / "reporting.py").is_file()


SCRIPT = """\
name: s
task: custom
engine: command
command: {run: "python t.py --a ${{sweep.a}} --b ${{sweep.b}} --c ${{sweep.c}}", code: ., image: python:3.11}
metric: {name: loss, goal: minimize}
sweep:
  space:
    a: "loguniform(-9, -2)"
    b: {randint: [3, 7]}
    c: {randint: 5}
"""


def test_distributions_keep_their_meaning(tmp_path):
    _, job = compiled(cloudauto.JobSpec.from_yaml(SCRIPT), tmp_path)
    a, b, c = (job.search_space[k] for k in "abc")
    assert (a.min_value, a.max_value) == (-9, -2)  # Azure strings keep Azure's exponents, exactly
    assert type(b).__name__ == "Choice" and b.values == [3, 4, 5, 6]  # [3, 7) listed exactly
    assert type(c).__name__ == "Randint" and c.upper == 5


def test_v1_search_space_names_are_refused_with_the_v2_name():
    text = (
        ROOT.joinpath("job_specs", "fridge_objects_od.yaml")
        .read_text()
        .replace("model_size: {choice: [small, medium]}", "img_size: {choice: [640, 704]}")
    )
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_yaml(text), backend="azureml")
    assert "'img_size' is not a search-space parameter" in str(info.value) and "image_size" in str(info.value)


def test_local_data_is_written_as_a_path_and_loads_back(tmp_path):
    from PIL import Image

    (tmp_path / "valid").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "valid" / "1.jpg")
    box = {"label": "can", "topX": 0.1, "topY": 0.1, "bottomX": 0.5, "bottomY": 0.5, "isCrowd": 0}
    (tmp_path / "valid" / "valid.jsonl").write_text(json.dumps({"image_url": "1.jpg", "label": [box]}) + "\n")
    text = (
        ROOT.joinpath("job_specs", "fridge_objects_od.yaml")
        .read_text()
        .replace("azureml://datastores/workspaceblobstore/paths/fridge/valid/", "./valid/valid.jsonl")
    )
    (tmp_path / "fridge.yaml").write_text(text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "fridge.yaml")
    job, loaded = compiled(spec, tmp_path / "out")
    assert "azureml:./" not in job.render()
    assert loaded.validation_data.path == "./fridge-objects-od.data/validation"  # the compiled MLTable beside the YAML
    assert loaded.training_data.path == "azureml://datastores/workspaceblobstore/paths/fridge/train/"  # referenced as is
    assert (tmp_path / "out" / "fridge-objects-od.data" / "validation" / "MLTable").is_file()


def test_what_azure_cannot_run_is_refused():
    with pytest.raises(CompileError, match="s3:// data"):
        cloudauto.compile(
            cloudauto.JobSpec.from_yaml(
                BASE.replace("./train.csv", "s3://b-b/x.csv").replace("tabular", "tabular") + "engine: native\n"
            ),
            backend="azureml",
        )
    bayes = SCRIPT.replace("space:", "sampling: bayesian\n  early_termination: {policy: median_stopping}\n  space:")
    with pytest.raises(CompileError, match="bayesian sampling with early termination"):
        cloudauto.compile(cloudauto.JobSpec.from_yaml(bayes), backend="azureml")
    with pytest.raises(CompileError, match="Bayesian sampling takes only choice, uniform and quniform"):
        cloudauto.compile(
            cloudauto.JobSpec.from_yaml(SCRIPT.replace("space:", "sampling: bayesian\n  space:")), backend="azureml"
        )
    with pytest.raises(CompileError, match="search their own space"):
        cloudauto.compile(cloudauto.JobSpec.from_yaml(BASE + "engine: native\nsweep:\n  space: {lr: 0.1}\n"), backend="azureml")


def test_tabular_automl_job(tmp_path):
    spec = cloudauto.JobSpec.from_yaml(
        BASE.replace("./train.csv", "azureml:iris-train:1").replace("accuracy", "AUC_weighted")
        + "engine: native\nlimits: {max_trials: 12, max_concurrent_trials: 3, timeout: 1h}\n"
        + "backends:\n  azureml: {compute: cpu-cluster}\n"
    )
    _, job = compiled(spec, tmp_path)
    assert type(job).__name__ == "ClassificationJob"
    assert "AUC_WEIGHTED" in str(job.primary_metric).upper()
    assert (job.limits.max_trials, job.limits.max_concurrent_trials, job.limits.timeout_minutes) == (12, 3, 60)
    assert job.training_data.path in ("azureml:iris-train:1", "iris-train:1") and job.target_column_name == "target"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_compiles_and_loads_back(path, tmp_path, example_images):
    spec = cloudauto.JobSpec.from_file(
        path, overrides=["backends.azureml.environment=azureml:cloudauto-autogluon:1", "backends.azureml.compute=cluster"]
    )
    job = cloudauto.compile(spec, backend="azureml")
    written = job.write(tmp_path)
    loaded = load_job(next(p for p in written if p.suffix == ".yml"))
    assert loaded.compute.endswith("cluster") or loaded.compute.endswith("gpu-cluster-nc24s-v3")
    assert "azureml:./" not in job.render()


def test_autogluon_trials_run_cloudauto_s_entry_with_typed_parameters(tmp_path):
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "diabetes.yaml", overrides=["backends.azureml.environment=azureml:cloudauto-autogluon:1"]
    )
    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path)
    spec_json = tmp_path / "diabetes-regression.code" / "spec.json"
    loaded = load_job(yml)
    assert loaded.trial.command.startswith("python -m cloudauto.runtime.azureml_entry --spec spec.json")
    assert "--param GBM.learning_rate=${{search_space.GBM_learning_rate}}" in loaded.trial.command
    lr = loaded.search_space["GBM_learning_rate"]
    assert type(lr).__name__ == "Uniform" and (lr.min_value, lr.max_value) == (0.01, 0.3)
    assert type(loaded.search_space["GBM_num_leaves"]).__name__ == "QUniform"
    assert set(loaded.search_space) == {"models", "GBM_learning_rate", "GBM_num_leaves"}
    assert loaded.objective.primary_metric == "root_mean_squared_error" and loaded.objective.goal == "minimize"
    assert json.loads(spec_json.read_text())["name"] == "diabetes-regression"

    from cloudauto.runtime.azureml_entry import typed_params

    typed = typed_params(spec, {"models": "CAT", "GBM.learning_rate": "0.05", "GBM.num_leaves": "32.0"})
    assert typed == {"models": "CAT", "GBM.learning_rate": 0.05, "GBM.num_leaves": 32, "time_limit": 30}


@pytest.mark.slow
def test_the_azure_entry_trains_and_reports(tmp_path):
    import subprocess
    import sys

    from job_specs import make_data

    make_data.iris(tmp_path)
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml")
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudauto.runtime.azureml_entry",
            "--spec",
            str(tmp_path / "spec.json"),
            "--output",
            str(tmp_path / "out"),
            "--data-train",
            str(tmp_path / "iris" / "train.csv"),
            "--data-test",
            str(tmp_path / "iris" / "test.csv"),
            "--param",
            "models=RF",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert '"models": "RF"' in run.stdout
    assert "[cloudauto-metric] name=accuracy value=" in run.stdout
    assert "[cloudauto-metric] name=test_accuracy value=" in run.stdout
    assert (tmp_path / "out" / "model" / "cloudauto_model.json").is_file()


def test_without_an_environment_trials_get_the_default_one_and_a_warning(tmp_path):
    from azure.ai.ml import load_job

    job = cloudauto.compile(cloudauto.JobSpec.from_file(next(p for p in EXAMPLES if p.name == "iris.yaml")), backend="azureml")
    (warning,) = [w for w in job.warnings if w.path == ("backends", "azureml", "environment")]
    assert "builds from mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04" in warning.message
    written = job.write(tmp_path)
    loaded = load_job(next(p for p in written if p.suffix == ".yml"))
    environment = loaded.trial.environment
    assert environment.image.startswith("mcr.microsoft.com/azureml/")
    pip = next(d for d in environment.conda_file["dependencies"] if isinstance(d, dict))["pip"]
    assert "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" in pip and "azureml-mlflow" in pip


def test_image_tasks_go_to_automl_with_engine_native(tmp_path, example_images):
    _, job = compiled(cloudauto.JobSpec.from_file(ROOT / "job_specs" / "digits_images.yaml"), tmp_path)
    assert type(job).__name__ == "ImageClassificationJob"  # engine: autogluon is a sweep: test_azureml_multimodal.py


def test_two_specs_compiled_into_one_folder_each_keep_their_own_code(tmp_path):
    """The second compile must not leave the first job's YAML pointing at the second job's spec."""
    jobs = {}
    for name in ("diabetes", "iris"):
        jobs[name] = cloudauto.compile(cloudauto.JobSpec.from_file(ROOT / "job_specs" / f"{name}.yaml"), backend="azureml")
        jobs[name].write(tmp_path)
    for job in jobs.values():
        yml = tmp_path / f"{job.spec.name}.job.yml"
        assert yml.read_text().startswith("$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\n")
        loaded = load_job(yml)
        code = (yml.parent / loaded.trial.code).resolve()
        assert code == (tmp_path / f"{job.spec.name}.code").resolve()
        assert json.loads((code / "spec.json").read_text())["name"] == job.spec.name
        assert (code / "cloudauto" / "runtime" / "azureml_entry.py").is_file()  # the YAML runs as `az ml job create -f` takes it
    (tmp_path / "iris-classification.code" / "stale.txt").write_text("from an earlier compile")
    jobs["iris"].write(tmp_path)
    assert not (tmp_path / "iris-classification.code" / "stale.txt").exists()
    assert (tmp_path / "diabetes-regression.code" / "spec.json").is_file()  # the other job's files untouched


def test_automl_yaml_names_its_schema(tmp_path):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    job = cloudauto.compile(spec, backend="azureml")
    (yml,) = job.write(tmp_path)
    assert yml.read_text().startswith("$schema: https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/autoMLJob.schema.json\n")
    load_job(yml)


def test_a_named_environment_is_told_it_needs_mlflow_and_a_conda_file_without_it_is_refused(tmp_path):
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml", overrides=["backends.azureml.environment=azureml:mine:1"]
    )
    job = cloudauto.compile(spec, backend="azureml")
    assert any(w.field == "backends.azureml.environment" and "azureml-mlflow" in w.message for w in job.warnings)
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "env.yml").write_text("name: x\ndependencies:\n  - python=3.11\n  - pip:\n      - torch\n")
    (tmp_path / "spec.yaml").write_text(
        "name: cmd\ntask: custom\nengine: command\nmetric: {name: acc, goal: maximize}\n"
        "command: {run: python train.py, code: ., environment: env.yml}\n"
    )
    with pytest.raises(CompileError, match="env.yml lacks mlflow, azureml-mlflow"):
        cloudauto.compile(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="azureml")


HALVING = """\
name: halving
task: custom
engine: command
metric: {name: val_accuracy, goal: maximize}
command: {run: 'python train.py --lr ${{sweep.lr}}', code: ., environment: 'azureml:torch:1'}
sweep:
  space: {lr: {uniform: [0.01, 0.1]}}
  early_termination: {policy: POLICY, min_resource: 2, max_resource: 18, resource: epoch}
"""


@pytest.mark.parametrize("policy", ["asha", "hyperband"])
def test_asha_and_hyperband_become_the_nearest_bandit_with_a_warning_or_are_refused_under_strict(policy, tmp_path):
    spec = cloudauto.JobSpec.from_yaml(HALVING.replace("POLICY", policy))
    job, loaded = compiled(spec, tmp_path)
    (warning,) = [w for w in job.warnings if w.field == "sweep.early_termination"]
    assert warning.message.startswith(f"azureml: {policy} policy: Azure ML's sweep jobs have no successive halving")
    assert "a BanditPolicy with slack_factor 0.333333 (1/η) evaluated every 2 metric logs" in warning.message
    assert "ranks the runs at each rung (epoch 2, 6) and keeps the top 1/3" in warning.message
    assert "no run is stopped at max_resource 18" in warning.message
    bandit = loaded.early_termination  # what load_job reads back from the YAML written
    assert type(bandit).__name__ == "BanditPolicy"
    assert (bandit.slack_factor, bandit.evaluation_interval, bandit.delay_evaluation) == (0.333333, 2, 0)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="azureml", strict=True)
    assert f"{policy} policy: Azure ML's sweep jobs have no successive halving" in str(info.value)
    assert "(an error under --strict)" in str(info.value) and "sweep.early_termination" in str(info.value)


@pytest.mark.slow
def test_the_autogluon_fields_of_issue_32_reach_the_azure_trial_and_its_entry_reports_them(tmp_path):
    """positive_class, data.ignore_columns and metrics: travel in the job's code folder (spec.json) with the train and
    test inputs; the entry run from that folder fits for the class asked for and logs each metric and the class."""
    import subprocess
    import sys
    from pathlib import Path

    from .test_local_ag32 import _tables

    _tables(tmp_path)
    (tmp_path / "med.yaml").write_text(
        "name: med-azure\ntask: tabular_classification\n"
        "data: {train: train.csv, test: test.csv, label: diagnosis, ignore_columns: [patient_id]}\n"
        "metric: accuracy\nmetrics: [f1, roc_auc]\nautogluon: {positive_class: benign}\n"
        "backends: {azureml: {compute: cpu-cluster, environment: 'azureml:autogluon:1'}}\n"
        "sweep: {space: {models: {choice: [GBM, RF]}, time_limit: 15}}\nlimits: {max_trials: 2}\n"
    )
    spec = cloudauto.JobSpec.from_file(tmp_path / "med.yaml")
    _, loaded = compiled(spec, tmp_path / "out")
    code = tmp_path / "out" / Path(loaded.trial.code)  # relative to the job's YAML, as the CLI's `az ml job create` reads it
    sent = json.loads((code / "spec.json").read_text())
    assert sent["autogluon"]["positive_class"] == "benign" and sent["data"]["ignore_columns"] == ["patient_id"]
    assert sent["metrics"] == ["f1", "roc_auc"] and {"train", "test"} <= set(loaded.inputs)
    assert "--data-train ${{inputs.train}}" in loaded.trial.command and "--data-test ${{inputs.test}}" in loaded.trial.command
    run = subprocess.run(  # the command Azure ML runs, from the code folder it uploads, the inputs mounted as files
        [sys.executable, "-m", "cloudauto.runtime.azureml_entry", "--spec", "spec.json", "--output", str(tmp_path / "model"),
         "--data-train", str(tmp_path / "train.csv"), "--data-test", str(tmp_path / "test.csv"), "--param", "models=GBM"],
        cwd=code, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert '[cloudauto] positive_class: "benign"' in run.stdout
    for name in ("val_f1", "test_f1", "val_roc_auc", "test_roc_auc", "test_accuracy"):
        assert f"[cloudauto-metric] name={name} value=" in run.stdout
    info = json.loads((tmp_path / "model" / "model" / "cloudauto_model.json").read_text())
    assert info["positive_class"] == "benign" and info["ignored_columns"] == ["patient_id"]


def test_compute_gpus_says_where_it_is_checked(tmp_path):
    """compute.gpus: 1 with a CPU vm_size compiled in silence: compile has no list of Azure's VM sizes (only the
    region's, read at submit), so it says that submit's preflight checks the cluster's GPUs; gpus: 0 says nothing."""
    text = BASE + "compute: {gpus: 1}\nbackends:\n  azureml: {compute: cpu-cluster, vm_size: Standard_DS3_v2}\n"
    job, _ = compiled(cloudauto.JobSpec.from_yaml(text), tmp_path / "a")
    (note,) = [n for n in job.notes if n.startswith("compute.gpus")]
    assert "cpu-cluster" in note and "Standard_DS3_v2" in note and "preflight" in note, note
    plain, _ = compiled(cloudauto.JobSpec.from_yaml(text.replace("gpus: 1", "gpus: 0")), tmp_path / "b")
    assert not any(n.startswith("compute.gpus") for n in plain.notes)
