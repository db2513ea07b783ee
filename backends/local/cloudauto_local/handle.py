"""A handle on a local job: everything it says comes from the run store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from cloudauto.backend import JobHandle, JobStatus, Trial
from cloudauto.spec import JobSpec
from cloudauto.spec.errors import CloudautoError

from .store import RunStore


class OrchestratorGone(CloudautoError):
    exit_code = 4


def orchestrator_alive(pid: Optional[int], run_dir: Path) -> bool:
    """Is `pid` still this job's orchestrator (and not a reused pid)?"""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid
    state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] if Path(f"/proc/{pid}/stat").exists() else ""
    return state != "Z" and b"cloudauto_local.orchestrator" in cmdline and str(run_dir).encode() in cmdline


def start_orchestrator(run_dir: Path) -> int:
    """Start the scheduler detached from this process, so a closed terminal does not end the sweep."""
    log = open(run_dir / "orchestrator.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudauto_local.orchestrator", str(run_dir)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    return proc.pid


class LocalJobHandle(JobHandle):
    backend = "local"

    def __init__(self, run_dir: Path, *, launched_pid: Optional[int] = None):
        self.dir = Path(run_dir).resolve()
        self.store = RunStore(self.dir)
        self.id = self.dir.name
        self._launched_pid = launched_pid
        self._spec: Optional[JobSpec] = None

    @property
    def spec(self) -> JobSpec:
        if self._spec is None:
            self._spec = JobSpec.from_dict(json.loads(self.store.job().spec_json), source=str(self.dir))
        return self._spec

    def status(self) -> JobStatus:
        return self.store.job().status

    def is_orchestrated(self) -> bool:
        job = self.store.job()
        return orchestrator_alive(job.orchestrator_pid or self._launched_pid, self.dir)

    def trials(self) -> list[Trial]:
        return self.store.trials()

    def cancel(self) -> None:
        self.store.request_cancel()

    def logs(self, trial: Optional[int] = None) -> str:
        path = self.dir / "trials" / str(trial) / "trial.log" if trial is not None else self.dir / "orchestrator.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_path(self, trial: Optional[int] = None) -> Path:
        return self.dir / "trials" / str(trial) / "trial.log" if trial is not None else self.dir / "orchestrator.log"

    def wait(self, *, poll: float = 1.0, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        grace = time.monotonic() + 15  # the orchestrator writes its pid within a moment of starting
        from .progress import Progress

        with Progress(self, enabled=progress) as bar:
            while True:
                status = self.status()
                bar.update()
                if status.is_final:
                    return status
                if time.monotonic() > grace and not self.is_orchestrated():
                    raise OrchestratorGone(
                        f"job {self.id} is {status.value} but its orchestrator is not running; "
                        f"finish it with: cloudauto resume {self.id}"
                    )
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {status.value} after {timeout}s")
                time.sleep(poll)

    def resume(self) -> LocalJobHandle:
        job = self.store.job()
        if job.status.is_final and job.status is not JobStatus.FAILED:
            return self
        if self.is_orchestrated():
            raise CloudautoError(f"job {self.id} is still running (orchestrator pid {job.orchestrator_pid})")
        self.store.set_job(cancel_requested=0)
        self._launched_pid = start_orchestrator(self.dir)
        return self

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        trial = self.best_trial() if best else None
        if trial is None or "dir" not in trial.artifacts:
            raise CloudautoError(f"job {self.id} has no finished trial with a model")
        source = Path(trial.artifacts["dir"]) / "model"
        target = Path(dest)
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target


__all__ = ["LocalJobHandle", "OrchestratorGone", "orchestrator_alive", "start_orchestrator"]
