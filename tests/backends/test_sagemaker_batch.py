"""SageMaker batch inference: the transform request field by field, against moto; and the service's part
played as batch transform plays it (each input object split into lines, several lines per request, the
model's environment set), with cloudauto's handler run by sagemaker-inference on a real iris model."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus

from ..conftest import ROOT
from .sagemaker_service import INFERENCE_TOOLKIT

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory) -> tuple[Path, bytes]:
    """A model as the SageMaker entry saves it (run_trial, GBM), and its model.tar.gz."""
    from cloudauto.runtime.autogluon_trial import run_trial
    from job_specs import make_data

    root = tmp_path_factory.mktemp("sm-batch")
    make_data.iris(root)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml", overrides=[f"data.train={root}/iris/train.csv", "data.test=null"]
    )
    run_trial(spec, {"models": "GBM", "time_limit": 20}, root / "out", lambda value: False)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        tar.add(root / "out", arcname=".")
    return root, packed.getvalue()


def _job(tmp_path: Path, sm_session, model_tar: bytes):
    import boto3

    from job_specs import make_data

    session, tuner = sm_session
    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    tag = uuid.uuid4().hex[:6]
    boto3.client("s3").create_bucket(Bucket=f"cloudauto-batch-{tag}")
    spec = cloudauto.JobSpec.from_file(
        tmp_path / "iris.yaml", overrides=[f"name=iris-{tag}", f"backends.sagemaker.bucket=cloudauto-batch-{tag}"]
    )
    job = cloudauto.submit(spec, backend="sagemaker")
    tuner.run_trial(job.id, 0, log="[cloudauto-metric] name=accuracy value=0.95 step=0", model=model_tar)
    return job, session


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return pd.DataFrame(np.round(rng.uniform(low, high, size=(n, 4)), 1), columns=FEATURES)


def test_the_transform_request_reads_field_by_field_and_moto_accepts_it(tmp_path, sm_session, iris_model):
    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    frame = rows(25)
    frame.to_csv(tmp_path / "nightly.csv", index=False)
    batch = job.predict_batch(tmp_path / "nightly.csv", tmp_path / "scored.csv", probabilities=True, max_payload_mb=2)
    sm, s3 = session.client("sagemaker"), session.client("s3")
    described = sm.describe_transform_job(TransformJobName=batch.id)
    assert described["ModelName"] == batch.id and described["BatchStrategy"] == "MultiRecord"
    assert described["MaxPayloadInMB"] == 2
    source = described["TransformInput"]
    assert source["ContentType"] == "text/csv" and source["SplitType"] == "Line" and source["CompressionType"] == "None"
    assert source["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    assert source["DataSource"]["S3DataSource"]["S3Uri"].endswith(f"/batch/{batch.id}/input/")
    assert described["TransformOutput"]["AssembleWith"] == "Line"
    assert described["TransformOutput"]["Accept"] == "application/jsonlines"
    assert described["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
    container = sm.describe_model(ModelName=batch.id)["PrimaryContainer"]
    assert json.loads(container["Environment"]["CLOUDAUTO_BATCH_COLUMNS"]) == FEATURES  # the header, for the handler
    assert container["Environment"]["CLOUDAUTO_BATCH_PROBABILITIES"] == "1"
    assert container["Image"].endswith("/autogluon:1.6.3-cpu-amzn2023")
    uri = source["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    (obj,) = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    uploaded = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    assert uploaded.splitlines() == frame.to_csv(index=False, header=False).splitlines()  # the rows, no header line
    again = job.predict_batch(tmp_path / "nightly.csv", tmp_path / "scored.csv", probabilities=True, max_payload_mb=2)
    assert again.id == batch.id  # the same command follows the job it started


def test_bad_batch_inputs_are_refused_before_anything_is_created(tmp_path, sm_session, iris_model):
    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    frame = rows(3).astype(object)
    frame.loc[1, FEATURES[0]] = "line\nbreak"
    frame.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(cloudauto.CloudautoError, match="row 1, column 'sepal length .cm.' holds a line break"):
        job.predict_batch(tmp_path / "broken.csv", tmp_path / "out.csv")
    rows(3).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(cloudauto.CloudautoError, match="SageMaker takes 1-100 MB, got 0"):
        job.predict_batch(tmp_path / "ok.csv", tmp_path / "out.csv", max_payload_mb=0)
    with pytest.raises(cloudauto.CloudautoError, match="takes local CSV or Parquet input"):
        job.predict_batch("s3://bucket/rows.csv", tmp_path / "out.csv")
    made = session.client("sagemaker").list_transform_jobs()["TransformJobSummaries"]
    assert not [j for j in made if j["TransformJobName"].startswith(job.id)]  # the moto server is shared by the tests


def test_the_transform_as_sagemaker_runs_it_gives_every_row_in_order_and_names_the_bad_ones(tmp_path, sm_session, iris_model):
    """The service's part: each input object's lines in requests of 7 records, through sagemaker-inference's
    Transformer with the model's environment; the answers joined with newlines into <object>.out."""
    root, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    first = rows(40, 1).astype(object)
    first.loc[13, FEATURES[3]] = "wide"
    second = rows(23, 2)
    folder = tmp_path / "in"
    folder.mkdir()
    first.to_csv(folder / "a.csv", index=False)
    second.to_parquet(folder / "b.parquet", index=False)
    batch = job.predict_batch(folder, tmp_path / "scored.parquet")
    transform(tmp_path, session, batch)
    assert batch.wait(poll=0.1) is JobStatus.COMPLETED  # moto marks transform jobs Completed
    result = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(result) == 63
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor.load(str(root / "out" / "model"))
    good = [i for i in range(40) if i != 13]
    expected = [*predictor.predict(rows(40, 1).iloc[good]).tolist(), *predictor.predict(second).tolist()]
    assert result["prediction"].drop(index=13).tolist() == expected
    assert pd.isna(result["prediction"][13])
    (failure,) = batch.failures()
    assert failure.row == 13 and failure.reason == "column 'petal width (cm)' takes numbers, not 'wide'"
    assert failure.file.endswith("a.csv")
    assert (tmp_path / "scored.parquet.failures.csv").is_file()

    # the same command on the CLI follows that transform job, and its last line counts the rows as the local one does
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    said = CliRunner().invoke(cli, ["predict", job.id, str(folder), "-o", str(tmp_path / "scored.parquet"), "-b", "sagemaker"])
    assert said.exit_code == 4, said.output  # a row failed
    out = tmp_path / "scored.parquet"
    assert f"batch {batch.id}: completed (62 rows scored into {out}; 1 row failed (see {out}.failures.csv))" in said.output


def transform(tmp_path: Path, session, batch) -> None:
    """The service's part of a transform job: each uploaded input object through cloudauto's handler as
    sagemaker-inference runs it in the model's container (requests of 7 lines), its answers put as <object>.out."""
    sm, s3 = session.client("sagemaker"), session.client("s3")
    described = sm.describe_transform_job(TransformJobName=batch.id)
    container = sm.describe_model(ModelName=batch.id)["PrimaryContainer"]
    bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
    served = tmp_path / "served"
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        tar.extractall(served, filter="data")
    in_uri = described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    out_uri = described["TransformOutput"]["S3OutputPath"]
    in_bucket, _, in_prefix = in_uri[len("s3://") :].partition("/")
    out_bucket, _, out_prefix = out_uri[len("s3://") :].partition("/")
    for obj in s3.list_objects_v2(Bucket=in_bucket, Prefix=in_prefix)["Contents"]:
        local = tmp_path / Path(obj["Key"]).name
        local.write_bytes(s3.get_object(Bucket=in_bucket, Key=obj["Key"])["Body"].read())
        (tmp_path / "probe.py").write_text(_TRANSFORM_PROBE)
        run = subprocess.run(
            [sys.executable, str(tmp_path / "probe.py"), str(served), str(local), "7"],
            capture_output=True,
            timeout=300,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **container["Environment"]},
        )
        assert run.returncode == 0, run.stderr.decode()[-3000:]
        s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}{Path(obj['Key']).name}.out", Body=run.stdout)


def test_a_short_answer_is_refused_rather_than_misaligned(tmp_path, sm_session, iris_model):
    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    rows(10).to_csv(tmp_path / "in.csv", index=False)
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv")
    s3 = session.client("s3")
    described = session.client("sagemaker").describe_transform_job(TransformJobName=batch.id)
    out_bucket, _, out_prefix = described["TransformOutput"]["S3OutputPath"][len("s3://") :].partition("/")
    s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}0000-in.csv.out", Body=b'{"prediction": 0}\n' * 9)
    with pytest.raises(cloudauto.CloudautoError, match="answered 9 rows for 10; the output would be misaligned"):
        batch.wait(poll=0.1)
    assert not (tmp_path / "out.csv").exists()


# sagemaker-inference's Transformer as batch transform drives it: MultiRecord requests of N lines
_TRANSFORM_PROBE = (
    """
import sys
served, source, per_request = sys.argv[1], sys.argv[2], int(sys.argv[3])
"""
    + INFERENCE_TOOLKIT
    + """lines = open(source, "rb").read().splitlines(keepends=True)
answers = []
for start in range(0, len(lines), per_request):
    context = Context({"Content-Type": "text/csv", "Accept": "application/jsonlines"})
    (answer,) = transformer.transform([{"body": bytearray(b"".join(lines[start:start + per_request]))}], context)
    assert context.status == 200, answer
    answers.append(answer if isinstance(answer, bytes) else answer.encode())
sys.stdout.buffer.write(b"\\n".join(a.rstrip(b"\\n") for a in answers) + b"\\n")
"""
)


def test_a_serverless_endpoint_is_checked_configured_and_scores_like_any(tmp_path, sm_session, iris_model, aws):
    import requests
    from botocore.exceptions import ClientError
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    sm = session.client("sagemaker")
    name = f"sl-{uuid.uuid4().hex[:8]}"
    for options, message in (
        ({"memory_mb": 1500}, "take 1024, 2048, 3072, 4096, 5120, 6144 MB"),
        ({"max_concurrency": 201}, "SageMaker takes 1-200"),
        ({"instance_type": "ml.m5.xlarge"}, "a serverless endpoint has no instance type"),
    ):
        with pytest.raises(cloudauto.CloudautoError, match=message):
            job.deploy(name=name, serverless=True, **options)
    with pytest.raises(cloudauto.CloudautoError, match="add --serverless"):
        job.deploy(name=name, memory_mb=2048)
    with pytest.raises(ClientError):  # refused before anything was created
        sm.describe_endpoint_config(EndpointConfigName=name)

    endpoint = job.deploy(name=name, serverless=True, memory_mb=2048, max_concurrency=3)
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 3}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Image"].endswith("/autogluon:1.6.3-cpu-amzn2023")
    requests.post(
        f"{aws}/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": json.dumps([{"prediction": 0}, {"prediction": 2}]), "ContentType": "application/json"}]},
        timeout=10,
    ).raise_for_status()
    endpoint.binary = False  # moto's server reads bodies as UTF-8
    assert endpoint.score(rows(2))["prediction"].tolist() == [0, 2]

    runner = CliRunner()
    done = runner.invoke(
        cli, ["deploy", job.id, "--backend", "sagemaker", "--name", f"{name}-cli", "--serverless", "--memory", "3072"]
    )
    assert done.exit_code == 0, done.output
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=f"{name}-cli")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    refused = runner.invoke(cli, ["deploy", job.id, "--name", "x", "--serverless"])  # the local backend
    assert refused.exit_code == 64 and "is for SageMaker serverless endpoints" in refused.output


def test_endpoints_carry_tags_list_with_price_and_expired_ones_are_removed(tmp_path, sm_session, iris_model, monkeypatch):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    sm = session.client("sagemaker")
    prices = tmp_path / "prices.json"
    row = {"backend": "sagemaker", "kind": "hosting", "region": "us-east-1", "instance_type": "ml.m5.xlarge"}
    prices.write_text(json.dumps({"prices": [{**row, "usd_per_hour": 0.1, "source": "rate card", "read_on": "2026-12-01"}]}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(prices))
    name, kept = f"ttl-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    with pytest.raises(cloudauto.CloudautoError, match="--ttl must be positive"):
        job.deploy(name=name, ttl=0)
    with pytest.raises(Exception):  # noqa: B017 - refused before anything was created
        sm.describe_model(ModelName=name)
    short = job.deploy(name=name, ttl=1, instance_count=2)
    short.binary = False  # moto's server reads bodies as UTF-8
    job.deploy(name=kept)
    for resource in (
        sm.describe_endpoint(EndpointName=name)["EndpointArn"],
        sm.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"],
        sm.describe_model(ModelName=name)["ModelArn"],
    ):
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=resource)["Tags"]}
        assert {tags[k] for k in ("cloudauto:creator", "cloudauto:job", "cloudauto:spec")} == {"cloudauto", job.id, job.spec.name}
        assert tags["cloudauto:expires"] > tags["cloudauto:created"]
    runner = CliRunner()
    said = runner.invoke(cli, ["deploy", job.id, "-b", "sagemaker", "--name", f"{kept}-cli", "--ttl", "2h"])
    assert said.exit_code == 0, said.output
    assert "note: $0.1/hour (rate card, read 2026-12-01" in said.output and "; expires 20" in said.output
    listed = {e["name"]: e for e in json.loads(runner.invoke(cli, ["endpoints", "-b", "sagemaker", "--format", "json"]).output)}
    assert listed[name]["instance_type"] == "ml.m5.xlarge" and listed[name]["instance_count"] == 2
    # 2 instances × $0.1 per hour, from the user's price file
    assert listed[name]["usd_per_hour"] == pytest.approx(0.2) and "rate card, read 2026-12-01" in listed[name]["price_source"]
    assert listed[kept]["expires"] is None and listed[kept]["job"] == job.id
    time.sleep(1.1)
    done = runner.invoke(cli, ["endpoints", "-b", "sagemaker", "--expired", "--delete"])
    assert done.exit_code == 0, done.output
    assert f"deleted {name} (sagemaker, expired at " in done.output and kept not in done.output.split("deleted")[-1]
    with pytest.raises(Exception, match="Could not find"):
        sm.describe_endpoint(EndpointName=name)
    assert sm.describe_endpoint(EndpointName=kept)["EndpointStatus"] == "InService"
    with pytest.raises(cloudauto.CloudautoError, match=f"endpoint {name} does not exist in us-east-1: it was removed"):
        short.score(rows(2))
    scored = runner.invoke(cli, ["score", name, str(tmp_path / "data" / "iris" / "test.csv"), "-b", "sagemaker"])
    assert scored.exit_code != 0 and "it was removed" in scored.output
    gone = cloudauto.get_backend("sagemaker").endpoint(kept)
    gone.delete()
    with pytest.raises(cloudauto.CloudautoError, match=f"endpoint {kept} was removed"):
        gone.score(rows(2))


@pytest.mark.parametrize(
    "backend, uri", [("sagemaker", "s3://bucket/in.csv"), ("azureml", "azureml://datastores/d/paths/in.csv")]
)
def test_keep_columns_on_an_input_already_in_the_cloud_is_refused_naming_why_and_what_to_use(tmp_path, backend, uri):
    """Issue 32: the kept columns are read on this machine from the input cloudauto uploads; a URI is read by the service."""
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    args = ["predict", "some-job", uri, "-o", str(tmp_path / "out.csv"), "--keep-columns", "patient_id"]
    done = CliRunner().invoke(cli, [*args, "--backend", backend])
    assert done.exit_code == 64 and "Traceback" not in done.output, done.output
    said = " ".join(done.output.split())
    assert f"{uri} is read by the" in said and "download the input and pass the local file or folder" in said
    assert f"cloudauto deploy some-job --backend {backend}" in said and "--keep-columns patient_id" in said
    assert not (tmp_path / "out.csv").exists()


def test_the_sdk_refuses_keep_columns_on_an_s3_input_before_any_call(sm_session, tmp_path):
    from cloudauto_sagemaker.handle import SageMakerJob

    from cloudauto.backend import NotSupportedError

    session, _ = sm_session
    job = SageMakerJob("no-such-job", session=session)  # nothing is read: the refusal comes first
    with pytest.raises(NotSupportedError, match="s3://b/in.csv is read by the SageMaker batch transform alone"):
        job.predict_batch("s3://b/in.csv", tmp_path / "out.csv", keep_columns=["patient_id"])


def _cli_predict(job, source: Path, out: Path, *keep: str):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    args = ["predict", job.id, str(source), "-o", str(out), "-b", "sagemaker", *[a for k in keep for a in ("--keep-columns", k)]]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_keep_columns_on_a_sagemaker_batch_write_the_file_the_local_batch_writes(
    tmp_path, sm_session, iris_model, monkeypatch, shape
):
    """Issue 32: refused with exit 64; now the IDs (007 as 007, a BOM'd header, a quoted comma) come first as locally."""
    from .batch_keep import KEEP, kept_input, kept_parquet, local_output

    root, model_tar = iris_model
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    job, session = _job(tmp_path, sm_session, model_tar)
    if shape == "file":
        source = kept_input(tmp_path / "in.csv", 17)
    else:
        source = tmp_path / "in"
        source.mkdir()
        kept_input(source / "a.csv", 9, 1)
        kept_parquet(source / "b.parquet", 6, 2)
    expected = local_output(root / "out" / "model", source, tmp_path / "local.csv", KEEP)
    batch = job.predict_batch(source, tmp_path / "cloud.csv", keep_columns=KEEP)
    transform(tmp_path, session, batch)
    done = _cli_predict(job, source, tmp_path / "cloud.csv", "patient_id,name")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "cloud.csv").read_bytes() == expected
    lines = expected.decode().splitlines()
    assert lines[0] == "patient_id,name,prediction" and lines[1].startswith('000,"Doe, Jane 0",')
    assert lines[2].startswith("0001,P1,")
    # the same command again, from another folder with relative paths: it follows the transform job and joins again
    (tmp_path / "cloud.csv").unlink()
    monkeypatch.chdir(tmp_path / "data")
    again = _cli_predict(job, Path("..") / source.name, Path("../cloud.csv"), "patient_id,name")
    assert again.exit_code == 0 and f"batch {batch.id}: completed" in again.output, again.output
    assert (tmp_path / "cloud.csv").read_bytes() == expected


def test_keep_columns_that_do_not_line_up_with_the_answers_fail_with_exit_4_and_write_nothing(tmp_path, sm_session, iris_model):
    from .batch_keep import KEEP, kept_input

    _, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    s3 = session.client("s3")

    def answer(batch, n: int) -> None:  # the service's .out, n answers
        described = session.client("sagemaker").describe_transform_job(TransformJobName=batch.id)
        out_bucket, _, out_prefix = described["TransformOutput"]["S3OutputPath"][len("s3://") :].partition("/")
        s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}0000-in.csv.out", Body=b'{"prediction": 0}\n' * n)

    source, out = kept_input(tmp_path / "in.csv", 10), tmp_path / "out.csv"
    with pytest.raises(cloudauto.CloudautoError, match="no column 'nope' to keep") as raised:
        job.predict_batch(source, out, keep_columns=["nope"])
    assert raised.value.exit_code == 4
    batch = job.predict_batch(source, out, keep_columns=KEEP)
    answer(batch, 9)  # tampered: a row short
    done = _cli_predict(job, source, out, *KEEP)
    assert done.exit_code == 4 and "answered 9 rows for 10; the output would be misaligned" in done.output, done.output
    assert not out.exists()

    answer(batch, 10)
    source.write_bytes(source.read_bytes().replace(b"P1,", b"P9,"))  # edited after the upload
    with pytest.raises(cloudauto.CloudautoError, match="in.csv changed since it was uploaded for this batch") as raised:
        batch.wait(poll=0.1)
    assert raised.value.exit_code == 4 and not out.exists()

    # a line of blanks alone: the service's reader skips it, cloudauto's counts it as a row (that fails alone locally)
    spaced = tmp_path / "spaced.csv"
    lines = kept_input(tmp_path / "x.csv", 10, bom=False).read_text().splitlines()
    spaced.write_text("\n".join([*lines[:4], "   ", *lines[4:]]) + "\n")
    batch = job.predict_batch(spaced, out, keep_columns=KEEP)
    assert batch.expected_rows() == 10
    described = session.client("sagemaker").describe_transform_job(TransformJobName=batch.id)
    out_bucket, _, out_prefix = described["TransformOutput"]["S3OutputPath"][len("s3://") :].partition("/")
    s3.put_object(Bucket=out_bucket, Key=f"{out_prefix}0000-spaced.csv.out", Body=b'{"prediction": 0}\n' * 10)
    done = _cli_predict(job, spaced, out, *KEEP)
    assert done.exit_code == 4 and "Traceback" not in done.output, done.output
    said = " ".join(done.output.split())
    assert "spaced.csv: cloudauto reads 11 rows in it and the batch answered 10" in said
    assert "the kept columns (patient_id, name) would not line up with the answers, so the output is not written" in said
    assert not out.exists()


@pytest.mark.parametrize("keep", [[], ["id"]])
def test_a_header_only_input_gives_the_answer_header_the_local_batch_writes(tmp_path, sm_session, iris_model, keep):
    """No rows in: the output is the local backend's header (kept columns, prediction), zero rows, not a bare header."""
    from cloudauto_local.batch import plan_for, start

    root, model_tar = iris_model
    job, session = _job(tmp_path, sm_session, model_tar)
    source = tmp_path / "in.csv"
    source.write_text(",".join(["id", *FEATURES]) + "\n")
    plan = plan_for(
        "empty-local",
        0,
        str(root / "out" / "model"),
        source,
        tmp_path / "local.csv",
        probabilities=False,
        chunk_rows=4,
        workers=1,
        keep_columns=keep,
    )
    assert start(plan).wait(progress=False) is JobStatus.COMPLETED
    expected = (tmp_path / "local.csv").read_bytes()
    assert expected.decode().splitlines() == [",".join([*keep, "prediction"])]
    batch = job.predict_batch(source, tmp_path / "cloud.csv", keep_columns=keep)
    transform(tmp_path, session, batch)
    assert batch.wait(poll=0.1) is JobStatus.COMPLETED
    assert (tmp_path / "cloud.csv").read_bytes() == expected
    assert batch.failures() == []


def test_a_completed_transform_missing_an_answer_file_fails_with_exit_4_naming_it(tmp_path, sm_session, iris_model, monkeypatch):
    """The service said completed but wrote no <input>.out for one input file: a failed batch (exit 4), said in words."""
    _, model_tar = iris_model
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    job, session = _job(tmp_path, sm_session, model_tar)
    source = tmp_path / "in"
    source.mkdir()
    rows(5).to_csv(source / "a.csv", index=False)
    rows(4, seed=1).to_csv(source / "b.csv", index=False)
    batch = job.predict_batch(source, tmp_path / "out.csv")
    transform(tmp_path, session, batch)
    described = session.client("sagemaker").describe_transform_job(TransformJobName=batch.id)
    out_bucket, _, out_prefix = described["TransformOutput"]["S3OutputPath"][len("s3://") :].partition("/")
    missing = f"{out_prefix}0001-b.csv.out"
    session.client("s3").delete_object(Bucket=out_bucket, Key=missing)
    done = _cli_predict(job, source, tmp_path / "out.csv")
    assert done.exit_code == 4, done.output
    assert "NoSuchKey" not in done.output and str(source / "b.csv") in done.output and "0001-b.csv.out" in done.output
    assert not (tmp_path / "out.csv").exists()
