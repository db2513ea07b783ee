"""Without AWS credentials or a region the CLI says what to set and exits 3 (issue 27 item 16), run as a user runs it:
a process of its own whose environment holds only what the test gives it (no profile files, no instance metadata)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT

_CLI = "import sys; from cloudauto.cli import main; sys.exit(main())"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "CLOUDAUTO_HOME": str(tmp_path / "home"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args], env={**base, **env}, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def _iris(tmp_path: Path) -> Path:
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    spec = tmp_path / "iris.yaml"
    spec.write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    return spec


def test_submit_without_credentials_says_how_to_sign_in(tmp_path):
    spec = _iris(tmp_path)
    done = _run(
        tmp_path,
        *("submit", str(spec), "--backend", "sagemaker", "--set", "backends.sagemaker.bucket=cloudauto-test"),
        AWS_DEFAULT_REGION="us-east-1",
        SAGEMAKER_ROLE="arn:aws:iam::123456789012:role/x",
    )
    assert done.returncode == 3, done.stderr
    assert "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


def test_status_without_a_region_names_where_to_set_one(tmp_path):
    done = _run(tmp_path, "status", "some-job", "--backend", "sagemaker", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
    assert done.returncode == 3, done.stderr
    assert "no AWS region: set AWS_DEFAULT_REGION" in done.stderr
    assert "in the spec" not in done.stderr  # status takes no spec: the spec field is no way out here
    assert "internal error" not in done.stderr and "NoRegionError" not in done.stderr


def test_aws_region_alone_is_a_region(tmp_path, aws):
    """boto3 reads only AWS_DEFAULT_REGION; cloudauto also reads AWS_REGION (the name AWS's other SDKs use)."""
    done = _run(
        tmp_path,
        *("status", "no-such-job", "--backend", "sagemaker"),
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=aws,
        AWS_MAX_ATTEMPTS="1",
    )
    assert done.returncode == 3, done.stderr
    assert "no-such-job" in done.stderr and "region" not in done.stderr.lower()
