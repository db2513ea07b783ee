"""Submitting again (issue 27 item 2): a job's name is its run's identity (spec, data content, code),
nothing is uploaded before the name is settled, a running job of the same identity is followed and
an ended one is left alone while a new job starts. Against the moto server, with SageMaker's answer
to a name in use (moto accepts a duplicate name and overwrites the job) played by a hook.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

import cloudauto
from cloudauto.cli import main as cli

from .test_sagemaker_submit import _iris_spec


@pytest.fixture
def sagemaker(sm_session):
    """The moto session and tuner, with CreateHyperParameterTuningJob refusing a name in use as SageMaker does,
    and every S3 write counted."""
    import json

    session, tuner = sm_session
    sm = session.client("sagemaker")
    writes: list[str] = []

    def in_use(params, **_):
        name = json.loads(params["body"])["HyperParameterTuningJobName"]
        try:
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except sm.exceptions.ClientError:
            return None  # a new name: moto creates it
        error = {"Error": {"Code": "ResourceInUse", "Message": f"Resource Arn: {name} already exists"}}
        return AWSResponse(None, 400, {}, None), error

    def write(params, model, **_):
        writes.append(f"{model.name} {params.get('url_path', '')}")

    session.events.register("before-call.sagemaker.CreateHyperParameterTuningJob", in_use)
    for op in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        session.events.register(f"before-call.s3.{op}", write)
    return session, tuner, writes


def _read(session, bucket: str, key: str) -> bytes:
    return session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _train_channel(job) -> str:
    channels = job.describe()["TrainingJobDefinition"]["InputDataConfig"]
    return next(c for c in channels if c["ChannelName"] == "train")["DataSource"]["S3DataSource"]["S3Uri"]


def _change(path: Path) -> bytes:
    """The training CSV with its last row twice: other data, the same columns."""
    text = path.read_text()
    changed = (text + text.strip().splitlines()[-1] + "\n").encode()
    path.write_bytes(changed)
    return changed


def test_a_resubmit_with_changed_data_starts_a_new_job_and_leaves_the_first_ones_inputs(tmp_path, sagemaker, capsys):
    session, _, _ = sagemaker
    spec = _iris_spec(tmp_path)
    bucket = spec.backends.sagemaker.bucket
    train = tmp_path / "data" / "iris" / "train.csv"
    original = train.read_bytes()
    first = cloudauto.submit(spec, backend="sagemaker")
    changed = _change(train)
    capsys.readouterr()

    second = cloudauto.submit(spec, backend="sagemaker")
    err = capsys.readouterr().err
    assert second.id != first.id, err
    assert "following it" not in err
    assert _read(session, bucket, f"cloudauto/{first.id}/data/train/train.csv") == original  # the first job's input is intact
    assert _train_channel(first) == f"s3://{bucket}/cloudauto/{first.id}/data/train/train.csv"
    assert _train_channel(second) == f"s3://{bucket}/cloudauto/{second.id}/data/train/train.csv"
    assert _read(session, bucket, f"cloudauto/{second.id}/data/train/train.csv") == changed  # the new data trains


def test_the_same_run_while_its_job_runs_is_followed_without_uploading(tmp_path, sagemaker, capsys):
    session, tuner, writes = sagemaker
    spec = _iris_spec(tmp_path)
    first = cloudauto.submit(spec, backend="sagemaker")
    tuner.running.add(first.id)  # InProgress until stopped
    writes.clear()
    capsys.readouterr()
    again = cloudauto.submit(spec, backend="sagemaker")
    assert again.id == first.id
    assert writes == []  # nothing staged: its inputs are its own
    assert f"tuning job {first.id} runs the same spec, data and code already: following it" in capsys.readouterr().err


def test_an_ended_run_is_not_reused_and_a_retry_of_the_new_one_follows_it(tmp_path, sagemaker, capsys):
    session, tuner, writes = sagemaker
    spec = _iris_spec(tmp_path)
    first = cloudauto.submit(spec, backend="sagemaker")  # moto completes it at once
    first_source = first.describe()["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"]
    capsys.readouterr()
    second = cloudauto.submit(spec, backend="sagemaker")
    err = capsys.readouterr().err
    assert second.id != first.id
    assert f"tuning job {first.id} ran the same spec, data and code and ended (Completed): starting a new job, {second.id}" in err
    assert first.id not in "".join(writes[-3:]) and all(second.id in w for w in writes[-3:])
    assert first.describe()["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"] == first_source
    tuner.running.add(second.id)
    third = cloudauto.submit(spec, backend="sagemaker")  # a CI retry while the new one runs
    assert third.id == second.id and "following it" in capsys.readouterr().err
    tuner.running.discard(second.id)
    fourth = cloudauto.submit(spec, backend="sagemaker")
    assert fourth.id not in (first.id, second.id)


def test_a_twin_submit_that_created_the_job_meanwhile_is_followed(tmp_path, sagemaker, capsys, monkeypatch):
    """Two submits of one run at once: both find no job, both stage the same bytes, one creates; the other follows."""
    from cloudauto_sagemaker import submit as sm_submit

    session, tuner, _ = sagemaker
    spec = _iris_spec(tmp_path)
    seen: list[str] = []
    real = sm_submit.tuning_job_status

    def racing(sm, name):  # the twin's create lands between our check and our create
        seen.append(name)
        status = real(sm, name)
        if len(seen) == 1:
            twin = cloudauto.compile(spec, backend="sagemaker").native
            sm.create_hyper_parameter_tuning_job(**{k: v for k, v in twin.items() if k != "Tags"})
            tuner.running.add(name)
        return status

    monkeypatch.setattr(sm_submit, "tuning_job_status", racing)
    job = cloudauto.submit(spec, backend="sagemaker")
    assert job.id == seen[0] and "following it" in capsys.readouterr().err


def test_the_job_name_follows_the_data_and_the_code(tmp_path, monkeypatch):
    import cloudauto.runtime.bundle as bundle

    spec = _iris_spec(tmp_path, bucket=False)

    def name() -> str:
        return cloudauto.compile(spec, backend="sagemaker").native["HyperParameterTuningJobName"]

    first = name()
    assert name() == first  # the same run, the same name (what a CI retry relies on)
    _change(tmp_path / "data" / "iris" / "test.csv")
    second = name()
    assert second != first
    real = bundle.package_files
    monkeypatch.setattr(bundle, "package_files", lambda: {**real(), "cloudauto/extra.py": b"# changed code\n"})
    assert name() not in (first, second)


def test_the_cli_resubmit_with_changed_data_says_it_starts_a_new_job(tmp_path, sagemaker):
    from click.testing import CliRunner

    session, _, _ = sagemaker
    spec = _iris_spec(tmp_path)
    args = ["submit", str(tmp_path / "iris.yaml"), "--backend", "sagemaker", "--set", f"name={spec.name}"]
    args += ["--set", f"backends.sagemaker.bucket={spec.backends.sagemaker.bucket}"]
    runner = CliRunner()
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    _change(tmp_path / "data" / "iris" / "train.csv")
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    first_id, second_id = first.stdout.split()[0], second.stdout.split()[0]
    assert second_id != first_id and "following it" not in second.output
