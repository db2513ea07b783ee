"""Submitting to Azure ML without signing in (issue 27 item 16): one line saying what to do, exit 3, none of
azure-identity's per-credential log lines; run as a user runs it, in a process without Azure credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT

_CLI = "import sys; from cloudauto.cli import main; sys.exit(main())"


def _submit(tmp_path: Path, *, workspace: bool = True, **env: str) -> subprocess.CompletedProcess:
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    settings = ["backends.azureml.compute=cpu-cluster", "backends.azureml.environment=azureml:autogluon:1"]
    if workspace:
        settings += [
            "backends.azureml.subscription_id=00000000-0000-0000-0000-000000000000",
            "backends.azureml.resource_group=rg",
            "backends.azureml.workspace=ws",
        ]
    args = ["submit", str(tmp_path / "iris.yaml"), "--backend", "azureml", *(a for w in settings for a in ("--set", w))]
    base = {  # nothing to sign in with: no AZURE_* variables, no az CLI token cache in this HOME
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "CLOUDAUTO_HOME": str(tmp_path / "home"),
    }
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args], env={**base, **env}, capture_output=True, text=True, timeout=180, cwd=tmp_path
    )


def test_submit_without_signing_in_is_one_clear_error(tmp_path):
    done = _submit(tmp_path)
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if "warning:" not in line]
    said = (
        "not signed in to Azure: run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
        "(a service principal); CLOUDAUTO_DEBUG=1 lists every credential DefaultAzureCredential tried"
    )
    # said by submit's preflight as it reaches the workspace, or without it as the job is created
    assert errors in ([f"error: reach workspace ws: {said}"], [f"error: create job for iris-classification: {said}"]), done.stderr
    assert "EnvironmentCredential" not in done.stderr and "internal error" not in done.stderr


def test_submit_without_a_workspace_names_where_to_set_one(tmp_path):
    done = _submit(tmp_path, workspace=False)
    assert done.returncode == 3, done.stderr  # the backend is not set up, as without a sign-in (1 is an invalid spec)
    assert "error: no Azure ML workspace: set backends.azureml.subscription_id, resource_group and workspace" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
