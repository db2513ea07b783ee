"""Foundation models compiled for the clouds: the Chronos-2 weights folder travels as the trial's checkpoint
channel (SageMaker) or uri_folder input (Azure ML), GPU instances by default, hub names allowed and said in a note,
and a serverless endpoint refused where its memory cannot hold the model."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.spec.errors import CloudautoError

from .foundation_specs import bike_head
from .sagemaker_service import INFERENCE_TOOLKIT

SPEC = "\n" + bike_head("fm-{tag}", "./data") + """sweep:
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
# the weights in the autogluon block rather than the space: they travel the same way
IN_BLOCK = SPEC.replace("    Chronos2.model_path: {weights}\n", "").replace(
    "sweep:\n", "autogluon:\n  hyperparameters:\n    Chronos2: {{model_path: {weights}, fine_tune_steps: 5}}\nsweep:\n"
)


@pytest.fixture
def data(foundation_data) -> Path:
    return foundation_data


def spec_at(data: Path, weights: str = "./data/checkpoints/chronos2-tiny", text: str = SPEC) -> cloudauto.JobSpec:
    path = data / f"spec-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text.format(tag=uuid.uuid4().hex[:6], weights=weights))
    return cloudauto.JobSpec.from_file(path)


def test_sagemaker_carries_the_weights_folder_in_a_checkpoint_channel_on_a_gpu_instance(data):
    job = cloudauto.compile(spec_at(data), backend="sagemaker")
    definition = job.native["TrainingJobDefinition"]
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert set(uris) == {"train", "test", "checkpoint_0"} and uris["checkpoint_0"].endswith("/checkpoints/0/")
    assert any(n.endswith(f"data/checkpoints/chronos2-tiny -> {uris['checkpoint_0']}") for n in job.notes)
    assert definition["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"  # a foundation model defaults to a GPU
    from cloudauto.runtime.sagemaker_entry import decode, toolkit_decoded

    statics = definition["StaticHyperParameters"]  # the grid's points (ETS and Theta once each), as the spec writes them
    zero_shot = decode(toolkit_decoded({**statics, "cloudauto_grid_point": "0"}))
    assert zero_shot["Chronos2.model_path"] == "./data/checkpoints/chronos2-tiny"
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


def test_weights_in_the_autogluon_block_travel_as_the_sagemaker_channel_and_the_azure_input(data, tmp_path, monkeypatch):
    spec = spec_at(data, text=IN_BLOCK)
    assert "Chronos2.model_path" not in spec.space.subspaces[0]
    job = cloudauto.compile(spec, backend="sagemaker")
    definition = job.native["TrainingJobDefinition"]
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]}
    assert set(uris) == {"train", "test", "checkpoint_0"} and uris["checkpoint_0"].endswith("/checkpoints/0/")
    assert any(n.endswith(f"data/checkpoints/chronos2-tiny -> {uris['checkpoint_0']}") for n in job.notes)

    azure = cloudauto.compile(spec, backend="azureml")
    loaded = load_job(azure.write(tmp_path / "out")[0])
    assert "--input checkpoint_0=${{inputs.checkpoint_0}}" in loaded.trial.command
    assert loaded.inputs["checkpoint_0"].type == "uri_folder"
    assert Path(loaded.inputs["checkpoint_0"].path) == data / "data" / "checkpoints" / "chronos2-tiny"
    code = tmp_path / "out" / f"{spec.name}.code"
    assert json.loads((code / "checkpoints.json").read_text()) == {"./data/checkpoints/chronos2-tiny": "checkpoint_0"}

    # the Azure trial: its entry points the block's model_path at the folder the input is mounted at
    from cloudauto.runtime import azureml_entry

    seen = {}

    def trial(spec, params, out_dir, report, **options):
        seen["block"] = spec.autogluon.hyperparameters["Chronos2"]
        raise SystemExit(0)

    monkeypatch.setattr("cloudauto.runtime.autogluon_trial.run_trial", trial)
    mounted = tmp_path / "mnt" / "checkpoint_0"
    with pytest.raises(SystemExit):
        azureml_entry.main(
            ["--spec", str(code / "spec.json"), "--output", str(tmp_path / "trial"), "--data-train", "/mnt/train.csv"]
            + ["--param", "cloudauto_grid_point=0", "--input", f"checkpoint_0={mounted}"]  # Chronos2 zero-shot
        )
    assert seen["block"] == {"model_path": str(mounted), "fine_tune_steps": 5}


def test_a_missing_folder_in_the_autogluon_block_is_refused_at_its_line(data):
    spec = spec_at(data, "./data/checkpoints/nowhere", IN_BLOCK)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="sagemaker")
    (issue,) = [spec.locate(i) for i in info.value.issues if "nowhere" in i.message]
    assert issue.field == "autogluon.hyperparameters.Chronos2.model_path" and "no such folder" in issue.message


def test_a_docker_mode_trial_reads_block_weights_from_the_channel_they_arrive_in(data, tmp_path):
    """Docker mode stages each local weights folder as a channel; the entry points the block's model_path at it."""
    from cloudauto_local.container import prepare_trial, write_code

    from cloudauto.runtime.sagemaker_entry import channel_folder
    from cloudauto.runtime.trial_inputs import spec_with_checkpoints

    spec = spec_at(data, text=IN_BLOCK)
    trial_dir = tmp_path / "run" / "trials" / "0"
    message = {"out_dir": str(trial_dir), "params": {"models": "Chronos2"}, "base_dir": spec.base_dir}
    _, channels = prepare_trial(spec, message)
    assert channels == ["train", "test", "checkpoint_0"]
    arrived = trial_dir / "opt_ml" / "input" / "data" / "checkpoint_0"
    assert sorted(p.name for p in arrived.iterdir()) == ["config.json", "model.safetensors"]
    code = write_code(tmp_path / "run", spec, spec.base_dir)
    sent = json.loads((code / "spec.json").read_text())
    env = {"SM_INPUT_DIR": str(trial_dir / "opt_ml" / "input")}
    got = spec_with_checkpoints(sent, lambda name: channel_folder(name, env), code)
    assert got["autogluon"]["hyperparameters"]["Chronos2"] == {"model_path": str(arrived), "fine_tune_steps": 5}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["space", "block"])
def test_a_sagemaker_trial_under_the_toolkit_reads_chronos2_from_its_checkpoint_channel(data, tmp_path, sm_session, where):
    """The compiled request's channels laid out as SageMaker does (/opt/ml/input/data/checkpoint_0), the weights folder
    the spec names deleted, the entry run by sagemaker-training's `train`: Chronos-2 is fitted from the channel's
    folder, and the saved predictor forecasts with that folder gone too (the endpoint's container)."""
    import boto3
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    from .sagemaker_service import opt_ml, run_train, s3_channels, training_job_hyperparameters

    session, _ = sm_session
    shutil.copytree(data / "data" / "bike", tmp_path / "data" / "bike")
    shutil.copytree(data / "data" / "checkpoints" / "chronos2-tiny", tmp_path / "data" / "checkpoints" / "chronos2-tiny")
    text = (SPEC if where == "space" else IN_BLOCK).replace("time_limit: 60", "time_limit: 30")
    spec = spec_at(tmp_path, text=text)
    boto3.client("s3").create_bucket(Bucket=spec.backends.sagemaker.bucket)
    job = cloudauto.submit(spec, backend="sagemaker")
    described = job.describe()
    request = {k: described[k] for k in ("TrainingJobDefinition", "HyperParameterTuningJobConfig")}
    channels = s3_channels(session.client("s3"), request, tmp_path / "s3")
    assert set(channels) == {"train", "test", "checkpoint_0"}
    hps = training_job_hyperparameters(request, cloudauto_grid_point="0")  # the grid's first point: Chronos2 zero-shot
    ml = opt_ml(tmp_path / "opt" / "ml", request, hps, channels)
    shutil.rmtree(tmp_path / "s3")
    shutil.rmtree(tmp_path / "data" / "checkpoints")  # only the channel holds the weights now
    run = run_train(ml, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "[cloudauto] test_MASE:" in out and "foundation weights copied into the model: Chronos2" in out

    predictor = TimeSeriesPredictor.load(str(ml / "model" / "model"))
    model = predictor._learner.load_trainer().load_model("Chronos2")
    arrived = ml / "input" / "data" / "checkpoint_0"
    assert model.get_hyperparameter("model_path") == str(arrived)  # fitted from the channel's folder
    history = TimeSeriesDataFrame.from_data_frame(
        pd.read_csv(tmp_path / "data" / "bike" / "train.csv"), id_column="station", timestamp_column="timestamp"
    )
    before = predictor.predict(history)
    shutil.rmtree(arrived)
    pd.testing.assert_frame_equal(before, TimeSeriesPredictor.load(str(ml / "model" / "model")).predict(history))


PRESET = "\n" + bike_head("fm-{tag}", "./data") + """sweep:
  space:
    presets: medium_quality
    Chronos2.model_path: {weights}
    time_limit: 40
backends:
  sagemaker: {{bucket: cloudauto-fm-{tag}}}
"""


def test_chronos2_reached_through_a_preset_with_its_weights_is_a_foundation_model(data):
    """F5: `presets: medium_quality` fits Chronos-2 from the folder given (AutoGluon 1.6.3's preset holds Chronos2):
    a GPU instance by default, and a serverless endpoint too small for it refused."""
    from cloudauto_sagemaker.endpoint import serverless_config

    from cloudauto.runtime.foundation import uses_foundation

    spec = spec_at(data, text=PRESET)
    assert uses_foundation(spec)
    definition = cloudauto.compile(spec, backend="sagemaker").native["TrainingJobDefinition"]
    assert definition["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    with pytest.raises(CloudautoError, match="needs about 4096 MB; --memory 1024"):
        serverless_config(1024, 5, spec.task, spec)
    # without weights the trial leaves the preset's Chronos2 out (offline by default): no foundation model
    bare = spec_at(data, text=PRESET.replace("    Chronos2.model_path: {weights}\n", ""))
    assert not uses_foundation(bare)


def test_the_serverless_memory_check_looks_at_the_trial_being_served(data):
    """F5: a sweep over Chronos2 and SeasonalNaive whose served trial is SeasonalNaive serves no foundation model."""
    from cloudauto_sagemaker.endpoint import serverless_config

    spec = spec_at(data, text=SPEC.replace("[Chronos2, ETS, Theta]", "[Chronos2, SeasonalNaive]"))
    naive = {"models": "SeasonalNaive", "Chronos2.model_path": "./data/checkpoints/chronos2-tiny", "time_limit": 60}
    assert serverless_config(2048, 5, spec.task, spec, params=naive) == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    with pytest.raises(CloudautoError, match="needs about 4096 MB"):
        serverless_config(2048, 5, spec.task, spec, params={**naive, "models": "Chronos2"})
    preset = {"presets": "medium_quality", "Chronos2.model_path": "./data/checkpoints/chronos2-tiny"}
    with pytest.raises(CloudautoError, match="needs about 4096 MB"):
        serverless_config(2048, 5, spec.task, spec, params=preset)


def test_the_preset_table_is_autogluons_own():
    """The foundation families each AutoGluon preset fits, as cloudauto knows them without importing AutoGluon."""
    pytest.importorskip("autogluon.timeseries")
    from autogluon.timeseries.configs import get_hyperparameter_presets, get_predictor_presets

    from cloudauto.runtime.foundation import PRESET_FOUNDATION, TIMESERIES_WEIGHTS

    tables = get_hyperparameter_presets()
    found = {}
    for name, preset in get_predictor_presets().items():
        table = preset.get("hyperparameters", "default")
        families = sorted(m for m in (tables[table] if isinstance(table, str) else table) if m in TIMESERIES_WEIGHTS)
        if families:
            found[name] = tuple(families)
    assert PRESET_FOUNDATION == found


@pytest.mark.parametrize("trial, instance", [(None, "Standard_DS3_v2"), (1, "Standard_NC6s_v3")])
def test_the_azure_serving_instance_follows_the_trial_being_served(data, workspace, trial, instance):
    """A sweep over Chronos2 and ETS whose best trial is ETS serves on the CPU default; its Chronos2 trial on the
    foundation (GPU) default, as SageMaker's endpoint and serverless checks choose."""
    from mlflow.tracking import MlflowClient

    fake, _ = workspace
    text = SPEC.replace("[Chronos2, ETS, Theta]", "[ETS, Chronos2]").replace(
        "{{compute: gpu-cluster}}", "{{compute: gpu-cluster, environment: 'azureml:autogluon:1'}}"
    )
    spec = spec_at(data, text=text)
    job = cloudauto.submit(spec, backend="azureml")
    tracking = MlflowClient(tracking_uri=fake.tracking_uri)
    experiment = tracking.create_experiment(f"fm-{job.id}")
    for model, mase in (("ETS", 0.5), ("Chronos2", 0.9)):  # ETS is the better (lower MASE)
        run = tracking.create_run(experiment)
        tracking.log_metric(run.info.run_id, spec.objective.name, mase, step=0)
        fake.add_trial(job.id, {"models": model, "Chronos2.fine_tune": False}, name=run.info.run_id)
    assert [t.params["models"] for t in job.trials()] == ["ETS", "Chronos2"]
    job.deploy(name=f"fm-ep-{trial or 0}", trial=trial)
    deployment = fake.sent("PUT", "/deployments/cloudauto")[-1]
    assert deployment["properties"]["instanceType"] == instance


@pytest.mark.slow
def test_a_chronos2_trial_is_served_by_sagemaker_inference_with_its_mean_and_quantiles(
    data, tmp_path, sm_session, aws, monkeypatch
):
    """A zero-shot Chronos-2 trial saved as the SageMaker entry saves it, its weights folder deleted, deployed (a GPU
    instance: the served trial is a foundation model), and its repacked model.tar.gz served by cloudauto's handler
    under sagemaker-inference as the serving container runs it: the forecast (mean and Chronos-2's nine quantiles)
    is the in-process predict's for the same history, and Endpoint.score gives it as the local endpoint does."""
    import io
    import subprocess
    import sys
    import tarfile

    import boto3
    import requests
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor
    from cloudauto_sagemaker.endpoint import GPU_SERVING

    from cloudauto.runtime.autogluon_trial import run_trial

    session, tuner = sm_session
    shutil.copytree(data / "data" / "bike", tmp_path / "data" / "bike")
    weights = tmp_path / "data" / "checkpoints" / "chronos2-tiny"
    shutil.copytree(data / "data" / "checkpoints" / "chronos2-tiny", weights)
    spec = spec_at(tmp_path)
    boto3.client("s3").create_bucket(Bucket=spec.backends.sagemaker.bucket)
    job = cloudauto.submit(spec, backend="sagemaker")
    params = {"models": "Chronos2", "Chronos2.model_path": str(weights), "Chronos2.fine_tune": False, "time_limit": 30}
    monkeypatch.chdir(tmp_path)  # the entry runs where the channels' data is: ./data as the spec writes it
    run_trial(spec, params, tmp_path / "out", lambda value: False)
    shutil.rmtree(weights)  # the endpoint's container has no weights folder: the model holds them
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        tar.add(tmp_path / "out", arcname=".")
    tuner.run_trial(job.id, 0, log=f"[cloudauto-metric] name={spec.objective.name} value=0.9 step=0", model=packed.getvalue())
    assert job.trials()[0].params["models"] == "Chronos2"

    name = f"fm-{uuid.uuid4().hex[:8]}"
    endpoint = job.deploy(name=name)
    sm, s3 = session.client("sagemaker"), session.client("s3")
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert variant["InstanceType"] == GPU_SERVING  # the served trial is a foundation model
    container = sm.describe_model(ModelName=name)["PrimaryContainer"]
    bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
    served = tmp_path / "served"
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        tar.extractall(served, filter="data")

    history = pd.read_csv(tmp_path / "data" / "bike" / "train.csv")
    history.to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "probe.py").write_text(_FORECAST_PROBE)
    probe = subprocess.run(
        [sys.executable, str(tmp_path / "probe.py"), str(served), str(tmp_path / "history.csv"), str(tmp_path / "answer.json")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **container["Environment"]},
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    answers = json.loads((tmp_path / "answer.json").read_text())
    frame = TimeSeriesDataFrame.from_data_frame(history, id_column="station", timestamp_column="timestamp")
    expected = TimeSeriesPredictor.load(str(tmp_path / "out" / "model")).predict(frame).reset_index()
    expected.columns = [str(c) for c in expected.columns]
    quantiles = ["mean", *(str(q / 10) for q in range(1, 10))]
    for kind in ("binary", "json"):  # Endpoint.score's npy request and a JSON one
        got = pd.DataFrame.from_records(answers[kind])
        assert len(got) == 2 * 48 and set(quantiles) <= set(got.columns), got.columns
        assert got["station"].astype(str).tolist() == expected["item_id"].astype(str).tolist()
        assert pd.to_datetime(got["timestamp"]).tolist() == expected["timestamp"].tolist()
        for column in quantiles:
            assert got[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-5)

    # Endpoint.score gives what the container answered (moto plays the endpoint; it answers the second handle's
    # request, the same endpoint and body, from its cache: one answer queued)
    answer = {"Body": json.dumps(answers["json"]), "ContentType": "application/json"}
    requests.post(
        f"{aws}/moto-api/static/sagemaker/endpoint-results", json={"results": [answer]}, timeout=10
    ).raise_for_status()
    by_name = cloudauto.get_backend("sagemaker").endpoint(name)  # the task read from its model, as `cloudauto score` does
    for handle in (endpoint, by_name):
        scored = handle.score(history)  # the whole history in one request, answered per series and step
        assert len(scored) == 2 * 48 and set(quantiles) <= set(map(str, scored.columns))
        assert scored["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), rel=1e-5)


# sagemaker-inference's Transformer, as the serving container calls the handler: the history as Endpoint.score
# encodes it (npy where every column allows, else JSON), and as JSON; the answers read as Endpoint.score reads them
_FORECAST_PROBE = (
    """
import json, sys
import pandas as pd
served, source, out = sys.argv[1], sys.argv[2], sys.argv[3]
"""
    + INFERENCE_TOOLKIT
    + """
from cloudauto.scoring import body_encoder, predictions_frame

history = pd.read_csv(source)
answers = {}
for kind, binary in (("binary", True), ("json", False)):
    encode, content_type, accept = body_encoder(history, binary)
    context = Context({"Content-Type": content_type, "Accept": accept})
    (answer,) = transformer.transform([{"body": bytearray(encode(history))}], context)
    assert context.status == 200, answer
    frame = predictions_frame(answer if isinstance(answer, bytes) else answer.encode())
    answers[kind] = json.loads(frame.to_json(orient="records", date_format="iso"))
json.dump(answers, open(out, "w"))
"""
)


def test_the_tabular_preset_table_is_autogluons_own():
    """atk5 F2: the foundation families each AutoGluon tabular preset's portfolio holds (aliases too), as cloudauto
    knows them without importing AutoGluon; `extreme_quality_v140` picks the tabfm portfolio on small tables."""
    pytest.importorskip("autogluon.tabular")
    from autogluon.tabular.configs.hyperparameter_configs import hyperparameter_config_dict
    from autogluon.tabular.configs.presets_configs import tabular_presets_alias, tabular_presets_dict

    from cloudauto.runtime.foundation import TABULAR_PRESET_FOUNDATION, TABULAR_WEIGHTS

    found = {}
    for name in [*tabular_presets_dict, *tabular_presets_alias]:
        preset = tabular_presets_dict[tabular_presets_alias.get(name, name)]
        table = preset.get("hyperparameters")
        if preset.get("_experimental_dynamic_hyperparameters"):
            table = "zeroshot_2025_tabfm"  # its portfolio on tables of up to 30000 rows
        families = sorted(m for m in (hyperparameter_config_dict[table] if isinstance(table, str) else table or {}) if m in TABULAR_WEIGHTS)
        if families:
            found[name] = tuple(families)
    assert TABULAR_PRESET_FOUNDATION == found


TABULAR_PRESET = """\
name: tp
task: tabular_classification
data: {{train: ./train.csv, label: y}}
metric: accuracy
sweep:
  space:
    presets: {preset}
    time_limit: 30
backends:
  sagemaker: {{bucket: cloudauto-fm-tp}}
  azureml: {{compute: gpu-cluster}}
"""


@pytest.mark.parametrize("preset", ["extreme_quality", "eq", "tabarena", "noncommercial"])
def test_a_tabular_preset_of_foundation_models_is_a_foundation_spec_on_the_clouds(tmp_path, preset):
    """atk5 F2: `presets: extreme_quality` fits TabICL and TabDPT-Turbo: a GPU instance by default on SageMaker, the
    hub note, and the served trial's endpoint on a GPU; `best_quality` holds none."""
    from cloudauto.runtime.foundation import serves_on_gpu, trial_families, uses_foundation

    path = tmp_path / "spec.yaml"
    path.write_text(TABULAR_PRESET.format(preset=preset))
    spec = cloudauto.JobSpec.from_file(path)
    assert uses_foundation(spec) and serves_on_gpu(spec, {"presets": preset})
    assert "TABICL" in trial_families(spec, {"presets": preset})
    job = cloudauto.compile(spec, backend="sagemaker")
    assert job.native["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert any("weights from the Hugging Face hub" in n and "TABICL" in n for n in job.notes), job.notes
    path.write_text(TABULAR_PRESET.format(preset="best_quality"))
    plain = cloudauto.JobSpec.from_file(path)
    assert not uses_foundation(plain) and not serves_on_gpu(plain, {"presets": "best_quality"})
    assert cloudauto.compile(plain, backend="sagemaker").native["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.m5.2xlarge"


def test_the_azure_compile_note_says_the_endpoint_follows_the_served_trial(data, tmp_path):
    """The serving instance follows the trial served (serves_on_gpu): a sweep over Chronos2 and ETS whose best trial
    is ETS serves on a CPU, so the note no longer says every endpoint defaults to a GPU."""
    job = cloudauto.compile(spec_at(data), backend="azureml")
    (note,) = [n for n in job.notes if "foundation models train and serve best on GPUs" in n]
    assert "endpoints default to a GPU instance" not in note
    assert "an endpoint's default instance follows the trial it serves" in note, note
