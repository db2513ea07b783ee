"""Foundation models compiled for the clouds: the Chronos-2 weights folder travels as the trial's checkpoint
channel (SageMaker) or uri_folder input (Azure ML), GPU instances by default, hub names allowed and said in a note,
and a serverless endpoint refused where its memory cannot hold the model."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.spec.errors import CloudautoError

SPEC = """
name: fm-{tag}
task: time_series_forecasting
data:
  train: ./data/bike/train.csv
  test: ./data/bike/test.csv
  label: count
  timestamp: timestamp
  item_id: station
  prediction_length: 48
  freq: h
metric: MASE
sweep:
  sampling: grid
  space:
    models: {{choice: [Chronos2, ETS, Theta]}}
    Chronos2.model_path: {weights}
    Chronos2.fine_tune: {{choice: [false, true]}}
    time_limit: 60
backends:
  sagemaker: {{bucket: cloudauto-fm-{tag}}}
  azureml: {{compute: gpu-cluster}}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from job_specs import make_data

    out = tmp_path_factory.mktemp("fmc")
    make_data.bike(out / "data", stations=2, days=7)
    make_data.foundation(out / "data")
    return out


def spec_at(data: Path, weights: str = "./data/checkpoints/chronos2-tiny") -> cloudauto.JobSpec:
    path = data / f"spec-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(SPEC.format(tag=uuid.uuid4().hex[:6], weights=weights))
    return cloudauto.JobSpec.from_file(path)


def test_sagemaker_carries_the_weights_folder_in_a_checkpoint_channel_on_a_gpu_instance(data):
    job = cloudauto.compile(spec_at(data), backend="sagemaker")
    definition = job.native["TrainingJobDefinition"]
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert set(uris) == {"train", "test", "checkpoint_0"} and uris["checkpoint_0"].endswith("/checkpoints/0/")
    assert any(n.endswith(f"data/checkpoints/chronos2-tiny -> {uris['checkpoint_0']}") for n in job.notes)
    assert definition["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"  # a foundation model defaults to a GPU
    statics = definition["StaticHyperParameters"]
    assert json.loads(statics["Chronos2.model_path"]) == "./data/checkpoints/chronos2-tiny"  # as the spec writes it
    assert not any("Hugging Face hub" in n for n in job.notes)

    hub = cloudauto.compile(spec_at(data, "autogluon/chronos-2-small"), backend="sagemaker")  # the container reaches it
    assert "InputDataConfig" in hub.native["TrainingJobDefinition"]
    assert not any(c["ChannelName"].startswith("checkpoint") for c in hub.native["TrainingJobDefinition"]["InputDataConfig"])
    assert any("Chronos2: weights from the Hugging Face hub" in n for n in hub.notes)
    estimate = cloudauto.compile(spec_at(data), backend="sagemaker").estimate
    assert estimate.basis.instance_type == "ml.g5.2xlarge"  # the estimate prices the GPU instance


def test_azureml_gets_the_weights_folder_as_a_uri_folder_input(data, tmp_path):
    spec = spec_at(data)
    job = cloudauto.compile(spec, backend="azureml")
    loaded = load_job(job.write(tmp_path / "out")[0])
    assert "--input checkpoint_0=${{inputs.checkpoint_0}}" in loaded.trial.command
    assert loaded.inputs["checkpoint_0"].type == "uri_folder"
    assert Path(loaded.inputs["checkpoint_0"].path) == data / "data" / "checkpoints" / "chronos2-tiny"
    table = json.loads((tmp_path / "out" / f"{spec.name}.code" / "checkpoints.json").read_text())
    assert table == {"./data/checkpoints/chronos2-tiny": "checkpoint_0"}
    assert any("GPU cluster" in n for n in job.notes)


def test_a_serverless_endpoint_is_refused_where_its_memory_cannot_hold_the_model(data):
    from cloudauto_sagemaker.endpoint import serverless_config

    spec = spec_at(data)
    with pytest.raises(CloudautoError, match=r"needs about 4096 MB; --memory 2048 cannot hold it: deploy with --memory 4096"):
        serverless_config(2048, 5, spec.task, spec)
    assert serverless_config(4096, 5, spec.task, spec) == {"MemorySizeInMB": 4096, "MaxConcurrency": 5}
