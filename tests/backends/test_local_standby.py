"""The scheduler on standby (issue 29): submit starts the job's first workers before the data check, so their
AutoGluon import runs while the data is checked and the store written; a refused submit leaves nothing behind."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

import cloudauto
from cloudauto.backend import JobStatus

from ..conftest import ROOT

pytestmark = pytest.mark.slow


def _workers(kind: str = "cloudauto_local.worker") -> list[psutil.Process]:
    """The warm workers (or standby schedulers) under this test process."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if kind in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def _iris(datasets: Path, *overrides: str) -> cloudauto.JobSpec:
    return cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            f"data.train={datasets}/iris/train.csv",
            f"data.test={datasets}/iris/test.csv",
            "sweep.space={models: {choice: [GBM, XT]}, time_limit: 30}",
            "sweep.sampling=grid",
            "limits.max_trials=2",
            "limits.max_concurrent_trials=1",
            *overrides,
        ],
    )


def test_the_first_worker_imports_while_submit_checks_the_data(runs_dir, datasets, monkeypatch):
    from cloudauto.runtime import data_check

    seen: list[int] = []
    original = data_check.data_issues

    def slow_check(spec):  # a data check that takes a while, as a large file's does
        deadline = time.time() + 20
        while not seen and time.time() < deadline:
            seen.extend(w.pid for w in _workers())
            time.sleep(0.05)
        return original(spec)

    monkeypatch.setattr(data_check, "data_issues", slow_check)
    job = cloudauto.submit(_iris(datasets), backend="local")
    assert seen, "no worker was started while submit checked the data"
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    assert len(job.trials()) == 2
    log = (job.dir / "orchestrator.log").read_text()
    assert f"trial 0 started on worker {seen[0]}" in log and f"trial 1 started on worker {seen[0]}" in log, log
    assert f"worker {seen[0]} ready" in log, log  # the standby's log became the job's
    assert not list(runs_dir.glob(".standby-*"))  # renamed into the job's folder


def test_a_submit_the_data_check_refuses_leaves_no_process_and_no_file(runs_dir, datasets, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4\n")  # no target column
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(_iris(datasets, f"data.train={bad}"), backend="local")
    assert caught.value.exit_code == 1, caught.value
    assert _workers() == []
    assert _workers("cloudauto_local.standby") == []
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), list(runs_dir.iterdir())


def test_workers_beyond_what_the_space_needs_are_let_go(runs_dir, datasets):
    # concurrency 2 asked, but the space has one configuration: the standby's second worker is not kept
    job = cloudauto.submit(
        _iris(datasets, "sweep.space={models: GBM, time_limit: 30}", "limits.max_concurrent_trials=2"), backend="local"
    )
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    assert len(job.trials()) == 1
    assert (job.dir / "orchestrator.log").read_text().count(" ready: ") == 1
