"""Image and text trials on Azure ML (engine: autogluon): the sweep YAML loads back with its table folders and
checkpoint folders as inputs and the MultiModal environment, submit sends them through the real MLClient,
and (slow) the trial's command line, filled in as Azure ML fills it, trains; its model scores through score.py."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.backend import CompileError

from .multimodal_specs import image_spec

AZURE = ("backends.azureml.compute=gpu-cluster",)


def test_an_image_sweep_reads_its_table_in_the_folder_mount_and_gets_each_checkpoint_as_an_input(tmp_path):
    spec = image_spec(tmp_path, *AZURE)
    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path / "out")
    loaded = load_job(yml)
    command = loaded.trial.command
    assert "--data-train ${{inputs.train}}/small_train.csv" in command
    assert "--data-test ${{inputs.test}}/small_test.csv" in command
    assert "--input checkpoint_0=${{inputs.checkpoint_0}} --input checkpoint_1=${{inputs.checkpoint_1}}" in command
    inputs = loaded.inputs
    assert inputs["train"].type == "uri_folder" and Path(inputs["train"].path) == tmp_path / "data" / "digits"
    assert Path(inputs["checkpoint_1"].path) == tmp_path / "data" / "checkpoints" / "resnet14t"
    choice = loaded.search_space["model_timm_image_checkpoint_name"]
    assert choice.values == ["./data/checkpoints/resnet10t", "./data/checkpoints/resnet14t"]  # as the spec writes them
    pip = next(d for d in loaded.trial.environment.conda_file["dependencies"] if isinstance(d, dict))["pip"]
    assert {"autogluon.multimodal==1.6.3", "torch==2.13.0", "torchvision==0.28.0"} <= set(pip)
    table = json.loads((tmp_path / "out" / f"{spec.name}.code" / "checkpoints.json").read_text())
    assert table == {"./data/checkpoints/resnet10t": "checkpoint_0", "./data/checkpoints/resnet14t": "checkpoint_1"}
    native = cloudauto.compile(  # engine: native stays an Azure AutoML image job
        cloudauto.JobSpec.from_file(tmp_path / "spec.yaml", overrides=[*AZURE, "engine=native", "sweep=null"]),
        backend="azureml",
    )
    assert type(native.native).__name__ == "ImageClassificationJob"


def test_an_azureml_checkpoint_folder_is_mounted_and_a_tabular_environment_has_no_torch(tmp_path):
    uri = "azureml://datastores/weights/paths/resnet10t/"
    spec = image_spec(tmp_path, *AZURE, f'sweep.space."model.timm_image.checkpoint_name"={uri}')
    loaded = load_job(cloudauto.compile(spec, backend="azureml").write(tmp_path / "out")[0])
    assert loaded.inputs["checkpoint_0"].path == uri and "checkpoint_1" not in loaded.inputs
    with pytest.raises(CompileError, match="azureml:// is not read here"):
        cloudauto.compile(spec, backend="sagemaker")
    from cloudauto_azureml.compile import default_environment

    assert not any("torch" in p for p in default_environment().conda_file["dependencies"][-1]["pip"])


def test_submit_uploads_the_table_folder_and_the_checkpoints(workspace, tmp_path):
    fake, _ = workspace
    spec = image_spec(tmp_path, *AZURE)
    job = cloudauto.submit(spec, backend="azureml")
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    inputs = sent["properties"]["inputs"]
    assert {"train", "test", "checkpoint_0", "checkpoint_1"} <= set(inputs)
    assert all(inputs[n]["jobInputType"] == "uri_folder" for n in ("train", "checkpoint_0"))
    assert all(inputs[n]["uri"].startswith("azureml://") for n in ("train", "checkpoint_0"))  # uploaded, not local paths
    blobs = set(fake.blobs)
    named = pd.read_csv(tmp_path / "data" / "digits" / "small_train.csv")["image"]
    assert all(any(b.endswith(f"/{p}") for b in blobs) for p in named[:5])  # the images beside the table
    assert any(b.endswith("/pytorch_model.bin") for b in blobs) and any(b.endswith("/checkpoints.json") for b in blobs)


@pytest.mark.slow
def test_the_trial_command_trains_from_its_mounts_and_the_model_scores_through_score_py(tmp_path):
    spec = image_spec(tmp_path, *AZURE)
    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path / "out")
    loaded = load_job(yml)
    mounts = tmp_path / "mnt"
    filled = loaded.trial.command
    for name, value in loaded.inputs.items():  # Azure ML mounts each input and writes its mount path in
        target = mounts / name
        shutil.copytree(value.path, target)
        filled = filled.replace(f"${{{{inputs.{name}}}}}", str(target))
    filled = filled.replace("${{outputs.model}}", str(tmp_path / "outputs" / "model"))
    filled = filled.replace("${{search_space.model_timm_image_checkpoint_name}}", "./data/checkpoints/resnet10t")
    assert "${{" not in filled
    shutil.rmtree(tmp_path / "data" / "checkpoints")  # the trial has only its mounts
    argv = shlex.split(filled)
    argv[0] = sys.executable
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}"}
    run = subprocess.run(argv, cwd=yml.parent / loaded.trial.code, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert '"model.timm_image.checkpoint_name": "./data/checkpoints/resnet10t"' in run.stdout
    assert "[cloudauto-metric] name=accuracy value=" in run.stdout and "name=test_accuracy" in run.stdout
    model = tmp_path / "outputs" / "model" / "model"
    assert (model / "cloudauto_model.json").is_file()

    shutil.rmtree(mounts)  # the endpoint's container has the model only
    images = [tmp_path / "data" / "digits" / p for p in pd.read_csv(tmp_path / "data" / "digits" / "small_test.csv")["image"][:2]]
    body = {
        "input_data": {"columns": ["image"], "index": [0, 1], "data": [base64.b64encode(p.read_bytes()).decode() for p in images]}
    }
    probe = (
        "import json, sys\nfrom cloudauto.runtime.inference import init, run\ninit()\nprint(json.dumps(run(sys.stdin.read())))\n"
    )
    scored = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "AZUREML_MODEL_DIR": str(tmp_path / "outputs" / "model")},
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    answer = json.loads(scored.stdout.strip().splitlines()[-1])
    answer = json.loads(answer) if isinstance(answer, str) else answer
    assert len(answer) == 2 and {"prediction", "proba_0", "proba_9"} <= set(answer[0])


def test_image_files_scored_on_an_image_model_come_back_one_row_per_image(tmp_path, example_images):
    """cloudauto's score.py answers a class and probabilities per image: score() gives the same frame as elsewhere."""
    from cloudauto_azureml.endpoint import AzureEndpoint

    sent: list[dict] = []

    class Scorer:  # the deployment's answer to one image, as run() gives it (the slow test runs run() itself)
        def post(self, body: bytes, content_type: str) -> bytes:
            sent.append(json.loads(body))
            return json.dumps([{"prediction": "7", "proba_1": 0.2, "proba_7": 0.8}]).encode()

    endpoint = AzureEndpoint("digits-ep", client=None)
    endpoint._scorer = Scorer()
    images = sorted((example_images / "images").iterdir())[:3]
    frame = endpoint.score(images)
    assert list(frame.columns) == ["image", "prediction", "proba_1", "proba_7"]
    assert list(frame["image"]) == [str(p) for p in images] and list(frame["prediction"]) == ["7"] * 3
    assert [s["input_data"]["columns"] for s in sent] == [["image"]] * 3  # Azure's image request, one per image
    assert len(endpoint.score(images[0])) == 1
    folder = tmp_path / "few"
    folder.mkdir()
    for p in images[:2]:
        shutil.copyfile(p, folder / p.name)
    assert len(endpoint.score(folder)) == 2
