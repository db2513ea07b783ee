"""SageMaker submit, follow, deploy and score against a moto server on loopback.

moto stores the tuning job, the training jobs, S3, CloudWatch Logs and the endpoint, but it
does not run trials and lacks ListTrainingJobsForHyperParameterTuningJob and
StopHyperParameterTuningJob. `FakeTuner` plays the tuning service's part for those: it
creates each trial's training job in moto with the hyperparameters SageMaker would send,
writes its log lines to CloudWatch Logs and its model.tar.gz where SageMaker puts it, and
answers the two missing operations from what it created. The slow test runs the real
entry script from the uploaded source tarball against an /opt/ml tree built from S3.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

import cloudauto
from cloudauto.backend import CompileError, JobStatus, TrialStatus
from cloudauto.cli import main as cli
from cloudauto.registry import get_backend
from cloudauto.reporting import LINE_FORMAT
from cloudauto.scoring import ScoringError
from cloudauto.spec.errors import CloudautoError

from ..conftest import ROOT
from .sagemaker_service import INFERENCE_TOOLKIT, ROLE, opt_ml, run_train, training_job_hyperparameters


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _iris_spec(tmp_path: Path, *, bucket: bool = True, **extra: str) -> cloudauto.JobSpec:
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    text = (ROOT / "job_specs" / "iris.yaml").read_text()
    spec_path = tmp_path / "iris.yaml"
    spec_path.write_text(text)
    tag = uuid.uuid4().hex[:6]
    overrides = [f"name=iris-{tag}", *(f"{k}={v}" for k, v in extra.items())]
    if bucket:  # the bucket the user names must exist; the default bucket is created by submit
        overrides.append(f"backends.sagemaker.bucket=cloudauto-test-{tag}")
        boto3.client("s3").create_bucket(Bucket=f"cloudauto-test-{tag}")
    return cloudauto.JobSpec.from_file(spec_path, overrides=overrides)


def _report_lines(name: str, values: list[float]) -> str:
    return "\n".join(
        ["[cloudauto] trial parameters: {}", *(LINE_FORMAT.format(name=name, value=v, step=i) for i, v in enumerate(values))]
    )


def test_submit_stages_source_and_data_then_creates_the_tuning_job(tmp_path, sm_session):
    session, _ = sm_session
    spec = _iris_spec(tmp_path)
    job = cloudauto.submit(spec, backend="sagemaker")
    described = job.describe()
    definition = described["TrainingJobDefinition"]
    bucket = spec.backends.sagemaker.bucket
    keys = {o["Key"] for o in session.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    source = json.loads(definition["StaticHyperParameters"]["sagemaker_submit_directory"])
    assert source == f"s3://{bucket}/cloudauto/{job.id}/source/sourcedir.tar.gz"
    assert f"cloudauto/{job.id}/data/train/train.csv" in keys and f"cloudauto/{job.id}/data/test/test.csv" in keys
    body = session.client("s3").get_object(Bucket=bucket, Key=f"cloudauto/{job.id}/data/train/train.csv")["Body"].read()
    assert body == (tmp_path / "data" / "iris" / "train.csv").read_bytes()
    bucket_, _, key = source[len("s3://") :].partition("/")
    tarball = session.client("s3").get_object(Bucket=bucket_, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        names = set(tar.getnames())
        assert json.loads(tar.extractfile("spec.json").read())["name"] == spec.name
    assert {"cloudauto_entry.py", "inference.py", "requirements.txt", "cloudauto/runtime/sagemaker_entry.py"} <= names
    assert json.loads(definition["StaticHyperParameters"]["sagemaker_program"]) == "cloudauto_entry.py"
    assert definition["RoleArn"] == ROLE
    assert job.status() is JobStatus.COMPLETED  # moto completes at once
    # the handle attaches by name and reads the spec back from the tarball
    again = get_backend("sagemaker").attach(job.id)
    assert again.spec.to_dict() == spec.to_dict()


def test_submit_refuses_a_missing_role_or_file_before_uploading(tmp_path, sm_session, monkeypatch):
    session, _ = sm_session
    spec = _iris_spec(tmp_path)
    monkeypatch.delenv("SAGEMAKER_ROLE")
    with pytest.raises(CloudautoError, match=r"no IAM role for SageMaker training: set SAGEMAKER_ROLE .*backends.sagemaker.role") as info:
        cloudauto.submit(spec, backend="sagemaker")
    assert info.value.exit_code == 3  # the backend is not set up, as without credentials or a region
    monkeypatch.setenv("SAGEMAKER_ROLE", ROLE)
    (tmp_path / "data" / "iris" / "test.csv").unlink()
    with pytest.raises(CompileError, match=r"test.csv: no such file"):
        cloudauto.submit(spec, backend="sagemaker")
    assert "Contents" not in session.client("s3").list_objects_v2(Bucket=spec.backends.sagemaker.bucket)  # nothing half-staged


def test_the_default_bucket_is_created_by_sagemakers_convention(tmp_path, sm_session):
    session, _ = sm_session
    spec = _iris_spec(tmp_path, bucket=False)
    job = cloudauto.submit(spec, backend="sagemaker")
    uri = job.describe()["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    assert uri.startswith("s3://sagemaker-us-east-1-123456789012/")
    session.client("s3").head_bucket(Bucket="sagemaker-us-east-1-123456789012")


def test_trials_best_logs_and_cancel_follow_the_service(tmp_path, sm_session):
    session, tuner = sm_session
    spec = _iris_spec(tmp_path)
    job = cloudauto.submit(spec, backend="sagemaker")
    name = spec.objective.name
    model = _tar({"cloudauto_model.json": b"{}"})
    first = tuner.run_trial(job.id, 0, log=_report_lines(name, [0.80, 0.90]), model=model)
    second = tuner.run_trial(job.id, 1, log=_report_lines(name, [0.85, 0.95, 0.97]), model=model)
    tuner.run_trial(job.id, 0, log="Traceback ...\nValueError: boom", model=model, status="Failed")
    trials = job.trials(metrics=True)
    assert [t.id for t in trials[:2]] == [first, second]
    assert [t.status for t in trials] == [TrialStatus.COMPLETED, TrialStatus.COMPLETED, TrialStatus.FAILED]
    assert trials[1].objective == pytest.approx(0.97) and [p.value for p in trials[1].metrics] == [0.85, 0.95, 0.97]
    assert trials[2].objective is None and "AlgorithmError" in trials[2].error
    # tuned strings decoded back through the job's cloudauto_space table (typed, exact)
    expected = cloudauto.compile(spec, backend="sagemaker").native
    grid = expected["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]
    assert {k: v for k, v in trials[1].params.items() if k in {r["Name"] for r in grid}} == {
        r["Name"]: json.loads(r["Values"][min(1, len(r["Values"]) - 1)]) for r in grid
    }
    assert job.best_trial().id == second
    assert "ValueError: boom" in job.logs(2) and "== trial 1" in job.logs()
    board = job.leaderboard()
    assert list(board["trial"])[:2] == [1, 0]
    job.cancel()
    assert tuner.stopped == [job.id]
    out = job.download(tmp_path / "model")
    assert (out / "cloudauto_model.json").is_file()


def test_the_spec_s_other_metrics_come_back_from_each_training_job(tmp_path, sm_session):
    """Issue 32: `metrics:` figures are kept by SageMaker per training job (FinalMetricDataList, through the metric
    definitions); trials, leaderboard, best and the result file show them as for a local job."""
    from click.testing import CliRunner

    session, tuner = sm_session
    spec = _iris_spec(tmp_path, **{"metrics": "[log_loss, balanced_accuracy]"})
    job = cloudauto.submit(spec, backend="sagemaker")
    figures = {"val_log_loss": 0.31, "test_log_loss": 0.35, "val_balanced_accuracy": 0.9, "test_balanced_accuracy": 0.88}
    log = "\n".join(
        [
            _report_lines("accuracy", [0.93]),
            '[cloudauto] positive_class: "virginica"',  # what the entry prints for a binary label (AutoGluon's pick)
            *(LINE_FORMAT.format(name=k, value=v, step=0) for k, v in {"test_accuracy": 0.91, **figures}.items()),
        ]
    )
    tuner.run_trial(job.id, 0, log=log, model=_tar({"x": b""}))
    tuner.run_trial(job.id, 1, log=_report_lines("accuracy", [0.5]), model=_tar({"x": b""}), status="InProgress")
    first, running = job.trials()
    assert first.scores == pytest.approx({"test_accuracy": 0.91, **figures})
    assert running.scores == {}
    board = job.leaderboard()
    assert board.loc[board["trial"] == 0, "log_loss"].item() == pytest.approx(0.31)
    result = CliRunner().invoke(cli, ["best", job.id, "--backend", "sagemaker"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)["metrics"]
    assert metrics["log_loss"] == pytest.approx({"validation": 0.31, "test": 0.35})
    assert metrics["accuracy"] == pytest.approx({"validation": 0.93, "test": 0.91})
    assert json.loads(result.output)["positive_class"] == "virginica"  # from the trial's log: not a figure SageMaker keeps
    result = CliRunner().invoke(cli, ["trials", job.id, "--backend", "sagemaker"])
    assert result.exit_code == 0 and "balanced_accuracy" in result.output and "0.31" in result.output, result.output
    result = CliRunner().invoke(cli, ["trials", job.id, "--backend", "sagemaker", "--trial", "0"])
    assert result.exit_code == 0 and "positive class: virginica (" in result.output, result.output


def test_the_cli_follows_a_sagemaker_job(tmp_path, sm_session):
    from click.testing import CliRunner

    session, tuner = sm_session
    spec = _iris_spec(tmp_path)
    job = cloudauto.submit(spec, backend="sagemaker")
    tuner.run_trial(job.id, 0, log=_report_lines(spec.objective.name, [0.9]), model=_tar({"x": b""}))
    runner = CliRunner()
    result = runner.invoke(cli, ["status", job.id, "--backend", "sagemaker"])
    assert result.exit_code == 0, result.output
    assert f"{job.id}: completed; 1/" in result.output and "best: trial 0" in result.output
    result = runner.invoke(cli, ["status", "no-such-job", "--backend", "sagemaker"])
    assert result.exit_code == 3 and "no-such-job" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["deploy", job.id, "--backend", "sagemaker", "--port", "8080"])
    assert result.exit_code == 64 and "--port does not apply to the sagemaker backend" in result.output
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(cli, ["deploy", job.id, "--backend", "sagemaker", "--name", name, "--instance-type", "ml.c5.xlarge"])
    assert result.exit_code == 0 and result.output.startswith(name), result.output
    variant = session.client("sagemaker").describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.xlarge"
    result = runner.invoke(cli, ["delete-endpoint", name, "--backend", "sagemaker"])
    assert result.exit_code == 0, result.output


def test_deploy_repacks_the_model_with_the_handler_and_scores_in_batches(tmp_path, sm_session, aws):
    import pandas as pd
    import requests

    session, tuner = sm_session
    spec = _iris_spec(tmp_path)
    job = cloudauto.submit(spec, backend="sagemaker")
    tuner.run_trial(job.id, 0, log=_report_lines(spec.objective.name, [0.9]), model=_tar({"predictor.pkl": b"model bytes"}))
    name = f"ep-{uuid.uuid4().hex[:8]}"
    endpoint = job.deploy(name=name)
    sm = session.client("sagemaker")
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    container = sm.describe_model(ModelName=name)["PrimaryContainer"]
    assert container["Image"].endswith("/autogluon:1.6.3-cpu-amzn2023")  # the release that trained it serves it
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
    packed = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        assert tar.extractfile("predictor.pkl").read() == b"model bytes"
        assert b"model_fn" in tar.extractfile("code/inference.py").read()
        assert "code/cloudauto/runtime/inference.py" in tar.getnames()
    config = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"][0]
    assert config["InstanceType"] == "ml.m5.xlarge" and config["InitialInstanceCount"] == 1

    # 5 rows in batches of 2: three InvokeEndpoint calls, answered in order by moto
    rows = pd.read_csv(tmp_path / "data" / "iris" / "test.csv").drop(columns=["target"]).head(5)
    answers = [[{"prediction": 0}, {"prediction": 1}], [{"prediction": 2}, {"prediction": 0}], [{"prediction": 1}]]
    requests.post(
        f"{aws}/moto-api/static/sagemaker/endpoint-results",
        json={
            "results": [
                {
                    "Body": json.dumps(a),
                    "ContentType": "application/json",
                    "InvokedProductionVariant": "AllTraffic",
                    "CustomAttributes": "",
                }
                for a in answers
            ]
        },
        timeout=10,
    ).raise_for_status()
    endpoint.max_rows = 2
    endpoint.binary = False  # moto's server reads request bodies as UTF-8; npy goes through the toolkit in the slow test
    predictions = endpoint.score(rows, concurrency=1)  # moto hands its queued answers out in arrival order
    assert list(predictions["prediction"]) == [0, 1, 2, 0, 1] and list(predictions.index) == list(rows.index)
    with pytest.raises(ScoringError, match="cannot score a int"):
        endpoint.score(3)
    endpoint.delete()
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName=name)


@pytest.mark.slow
def test_a_trial_runs_from_the_uploaded_tarball_and_its_model_serves(tmp_path, sm_session):
    """The whole SageMaker path with moto as AWS: what SageMaker would run, run here."""
    session, tuner = sm_session
    spec = _iris_spec(tmp_path, **{"sweep.space": "{models: {choice: [GBM, RF]}, time_limit: 20}"})
    job = cloudauto.submit(spec, backend="sagemaker")
    s3 = session.client("s3")
    definition = job.describe()["TrainingJobDefinition"]
    request = {
        "TrainingJobDefinition": definition,
        "HyperParameterTuningJobConfig": job.describe()["HyperParameterTuningJobConfig"],
    }
    channels: dict[str, list[Path]] = {}
    for channel in definition["InputDataConfig"]:  # SageMaker downloads each channel before the container starts
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, key = uri[len("s3://") :].partition("/")
        folder = tmp_path / "s3" / channel["ChannelName"]
        folder.mkdir(parents=True)
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]:
            (folder / Path(obj["Key"]).name).write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        channels[channel["ChannelName"]] = sorted(folder.iterdir())
    ml = opt_ml(tmp_path / "opt" / "ml", request, training_job_hyperparameters(request, models='"GBM"'), channels)
    run = run_train(ml)  # the toolkit fetches the uploaded tarball from S3 itself
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    model_tar = io.BytesIO()
    with tarfile.open(fileobj=model_tar, mode="w:gz") as tar:
        tar.add(ml / "model", arcname=".")
    tuner.run_trial(job.id, 0, log=run.stdout + run.stderr, model=model_tar.getvalue())
    best = job.best_trial()
    assert best.objective > 0.9 and best.params["models"] == "GBM"
    assert [round(p.value, 6) for p in job.trials(metrics=True)[0].metrics][-1] == round(best.objective, 6)

    # the repacked artifact, loaded the way the inference container loads it
    endpoint_name = f"ep-{uuid.uuid4().hex[:8]}"
    job.deploy(name=endpoint_name)
    container = session.client("sagemaker").describe_model(ModelName=endpoint_name)["PrimaryContainer"]
    bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
    served = tmp_path / "served"
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        tar.extractall(served, filter="data")
    import pandas as pd

    rows = pd.read_csv(tmp_path / "data" / "iris" / "test.csv").drop(columns=["target"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "probe.py").write_text(_TOOLKIT_PROBE)
    out = subprocess.run(
        [sys.executable, str(tmp_path / "probe.py"), str(served), str(tmp_path / "rows.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    csv, npy, bad = json.loads(out.stdout.splitlines()[-1])
    assert csv[:2] == [200, "application/json"] and len(csv[2]) == len(rows)
    assert npy == [200, "application/x-npy", csv[2]]  # npy in and out, the same predictions
    assert bad[0] == 400 and bad[2].startswith("the array has 2 columns; this model takes 4")


# The inference toolkit of SageMaker's serving containers, given what its model server hands
# it: the request bodies as bytearrays and a context for headers and the response status.
_TOOLKIT_PROBE = (
    """
import io, json, sys
import numpy as np
import pandas as pd
served = sys.argv[1]
"""
    + INFERENCE_TOOLKIT
    + """
from cloudauto.scoring import npy_body


def call(body, content_type, accept):
    context = Context({"Content-Type": content_type, "Accept": accept})
    (answer,) = transformer.transform([{"body": bytearray(body)}], context)
    if context.status != 200:
        return [context.status, context.content_type, answer]
    if context.content_type == "application/x-npy":
        return [context.status, context.content_type, np.load(io.BytesIO(answer)).tolist()]
    return [context.status, context.content_type, [r["prediction"] for r in json.loads(answer)]]


frame = pd.read_csv(sys.argv[2])
out = io.BytesIO()
np.save(out, np.zeros((3, 2)))
print(json.dumps([
    call(frame.to_csv(index=False).encode(), "text/csv", "application/json"),
    call(npy_body(frame), "application/x-npy", "application/x-npy"),
    call(out.getvalue(), "application/x-npy", "application/json"),
]))
"""
)


def test_submitting_the_same_spec_again_follows_the_job_it_started(tmp_path, sm_session, capsys):
    """Names are the run's identity, so a CI retry while the job runs follows it (test_sagemaker_resubmit.py: the rest)."""
    session, tuner = sm_session
    spec = _iris_spec(tmp_path)
    first = cloudauto.submit(spec, backend="sagemaker")
    tuner.running.add(first.id)

    def in_use(**_):  # moto accepts duplicate names; SageMaker answers this
        error = {"Error": {"Code": "ResourceInUse", "Message": f"Resource Arn: {first.id} already exists"}}
        return AWSResponse(None, 400, {}, None), error

    session.events.register("before-call.sagemaker.CreateHyperParameterTuningJob", in_use)
    second = cloudauto.submit(spec, backend="sagemaker")
    assert second.id == first.id and "runs the same spec, data and code already: following it" in capsys.readouterr().err


def test_sessions_retry_throttling_in_standard_mode(monkeypatch, aws):
    from cloudauto_sagemaker.submit import session_for

    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    client = session_for(region="us-east-1").client("sagemaker")
    assert client.meta.config.retries["mode"] == "standard"


def test_deploy_refuses_a_serving_image_of_another_autogluon_release(tmp_path, sm_session):
    session, tuner = sm_session
    spec = _iris_spec(tmp_path)
    job = cloudauto.submit(spec, backend="sagemaker")
    info = json.dumps({"kind": "tabular", "autogluon_version": "1.5.0"}).encode()
    tuner.run_trial(job.id, 0, log=_report_lines(spec.objective.name, [0.9]), model=_tar({"model/cloudauto_model.json": info}))
    name = f"ep-{uuid.uuid4().hex[:8]}"
    with pytest.raises(
        cloudauto.CloudautoError, match=r"trained with AutoGluon 1\.5\.0 and the serving image .*autogluon:1\.6\.3"
    ):
        job.deploy(name=name)
    with pytest.raises(ClientError):  # nothing was created that would bill
        session.client("sagemaker").describe_model(ModelName=name)


def test_wait_cancels_a_job_whose_billed_time_reached_the_budget(tmp_path, sm_session, monkeypatch):
    session, tuner = sm_session
    # $3600 per hour is $1 a second: 4 trials × 120 s (trial_timeout) is $480 at worst, within the budget
    spec = _iris_spec(tmp_path, **{"backends.sagemaker.price_per_hour": "3600", "limits.max_cost": "480"})
    job = cloudauto.submit(spec, backend="sagemaker")
    assert job.describe()["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxRuntimeInSeconds"] == 240  # $480 / $2 a second
    tuner.running.add(job.id)
    tuner.run_trial(job.id, 0, log=_report_lines("accuracy", [0.9]), model=b"", ran_for=300)  # Completed: 300 s billed
    assert job.billed()[0] == pytest.approx(300, rel=0.01)
    with pytest.raises(TimeoutError):
        job.wait(poll=0.05, timeout=0.5, progress=False)
    assert tuner.stopped == []  # $300 is under $480
    tuner.run_trial(job.id, 1, log=_report_lines("accuracy", [0.8]), model=b"", status="InProgress", ran_for=200)
    assert job.wait(poll=0.05, timeout=5, progress=False) is JobStatus.CANCELED
    assert tuner.stopped == [job.id]
    assert job.budget_stop.startswith("billed $500") and "has reached limits.max_cost $480" in job.budget_stop


def test_trials_with_metrics_take_the_positive_class_from_the_log_lines_they_read(tmp_path, sm_session, monkeypatch):
    """trials(metrics=True) reads each trial's log for its curve: the positive class line is in it, read once."""
    session, tuner = sm_session
    job = cloudauto.submit(_iris_spec(tmp_path), backend="sagemaker")
    log = "\n".join([_report_lines("accuracy", [0.8, 0.93]), '[cloudauto] positive_class: "virginica"'])
    tuner.run_trial(job.id, 0, log=log, model=_tar({"x": b""}))
    reads: list[str] = []
    original = type(job)._log_lines
    monkeypatch.setattr(type(job), "_log_lines", lambda self, name: reads.append(name) or original(self, name))
    (trial,) = job.trials(metrics=True)
    assert [p.value for p in trial.metrics] == pytest.approx([0.8, 0.93])
    assert trial.positive_class == "virginica"
    assert len(reads) == 1  # the curve and the class from one read of the log
    assert job.trial_details(trial).positive_class == "virginica" and len(reads) == 1
    (plain,) = job.trials()
    assert plain.positive_class is None and len(reads) == 1  # without metrics no log is read
