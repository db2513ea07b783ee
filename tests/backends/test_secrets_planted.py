"""A fake secret planted in every input (the environment, ${NAME} in the spec, a trial's own output) is found in no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
