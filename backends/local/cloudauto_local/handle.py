"""A handle on a local job: everything it says comes from the run store.

The store says what the scheduler last wrote; whether the scheduler still runs is checked
against the process it recorded (its pid and that process's start time, so a pid the
system has since given to another program is not taken for it). A job whose scheduler is
gone before the end is `interrupted`, and says how to carry it on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import JobHandle, JobStatus, NothingToResume, NotSupportedError, Trial
from cloudauto.spec import JobSpec
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.loader import spec_from_store

from .paths import private
from .store import JobRow, RunStore

if TYPE_CHECKING:  # pragma: no cover
    from .batch import LocalBatchJob

HEARTBEAT_S = 5.0  # the scheduler writes a heartbeat this often
HEARTBEAT_STALE_S = 60.0  # where a process cannot be looked up, a heartbeat this old means the scheduler is gone


class OrchestratorGone(CloudautoError):
    exit_code = 4


def process_start(pid: int) -> Optional[str]:
    """The start time of process `pid` (clock ticks since boot, from /proc), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has ended: it no longer schedules


def scheduler_alive(job: JobRow) -> bool:
    """Is the process the store names still this job's scheduler?"""
    pid = job.orchestrator_pid
    if not pid:
        return False
    if Path("/proc/self/stat").exists():
        started = process_start(pid)
        if started is None:
            return False
        return job.orchestrator_start is None or started == job.orchestrator_start
    try:  # no /proc: the pid exists, and the scheduler has written lately
        os.kill(pid, 0)
    except OSError:
        return False
    return job.heartbeat is None or time.time() - job.heartbeat < HEARTBEAT_STALE_S


def start_orchestrator(store: RunStore) -> int:
    """Start the scheduler detached from this process, so a closed terminal does not end the sweep.

    Its pid and start time go into the store before this returns, so no reader ever sees a
    job without a scheduler to check.
    """
    with private():  # the log, and the scheduler that inherits the umask, keep the home the user's alone
        log = open(store.dir / "orchestrator.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudauto_local.orchestrator", str(store.dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
    store.set_job(orchestrator_pid=proc.pid, orchestrator_start=process_start(proc.pid), heartbeat=time.time())
    return proc.pid


class LocalJobHandle(JobHandle):
    backend = "local"

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir).resolve()
        self.store = RunStore(self.dir)
        self.id = self.dir.name
        self._spec: Optional[JobSpec] = None

    @property
    def spec(self) -> JobSpec:
        if self._spec is None:
            # a reader's shell may lack the job's ${NAME} variables: those stay references, and nothing is shown that was hidden
            self._spec = spec_from_store(json.loads(self.store.job().spec_json), source=str(self.dir))
        return self._spec

    def status(self) -> JobStatus:
        job = self.store.job()
        if not job.status.is_final and not scheduler_alive(job):
            return JobStatus.INTERRUPTED
        return job.status

    def status_reason(self) -> Optional[str]:
        job = self.store.job()
        if not job.status.is_final and not scheduler_alive(job):
            return f"scheduler gone: cloudauto resume {self.id}"
        return job.reason or job.error

    def is_orchestrated(self) -> bool:
        return scheduler_alive(self.store.job())

    def trials(self) -> list[Trial]:
        return self.store.trials()

    def cancel(self) -> None:
        self.store.request_cancel()

    def logs(self, trial: Optional[int] = None) -> str:
        try:
            return self.log_path(trial).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_path(self, trial: Optional[int] = None) -> Path:
        if trial is not None:
            self.trial(trial)  # an error naming the trials there are
        return self.dir / "trials" / str(trial) / "trial.log" if trial is not None else self.dir / "orchestrator.log"

    def wait(self, *, poll: float = 1.0, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        from .progress import Progress

        with Progress(self, enabled=progress) as bar:
            while True:
                status = self.status()
                bar.update()
                if status.is_final:
                    return status
                if status is JobStatus.INTERRUPTED:
                    raise OrchestratorGone(f"job {self.id}: {self.status_reason()}")
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {status.value} after {timeout}s")
                time.sleep(poll)

    def resume(self) -> LocalJobHandle:
        """Carry on a job whose scheduler stopped. A job that ended is left as it is, with the reason."""
        job = self.store.job()
        if job.status is JobStatus.CANCELED:
            raise NothingToResume(f"job {self.id} was canceled ({job.reason or job.error or 'by the user'}); nothing to resume")
        if job.status is JobStatus.COMPLETED:
            raise NothingToResume(f"job {self.id} has completed ({job.reason or 'every trial ran'}); nothing to resume", 0)
        if scheduler_alive(job):
            raise CloudautoError(f"job {self.id} is still running (scheduler pid {job.orchestrator_pid})")
        # the store keeps ${NAME} references, never their values: a shell without a variable the spec needs cannot resume
        spec_from_store(json.loads(job.spec_json), source=f"job {self.id}", require=True)
        self.store.set_job(cancel_requested=0)
        start_orchestrator(self.store)
        return self

    def predict_batch(
        self,
        input: str | Path,
        output: str | Path,
        *,
        probabilities: bool = False,
        trial: Optional[int] = None,
        chunk_rows: Optional[int] = None,
        workers: Optional[int] = None,
        **options: Any,
    ) -> LocalBatchJob:
        """Score a CSV/Parquet file or a folder of them in chunks over `workers` processes (2 by default)."""
        from .batch import CHUNK_ROWS, plan_for, start

        if options:
            raise NotSupportedError(
                f"the local backend's predict_batch takes no {', '.join(sorted(options))}; "
                "it takes probabilities, trial, chunk_rows and workers"
            )
        chosen = self.trial(trial) if trial is not None else self.best_trial()
        if chosen is None or "dir" not in chosen.artifacts:
            raise CloudautoError(f"job {self.id} has no finished trial with a model to score with")
        model_dir = Path(chosen.artifacts["dir"]) / "model"
        if not (model_dir / "cloudauto_model.json").is_file():
            raise CloudautoError(f"job {self.id}: trial {chosen.number} saved no model to score with")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        plan = plan_for(
            self.id,
            chosen.number,
            str(model_dir),
            input,
            output,
            probabilities=probabilities,
            chunk_rows=chunk_rows or CHUNK_ROWS,
            workers=workers or max(1, min(2, cores)),
        )
        return start(plan)

    def model_uri(self, trial: Optional[Trial] = None) -> str:
        trial = trial or self.best_trial()
        model = Path(trial.artifacts["dir"]) / "model" if trial is not None and "dir" in trial.artifacts else None
        if model is None or not model.is_dir():
            raise CloudautoError(f"job {self.id} has no finished trial with a model")
        return str(model)

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        trial = self.best_trial() if best else None
        if trial is None or "dir" not in trial.artifacts:
            raise CloudautoError(f"job {self.id} has no finished trial with a model")
        source = Path(trial.artifacts["dir"]) / "model"
        target = Path(dest)
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target


__all__ = ["LocalJobHandle", "OrchestratorGone", "process_start", "scheduler_alive", "start_orchestrator"]
