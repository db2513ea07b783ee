from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch) -> Path:
    """Each test keeps its jobs and endpoints in a home of its own; the orchestrator inherits the variable."""
    home = tmp_path / "home"
    monkeypatch.setenv("CLOUDAUTO_HOME", str(home))
    return home / "runs"


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> Path:
    """The example data, made from scikit-learn's bundled copies (no download)."""
    from job_specs import make_data

    out = tmp_path_factory.mktemp("data")
    make_data.iris(out)
    make_data.diabetes(out)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def wait_until(predicate, timeout: float = 120, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
