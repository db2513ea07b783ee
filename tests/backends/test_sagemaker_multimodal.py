"""Image and text trials on SageMaker: the channels an image table and its checkpoint folders travel in,
and (slow) one trial of the compiled request under sagemaker-training, from channels downloaded from
moto's S3, whose model then serves image bytes through sagemaker-inference without the checkpoint."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import uuid

import boto3
import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.runtime.trial_inputs import CHECKPOINTS_FILE

from .multimodal_specs import image_spec
from .sagemaker_service import (
    INFERENCE_TOOLKIT,
    objective_definition,
    opt_ml,
    run_train,
    s3_channels,
    training_job_hyperparameters,
)


def test_an_image_table_travels_with_its_folder_and_each_checkpoint_folder_in_its_own_channel(tmp_path):
    spec = image_spec(tmp_path)
    job = cloudauto.compile(spec, backend="sagemaker")
    definition = job.native["TrainingJobDefinition"]
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert set(uris) == {"train", "test", "checkpoint_0", "checkpoint_1"}
    assert uris["train"] == uris["test"] and uris["train"].endswith("/")  # one folder, uploaded once
    assert uris["checkpoint_0"].endswith("/checkpoints/0/") and uris["checkpoint_1"].endswith("/checkpoints/1/")
    assert definition["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"  # an image task defaults to a GPU
    assert definition["AlgorithmSpecification"]["TrainingImage"].endswith("/autogluon:1.6.3-cu133-amzn2023")
    uploads = [n for n in job.notes if n.startswith("upload on submit:")]
    assert any(n.endswith(f"data/digits -> {uris['train']}") for n in uploads)
    assert any(n.endswith(f"checkpoints/resnet14t -> {uris['checkpoint_1']}") for n in uploads)
    # the tuned values stay as the spec writes them: the leaderboard shows them
    (ranges,) = job.native["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]
    assert ranges["Values"] == ['"./data/checkpoints/resnet10t"', '"./data/checkpoints/resnet14t"']
    same = image_spec(tmp_path, f"name={spec.name}", f"backends.sagemaker.bucket={spec.backends.sagemaker.bucket}")
    assert cloudauto.compile(same, backend="sagemaker").native == job.native  # the same spec, the same request


def test_a_missing_checkpoint_folder_or_an_image_outside_the_tables_folder_is_refused_at_its_line(tmp_path):
    spec = image_spec(tmp_path, 'sweep.space."model.timm_image.checkpoint_name"=./data/checkpoints/nowhere')
    with pytest.raises(CompileError) as caught:
        cloudauto.compile(spec, backend="sagemaker")
    text = str(caught.value)
    assert "checkpoint ./data/checkpoints/nowhere: no such folder" in text and "sweep.space" in text
    for backend in ("local", "azureml"):  # the same check on every backend
        with pytest.raises(CompileError, match="no such folder"):
            cloudauto.compile(spec, backend=backend)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    rows = pd.read_csv(tmp_path / "data" / "digits" / "small_train.csv")
    rows["image"] = "../data/digits/" + rows["image"]
    rows.to_csv(outside / "train.csv", index=False)
    with pytest.raises(CompileError, match=r"names 240 image\(s\) outside its folder"):
        cloudauto.compile(image_spec(tmp_path, "data.train=./elsewhere/train.csv"), backend="sagemaker")


def test_hub_names_and_s3_checkpoints_need_no_channel(tmp_path):
    spec = image_spec(
        tmp_path, "sweep.space.\"model.timm_image.checkpoint_name\"={choice: [resnet18, 's3://weights/team/resnet10t/']}"
    )
    channels = [
        c["ChannelName"] for c in cloudauto.compile(spec, backend="sagemaker").native["TrainingJobDefinition"]["InputDataConfig"]
    ]
    assert channels == ["train", "test"]
    with pytest.raises(CompileError, match=r"checkpoint gs://w/x: gs:// is not read here; a hub name, a folder or s3://"):
        cloudauto.compile(image_spec(tmp_path, 'sweep.space."model.timm_image.checkpoint_name"=gs://w/x'), backend="sagemaker")


def test_submit_uploads_the_table_folder_once_the_checkpoints_and_their_table_in_the_bundle(tmp_path, sm_session):
    session, _ = sm_session
    spec = image_spec(tmp_path)
    boto3.client("s3").create_bucket(Bucket=spec.backends.sagemaker.bucket)
    job = cloudauto.submit(spec, backend="sagemaker")
    request = {"TrainingJobDefinition": job.describe()["TrainingJobDefinition"]}
    s3 = session.client("s3")
    got = s3_channels(s3, request, tmp_path / "s3")
    assert (got["train"] / "small_train.csv").is_file() and (got["test"] / "small_test.csv").is_file()
    named = pd.read_csv(tmp_path / "data" / "digits" / "small_train.csv")["image"]
    assert all((got["train"] / p).is_file() for p in named)  # each image at its path relative to the table
    assert sorted(p.name for p in got["checkpoint_1"].iterdir()) == ["config.json", "pytorch_model.bin"]
    source = json.loads(request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"])
    bucket, _, key = source.removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        table = json.loads(tar.extractfile(CHECKPOINTS_FILE).read())
    assert table == {"./data/checkpoints/resnet10t": "checkpoint_0", "./data/checkpoints/resnet14t": "checkpoint_1"}


@pytest.mark.slow
def test_an_image_trial_runs_under_the_toolkit_and_its_model_serves_image_bytes_without_its_checkpoint(tmp_path, sm_session, aws):
    session, tuner = sm_session
    spec = image_spec(tmp_path)
    boto3.client("s3").create_bucket(Bucket=spec.backends.sagemaker.bucket)
    job = cloudauto.submit(spec, backend="sagemaker")
    described = job.describe()
    request = {k: described[k] for k in ("TrainingJobDefinition", "HyperParameterTuningJobConfig")}
    s3 = session.client("s3")
    channels = s3_channels(s3, request, tmp_path / "s3")
    hps = training_job_hyperparameters(request, **{"model.timm_image.checkpoint_name": '"./data/checkpoints/resnet14t"'})
    ml = opt_ml(tmp_path / "opt" / "ml", request, hps, channels)
    shutil.rmtree(tmp_path / "s3")
    run = run_train(ml, timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert '"model.timm_image.checkpoint_name": "./data/checkpoints/resnet14t"' in out  # as the spec wrote it
    assert str(ml / "input" / "data" / "checkpoint_1") in out  # ... trained from the folder its channel brought
    definition = objective_definition(request)
    values = [float(m.group(1)) for m in re.finditer(definition["Regex"], out)]
    assert len(values) >= 4 and values[-1] == max(values[:-1])  # each validation (2 an epoch), then the objective
    assert "[cloudauto] test_accuracy:" in out

    # the artifact must load where no checkpoint folder is: in the endpoint's container
    shutil.rmtree(ml / "input" / "data")
    shutil.rmtree(tmp_path / "data" / "checkpoints")
    model_tar = io.BytesIO()
    with tarfile.open(fileobj=model_tar, mode="w:gz") as tar:
        tar.add(ml / "model", arcname=".")
    assert model_tar.tell() < 60_000_000 and not list((ml / "model").rglob("pytorch_model.bin"))  # no checkpoint copy inside
    tuner.run_trial(job.id, 1, log=out, model=model_tar.getvalue())
    endpoint_name = f"ep-{uuid.uuid4().hex[:8]}"
    endpoint = job.deploy(name=endpoint_name)
    container = session.client("sagemaker").describe_model(ModelName=endpoint_name)["PrimaryContainer"]
    assert container["Image"].endswith("/autogluon:1.6.3-cu133-amzn2023")  # ml.g4dn.xlarge serves an image model
    bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
    served = tmp_path / "served"
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        tar.extractall(served, filter="data")
    test = pd.read_csv(tmp_path / "data" / "digits" / "small_test.csv").head(3)
    images = [tmp_path / "data" / "digits" / p for p in test["image"]]
    (tmp_path / "probe.py").write_text(_IMAGE_PROBE)
    probe = subprocess.run(
        [sys.executable, str(tmp_path / "probe.py"), str(served), *map(str, images)], capture_output=True, text=True, timeout=300
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    png, instances, bad = json.loads(probe.stdout.splitlines()[-1])
    assert png[0] == 200 and len(png[2]) == 1 and set(png[2][0]) >= {"prediction", "proba_0", "proba_9"}
    assert instances[0] == 200 and [r["prediction"] for r in instances[2]][:1] == [png[2][0]["prediction"]]
    assert len(instances[2]) == 3
    assert bad[0] == 400 and "not an image" in bad[2]

    # Endpoint.score takes the image files; moto answers what the container answered
    import requests

    requests.post(
        f"{aws}/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": json.dumps(instances[2]), "ContentType": "application/json"}]},
        timeout=10,
    ).raise_for_status()
    scored = endpoint.score(images)
    assert list(scored["image"]) == [str(p) for p in images]
    assert list(scored["prediction"]) == [r["prediction"] for r in instances[2]]


# sagemaker-inference's Transformer, as the serving container calls the handler
_IMAGE_PROBE = (
    """
import base64, json, sys
served = sys.argv[1]
"""
    + INFERENCE_TOOLKIT
    + """

def call(body, content_type):
    context = Context({"Content-Type": content_type, "Accept": "application/json"})
    (answer,) = transformer.transform([{"body": bytearray(body)}], context)
    if context.status != 200:
        return [context.status, context.content_type, answer if isinstance(answer, str) else answer.decode()]
    return [context.status, context.content_type, json.loads(answer)]


images = [open(p, "rb").read() for p in sys.argv[2:]]
instances = {"instances": [{"image": base64.b64encode(i).decode()} for i in images]}
print(json.dumps([
    call(images[0], "image/png"),
    call(json.dumps(instances).encode(), "application/json"),
    call(b"not an image", "image/png"),
]))
"""
)
