"""A fake secret planted in every input (the environment, ${NAME} in the spec, a trial's own output) is found in no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudauto.secrets import Redactor

from ..conftest import dedent

EXE = Path(sys.executable).with_name("cloudauto")

TOKEN = "hf_PLANTEDtoken0123456789abcdef"
AWS_KEY = "PLANTEDawsSecretKey/0123456789+abcdefghij"
SESSION = "PLANTEDsessionToken0123456789"
ROLE = "arn:aws:iam::123456789012:role/PlantedTrainingRole"
CLIENT_SECRET = "PLANTED~azureClientSecret.0123"
PLANTED = (TOKEN, AWS_KEY, SESSION, ROLE, CLIENT_SECRET)
ENV = {
    "HF_TOKEN": TOKEN,
    "AWS_SECRET_ACCESS_KEY": AWS_KEY,
    "AWS_SESSION_TOKEN": SESSION,
    "TRAINING_ROLE": ROLE,
    "AZURE_CLIENT_SECRET": CLIENT_SECRET,
}

# the script prints what it was given, as careless scripts do, and fails when asked to
SCRIPT = """\
import os, sys
import cloudauto
print("token", os.environ["HF_TOKEN"], "role", os.environ["ROLE_FOR_LOGS"], flush=True)
print("aws", os.environ.get("AWS_SECRET_ACCESS_KEY"), flush=True)
if sys.argv[1] == "fail":
    sys.exit("giving up with " + os.environ["HF_TOKEN"])
cloudauto.report(score=1.0)
"""


def test_the_redactor_knows_secrets_by_name_and_role_arns_by_shape():
    hide = Redactor(
        {"GITHUB_TOKEN": "ghp_abcdefgh123", "MY_ROLE": ROLE, "OTHER": ROLE + "x", "PATH": "/usr/bin:/bin", "API_KEY": "short"}
    )
    assert hide("t=ghp_abcdefgh123") == "t=<secret:GITHUB_TOKEN>"
    assert hide(f"role {ROLE} here") == "role <secret:MY_ROLE> here"
    assert hide("arn:aws:iam::999999999999:role/Unknown") == "<secret:role-arn>"  # by its shape, from anywhere
    assert hide("/usr/bin:/bin and short") == "/usr/bin:/bin and short"  # not secret names, too short to be a key
    assert hide.data({"a": ["x ghp_abcdefgh123"], "n": 3}) == {"a": ["x <secret:GITHUB_TOKEN>"], "n": 3}


def test_a_planted_secret_is_found_in_no_output(runs_dir, tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    (folder / "conda.yml").write_text("dependencies: [python=3.11, {pip: [mlflow, azureml-mlflow, cloudauto]}]\n")
    spec = folder / "spec.yaml"
    spec.write_text(
        dedent(
            """
            name: planted
            task: tabular_regression
            engine: command
            command:
              run: python train.py ${{sweep.mode}}
              image: 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311
              environment: conda.yml
              env:
                HF_TOKEN: ${HF_TOKEN}
                ROLE_FOR_LOGS: ${TRAINING_ROLE}
            metric: {name: score, goal: maximize}
            sweep:
              sampling: grid
              space:
                mode: {choice: [ok, fail]}
            limits: {max_trials: 2, max_concurrent_trials: 2}
            backends:
              sagemaker: {role: "${TRAINING_ROLE}", bucket: planted-bucket, region: us-east-1}
              azureml: {compute: cpu-cluster}
            """
        )
    )
    env = {**os.environ, **ENV}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("GITHUB_OUTPUT", None)
    outputs: dict[str, str] = {}

    def cli(*args: str, environ: dict = env) -> subprocess.CompletedProcess:
        done = subprocess.run([str(EXE), *args], capture_output=True, text=True, cwd=tmp_path, env=environ, timeout=240)
        outputs[" ".join(args) + " (stdout)"], outputs[" ".join(args) + " (stderr)"] = done.stdout, done.stderr
        return done

    done = cli("run", str(spec), "--result", "result.json", "--summary", "summary.md")
    assert done.returncode == 0, done.stderr
    job_id = json.loads((tmp_path / "result.json").read_text())["job"]["id"]
    # a later step that has no secrets in its environment reads the same logs
    bare = {k: v for k, v in env.items() if k not in ENV}
    for args in (
        ("logs", job_id, "--trial", "0"),
        ("logs", job_id, "--trial", "1"),
        ("logs", job_id),
        ("trials", job_id, "--format", "json"),
        ("status", job_id),
        ("best", job_id),
    ):
        cli(*args, environ=bare)
    for backend in ("sagemaker", "azureml", "local"):
        compiled = cli("compile", str(spec), "-b", backend, "-o", str(tmp_path / f"compiled-{backend}"))
        assert compiled.returncode == 0, compiled.stderr
        cli("compile", str(spec), "-b", backend)  # the dry run printed
        cli("compile", str(spec), "-b", backend, "--format", "json")
    cli("validate", str(spec), "--format", "json")
    cli("validate", str(spec), "--set", "limits.max_trials=0")  # an error that quotes the spec

    files = [
        p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".yaml", ".yml", ".txt", ".py", ".sh")
    ]
    files += [p for p in runs_dir.rglob("*.log")]  # the trials' and the scheduler's own logs
    outputs.update({str(p): p.read_text(errors="replace") for p in files if p != spec})
    assert len([k for k in outputs if "compiled-" in k]) >= 3
    for where, text in outputs.items():
        for secret in PLANTED:
            if secret == ROLE and "/compiled-" in where:
                continue  # a file for the service holds the role, an identifier (docs/ci.md, Secrets)
            assert secret not in text, f"{secret} in {where}"
    # and the places where they were say which variable they came from
    said = "\n".join(outputs.values())
    assert "token <secret:HF_TOKEN> role <secret:TRAINING_ROLE>" in outputs[f"logs {job_id} --trial 0 (stdout)"]
    assert "aws <secret:AWS_SECRET_ACCESS_KEY>" in outputs[f"logs {job_id} --trial 0 (stdout)"]
    assert "giving up with <secret:HF_TOKEN>" in (tmp_path / "summary.md").read_text()
    assert "<secret:TRAINING_ROLE>" in said and "<secret:HF_TOKEN>" in said
    request = json.loads(next((tmp_path / "compiled-sagemaker").glob("*.json")).read_text())
    assert request["TrainingJobDefinition"]["RoleArn"] == ROLE  # submittable as it is
    assert "<secret:TRAINING_ROLE>" in outputs[f"compile {spec} -b sagemaker (stdout)"]  # printed, it is masked


MY_TOKEN = "PLANTEDmyToken-SuperSecret-0123"
_REFERENCED = {"description": "reads ${MY_TOKEN}", "tags": {"owner": "${MY_TOKEN}"}}


def _iris_with_token(tmp_path: Path, monkeypatch, *overrides: str):
    """The iris spec with `${MY_TOKEN}` in its description and a tag, MY_TOKEN set."""
    import uuid

    import yaml

    from cloudauto import JobSpec
    from job_specs import make_data

    from ..conftest import ROOT

    monkeypatch.setenv("MY_TOKEN", MY_TOKEN)
    make_data.iris(tmp_path / "data")
    data = yaml.safe_load((ROOT / "job_specs" / "iris.yaml").read_text())
    data.update(_REFERENCED, name=f"iris-{uuid.uuid4().hex[:6]}")
    (tmp_path / "iris.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "iris.yaml", JobSpec.from_file(tmp_path / "iris.yaml", overrides=list(overrides))


def test_no_file_compile_writes_holds_a_reference_value(tmp_path, monkeypatch):
    """compile -o for people and CI artifacts: the code folder's spec.json keeps `${MY_TOKEN}` as the store does."""
    path, _ = _iris_with_token(tmp_path, monkeypatch)
    env = {**os.environ, "MY_TOKEN": MY_TOKEN}
    for backend in ("local", "sagemaker", "azureml"):
        out = tmp_path / f"out-{backend}"
        done = subprocess.run(
            [str(EXE), "compile", str(path), "-b", backend, "-o", str(out)], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        files = [p for p in out.rglob("*") if p.is_file()]
        assert files, backend
        for file in files:
            assert MY_TOKEN.encode() not in file.read_bytes(), f"{MY_TOKEN} in {file}"
        for spec_json in out.rglob("spec.json"):
            assert json.loads(spec_json.read_text())["tags"]["owner"] == "${MY_TOKEN}"
    assert list((tmp_path / "out-azureml").rglob("spec.json"))  # the code folder's spec.json was looked at


def test_the_sagemaker_tarball_keeps_references_and_the_training_job_gets_the_values(tmp_path, sm_session, monkeypatch):
    import io
    import tarfile

    import boto3

    import cloudauto
    from cloudauto.registry import get_backend
    from cloudauto.runtime.sagemaker_entry import spec_data

    session, _ = sm_session
    bucket = f"cloudauto-test-{tmp_path.name[-20:].lower().replace('_', '-')}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    _, spec = _iris_with_token(tmp_path, monkeypatch, f"backends.sagemaker.bucket={bucket}")
    job = cloudauto.submit(spec, backend="sagemaker")
    definition = job.describe()["TrainingJobDefinition"]
    assert definition["Environment"]["MY_TOKEN"] == MY_TOKEN  # the trial's environment, as SageMaker sets it
    source = json.loads(definition["StaticHyperParameters"]["sagemaker_submit_directory"])
    bucket_, _, key = source[len("s3://") :].partition("/")
    tarball = session.client("s3").get_object(Bucket=bucket_, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            assert MY_TOKEN.encode() not in tar.extractfile(member).read(), member.name
        tar.extractall(tmp_path / "unpacked", filter="data")
    data, used = spec_data(tmp_path / "unpacked" / "spec.json", definition["Environment"])  # what the entry does
    assert data["tags"]["owner"] == MY_TOKEN and used == {"MY_TOKEN": MY_TOKEN}
    with pytest.raises(RuntimeError, match=r"MY_TOKEN"):
        spec_data(tmp_path / "unpacked" / "spec.json", {})
    with pytest.raises(RuntimeError, match=r"<secret:MY_TOKEN>"):  # a compile -o request submitted as it is
        spec_data(tmp_path / "unpacked" / "spec.json", {"MY_TOKEN": "<secret:MY_TOKEN>"})
    monkeypatch.delenv("MY_TOKEN")  # a later reader without the variable still attaches
    again = get_backend("sagemaker").attach(job.id)
    assert again.spec.name == spec.name and again.spec.tags["owner"] == "${MY_TOKEN}"


def test_the_azure_code_upload_keeps_references_and_the_trial_gets_the_values(tmp_path, workspace, monkeypatch):
    import cloudauto

    fake, _ = workspace
    _, spec = _iris_with_token(
        tmp_path, monkeypatch, "backends.azureml.compute=cpu-cluster", "backends.azureml.environment=azureml:autogluon:1"
    )
    job = cloudauto.submit(spec, backend="azureml")
    uploaded = {key: data for key, data in fake.blobs.items() if "/code/" in key or key.endswith("spec.json")}
    assert any(key.endswith("spec.json") for key in uploaded)
    for key, data in uploaded.items():
        assert MY_TOKEN.encode() not in data, key
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    props = sent["properties"]
    assert props["trial"]["environmentVariables"]["MY_TOKEN"] == MY_TOKEN
    from cloudauto.runtime.sagemaker_entry import spec_data

    folder = tmp_path / "uploaded"  # the code folder as the trial sees it, and the entry's reading of it
    for key, data in uploaded.items():
        target = folder / key.split("/code/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    data, used = spec_data(folder / "spec.json", props["trial"]["environmentVariables"])
    assert data["tags"]["owner"] == MY_TOKEN and used == {"MY_TOKEN": MY_TOKEN}
    assert MY_TOKEN not in props["properties"]["cloudauto.spec"]
    monkeypatch.delenv("MY_TOKEN")
    from cloudauto_azureml.handle import AzureMLJob

    again = AzureMLJob(job.id, client=job.client)  # a later reader without the variable
    assert again.spec.name == spec.name and again.spec.tags["owner"] == "${MY_TOKEN}"
