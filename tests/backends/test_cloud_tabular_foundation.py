"""TabICL and TabDPT on the clouds, from make_data.py's random-weight folders: the folder travels as the SageMaker
trial's checkpoint channel (its trial run by sagemaker-training's `train`) and as the Azure ML sweep's uri_folder
input (its trial's command line run as Azure ML fills it); each trial fits from the folder it arrived in, and the
saved predictor answers the same probabilities with that folder gone (an endpoint's container has the model only)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

import cloudauto

from .test_azureml_environment import _GATE, _pins, closure

# family -> (its weights parameter, make_data.py's folder, a setting that keeps the fit small, the file it reads)
FAMILIES = {
    "TABICL": ("model_path", "tabicl-tiny", "TABICL.n_estimators: 2", "tabicl-classifier-tiny.ckpt"),
    "TABDPT": ("model_weight_path", "tabdpt-tiny", "TABDPT.n_ensembles: 1", "tabdpt-tiny.safetensors"),
}
PACKAGE = {"TABICL": "tabicl", "TABDPT": "tabdpt"}

SPEC = """name: fm-{tag}
task: tabular_classification
data: {{train: ./data/iris/train.csv, test: ./data/iris/test.csv, label: target}}
metric: accuracy
sweep:
  sampling: grid
  space:
    models: {{choice: [{family}, GBM]}}
    {family}.{param}: ./data/checkpoints/{folder}
    {extra}
    time_limit: 30
backends:
  sagemaker: {{bucket: cloudauto-fm-{tag}}}
  azureml: {{compute: gpu-cluster}}
"""


def project(foundation_data: Path, tmp_path: Path, family: str) -> cloudauto.JobSpec:
    """A copy of the iris tables and the family's folder under tmp_path/data, and a spec over [family, GBM] there."""
    pytest.importorskip(PACKAGE[family], reason=f"{family} needs autogluon.tabular[{PACKAGE[family]}] (the foundation extra)")
    param, folder, extra, _ = FAMILIES[family]
    shutil.copytree(foundation_data / "data" / "iris", tmp_path / "data" / "iris")
    shutil.copytree(foundation_data / "data" / "checkpoints" / folder, tmp_path / "data" / "checkpoints" / folder)
    path = tmp_path / "spec.yaml"
    tag = uuid.uuid4().hex[:6]
    path.write_text(SPEC.format(tag=tag, family=family, param=param, folder=folder, extra=extra))
    return cloudauto.JobSpec.from_file(path)


def fitted_from(model_dir: Path, family: str) -> tuple[str, str]:
    """(the foundation model's name, the weights file its saved hyperparameters name)."""
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor.load(str(model_dir))
    trainer = predictor._learner.load_trainer()
    (name,) = [n for n in trainer.get_model_names() if n.upper().startswith(family)]
    return name, str(trainer.load_model(name).params[FAMILIES[family][0]])


def probabilities(model_dir: Path, table: pd.DataFrame) -> pd.DataFrame:
    from autogluon.tabular import TabularPredictor

    return TabularPredictor.load(str(model_dir)).predict_proba(table)


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_sagemaker_trial_under_the_toolkit_fits_from_its_checkpoint_channel_and_predicts_without_it(
    foundation_data, tmp_path, sm_session, family
):
    """The compiled request's channels laid out as SageMaker does (/opt/ml/input/data/checkpoint_0), the folder the
    spec names deleted, the entry run by sagemaker-training's `train`: the family is fitted from the channel's file,
    and the saved predictor's probabilities are the same with the channel gone."""
    import boto3

    from .sagemaker_service import opt_ml, run_train, s3_channels, training_job_hyperparameters

    session, _ = sm_session
    spec = project(foundation_data, tmp_path, family)
    boto3.client("s3").create_bucket(Bucket=spec.backends.sagemaker.bucket)
    job = cloudauto.submit(spec, backend="sagemaker")
    described = job.describe()
    request = {k: described[k] for k in ("TrainingJobDefinition", "HyperParameterTuningJobConfig")}
    channels = s3_channels(session.client("s3"), request, tmp_path / "s3")
    assert set(channels) == {"train", "test", "checkpoint_0"}
    assert sorted(p.name for p in channels["checkpoint_0"].iterdir()) == [FAMILIES[family][3]]
    (models,) = request["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]
    assert models["Name"] == "models" and len(models["Values"]) == 2  # SageMaker's own grid over [family, GBM]
    hps = training_job_hyperparameters(request, models=models["Values"][0])  # the family's trial
    ml = opt_ml(tmp_path / "opt" / "ml", request, hps, channels)
    shutil.rmtree(tmp_path / "s3")
    shutil.rmtree(tmp_path / "data" / "checkpoints")  # only the channel holds the weights now
    run = run_train(ml, env={"HF_HUB_OFFLINE": "1"}, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "[cloudauto-metric] name=accuracy value=" in out and "name=test_accuracy" in out
    # the toolkit installed the bundle's requirements (the family's extra, which the AWS image lacks) before the entry
    assert f"autogluon.tabular[{PACKAGE[family]}]==1.6.3" in (ml / "code" / "requirements.txt").read_text().splitlines()
    if family == "TABICL":  # tabicl's pickle leaves the network out unless its own save option is on
        assert "foundation weights kept in the model: TabICL" in out

    model_dir = ml / "model" / "model"
    arrived = ml / "input" / "data" / "checkpoint_0"
    _, read = fitted_from(model_dir, family)
    assert read == str(arrived / FAMILIES[family][3])  # fitted from the channel's file
    test = pd.read_csv(tmp_path / "data" / "iris" / "test.csv").drop(columns="target")
    before = probabilities(model_dir, test)
    shutil.rmtree(arrived)
    pd.testing.assert_frame_equal(before, probabilities(model_dir, test))


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_azureml_trial_fits_from_its_mounted_uri_folder_input_and_predicts_without_it(foundation_data, tmp_path, family):
    """The sweep YAML loads back with the folder as a uri_folder input; its trial's command line, filled in as Azure ML
    fills it (the input's mount path, the grid's first point) and run from the compiled code folder with the spec's
    folder deleted, fits the family from the mounted folder; the saved model predicts the same with the mount gone."""
    from azure.ai.ml import load_job

    param, folder, _, file = FAMILIES[family]
    spec = project(foundation_data, tmp_path, family)
    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path / "out")
    loaded = load_job(yml)
    assert loaded.inputs["checkpoint_0"].type == "uri_folder"
    assert Path(loaded.inputs["checkpoint_0"].path) == tmp_path / "data" / "checkpoints" / folder
    code = yml.parent / loaded.trial.code
    assert json.loads((code / "checkpoints.json").read_text()) == {f"./data/checkpoints/{folder}": "checkpoint_0"}
    assert "--input checkpoint_0=${{inputs.checkpoint_0}}" in loaded.trial.command

    mounts = tmp_path / "mnt"
    mounts.mkdir()
    filled = loaded.trial.command
    for name, value in loaded.inputs.items():  # Azure ML mounts each input and writes its mount path in
        target = mounts / name
        (shutil.copytree if Path(value.path).is_dir() else shutil.copyfile)(value.path, target)
        filled = filled.replace(f"${{{{inputs.{name}}}}}", str(target))
    filled = filled.replace("${{outputs.model}}", str(tmp_path / "outputs" / "model"))
    filled = filled.replace("${{search_space.models}}", family)
    assert "${{" not in filled, filled
    shutil.rmtree(tmp_path / "data" / "checkpoints")  # the trial has only its mounts
    argv = shlex.split(filled)
    assert argv[:3] == ["python", "-m", "cloudauto.runtime.azureml_entry"]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}",
        # the default environment played from this venv: an import its pins do not bring fails as on Azure
        "CLOUDAUTO_TEST_ALLOWED": json.dumps(sorted(closure(_pins(loaded.trial.environment)))),
    }
    run = subprocess.run([sys.executable, "-c", _GATE, *argv[3:]], cwd=code, capture_output=True, text=True, timeout=900, env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "[cloudauto-metric] name=accuracy value=" in out and "name=test_accuracy" in out

    model_dir = tmp_path / "outputs" / "model" / "model"
    _, read = fitted_from(model_dir, family)
    assert read == str(mounts / "checkpoint_0" / file)  # the weights parameter pointed at the mounted folder's file
    test = pd.read_csv(foundation_data / "data" / "iris" / "test.csv").drop(columns="target")
    before = probabilities(model_dir, test)
    shutil.rmtree(mounts)
    pd.testing.assert_frame_equal(before, probabilities(model_dir, test))


def test_the_default_azure_environment_installs_the_tabular_foundation_families_extras(foundation_data, tmp_path):
    """AutoGluon imports tabicl, tabdpt, Mitra's einx in the fit and on load: the default environment of the trials
    (and of the endpoints and batch jobs, the same one) pins autogluon.tabular with those families' extras; a sweep
    without them keeps the plain pin (its environment, already built, is reused)."""
    from azure.ai.ml import load_job
    from cloudauto_azureml.compile import AUTOGLUON_PIN, default_environment

    shutil.copytree(foundation_data / "data", tmp_path / "data")
    text = SPEC.format(tag="x", family="TABICL", param="model_path", folder="tabicl-tiny", extra="TABDPT.n_ensembles: 1")
    text = text.replace("[TABICL, GBM]", "[TABICL, MITRA, TABDPT, GBM]").replace(
        "    time_limit",
        "    MITRA.hf_model: ./data/checkpoints/mitra-tiny\n    TABDPT.model_weight_path: ./data/checkpoints/tabdpt-tiny\n    time_limit",
    )
    (tmp_path / "spec.yaml").write_text(text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    loaded = load_job(cloudauto.compile(spec, backend="azureml").write(tmp_path / "out")[0])
    pins = _pins(loaded.trial.environment)
    assert pins[0] == "autogluon.tabular[lightgbm,catboost,xgboost,mitra,tabdpt,tabicl]==1.6.3"
    assert {"tabicl", "tabdpt", "einx", "torch"} <= closure(pins)
    assert _pins(default_environment(spec.task, spec)) == pins  # what an endpoint or a batch job of this spec runs in

    plain = cloudauto.JobSpec.from_yaml(
        "name: plain\ntask: tabular_classification\ndata: {train: t.csv, label: y}\nmetric: accuracy\n"
        "sweep:\n  space:\n    models: {choice: [GBM, XT]}\n"
    )
    assert _pins(default_environment(plain.task, plain))[0] == AUTOGLUON_PIN


# what the AWS AutoGluon images install (`pip install autogluon==<version>`: autogluon.tabular[all]), played from this venv
AWS_IMAGE = ["autogluon.tabular[all]==1.6.3"]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_sagemaker_bundle_and_served_model_name_the_packages_the_aws_image_lacks(foundation_data, tmp_path, family):
    """tabicl and tabdpt are not in autogluon.tabular[all] (the AWS image's): the trial's requirements.txt and the
    repacked model's code/requirements.txt (each installed by its toolkit before cloudauto runs) name AutoGluon's
    own extra for them; a sweep without them asks for nothing more than before."""
    import io
    import tarfile

    from cloudauto_sagemaker.endpoint import repack

    from cloudauto.runtime.bundle import REQUIREMENTS, bundle_files, requirements

    spec = project(foundation_data, tmp_path, family)
    extra = f"autogluon.tabular[{PACKAGE[family]}]==1.6.3"
    assert PACKAGE[family] not in closure(AWS_IMAGE)  # the image alone would fail on the import
    lines = bundle_files(spec)["requirements.txt"].decode().splitlines()
    assert lines[-1] == extra and PACKAGE[family] in closure([*AWS_IMAGE, *lines])

    model = io.BytesIO()
    with tarfile.open(fileobj=model, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("model/cloudauto_model.json"), io.BytesIO(b""))
    with tarfile.open(fileobj=io.BytesIO(repack(model.getvalue(), spec)), mode="r:gz") as tar:
        served = tar.extractfile("code/requirements.txt").read().decode().splitlines()
    assert served == lines

    mitra = cloudauto.JobSpec.from_yaml(
        "name: m\ntask: tabular_classification\ndata: {train: t.csv, label: y}\nmetric: accuracy\n"
        "sweep:\n  space:\n    models: {choice: [MITRA, GBM]}\n"
    )
    assert requirements(mitra) == REQUIREMENTS  # Mitra's extra is in the image's autogluon.tabular[all]
