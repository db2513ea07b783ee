"""A handle on a local job: everything it says comes from the run store.

The store says what the scheduler last wrote; whether the scheduler still runs is checked
against the process it recorded (its pid and that process's start time, so a pid the
system has since given to another program is not taken for it). A job whose scheduler is
gone before the end is `interrupted`, and says how to carry it on (and why it died, where the
scheduler could record it); the trials it was running read `interrupted`, their time frozen
at its last heartbeat. Starting a scheduler is a claim in the store: one owns a job at a time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import JobHandle, JobStatus, NoModel, NothingToResume, NotSupportedError, Trial, TrialStatus
from cloudauto.spec import JobSpec
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.loader import spec_from_store

from . import death, pins
from .paths import private
from .slots import slot_count
from .store import HEARTBEAT_S, WATCHERS, JobRow, RunStore, StoreError, owner_alive, process_start, store_error, unborn

if TYPE_CHECKING:  # pragma: no cover
    from .batch import LocalBatchJob
    from .standby import Standby


PROGRESS_S = 1.0  # wait()'s progress line: how often it is redrawn


class OrchestratorGone(CloudautoError):
    exit_code = 4


def scheduler_alive(job: JobRow) -> bool:
    """Is the process the store names still this job's scheduler?"""
    return owner_alive(job)


def _spawn(store: RunStore) -> int:
    """The scheduler, detached from this process so a closed terminal does not end the sweep."""
    log_path = store.dir / "orchestrator.log"
    with private():  # the log, and the scheduler that inherits the umask, keep the home the user's alone
        try:
            log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        except OSError as exc:
            raise store_error(log_path, exc) from exc
        with log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloudauto_local.orchestrator", str(store.dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
    return proc.pid


def start_orchestrator(
    store: RunStore, check: Optional[Callable[[JobRow], None]] = None, standby: Optional[Standby] = None
) -> int:
    """Start the job's scheduler, claimed in the store: its pid, start time and boot id are written in
    the transaction that found no live scheduler owning the job, so no reader ever sees a job
    without a scheduler to check, and a second start finds the first (JobOwned, naming it).
    A `standby` scheduler (started by submit, its workers importing) is handed the job instead."""
    return store.claim(lambda: (standby and standby.hand_over(store.dir)) or _spawn(store), check)


def _submitted(job_id: str) -> Optional[float]:
    """When a job was submitted, read from its id (`<name>-%Y%m%d-%H%M%S-<hex>`); None if the id is not of that form."""
    parts = job_id.rsplit("-", 3)
    try:
        return time.mktime(time.strptime(f"{parts[-3]}-{parts[-2]}", "%Y%m%d-%H%M%S")) if len(parts) == 4 else None
    except ValueError:
        return None


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
            return self._gone(job)
        if not job.status.is_final and not (job.reason or job.error):
            from .slots import waiting

            return waiting(self.id)  # its next trial waits for one of the machine's slots, behind whom
        return job.reason or job.error

    def _gone(self, job: JobRow) -> str:
        """What a job without its scheduler says: why the scheduler died, where it could record it, and what to do."""
        cause = death.read(self.dir, job.orchestrator_pid) or job.error
        return f"scheduler gone{f' ({cause})' if cause else ''}: cloudauto resume {self.id}"

    def created(self) -> Optional[float]:
        try:
            return self.store.job().created
        except StoreError:
            if unborn(self.dir):  # a killed submit's folder with no job: submitted when its id says (prune removes it)
                return _submitted(self.id) or (self.dir / "run.db").stat().st_mtime
            raise

    def ended(self) -> Optional[float]:
        try:
            return self.store.job().ended
        except StoreError:
            if unborn(self.dir):
                return self.created()
            raise

    @contextmanager
    def watched(self) -> Iterator[None]:
        """A shared lock on the job folder's `.watchers.lock` while `run` waits and reads the results: `delete` takes
        it exclusively, so it is refused until `run` is done (the lock goes with the process, whatever ends it)."""
        import fcntl

        try:
            fh = os.fdopen(os.open(self.dir / WATCHERS, os.O_RDWR | os.O_CREAT, 0o600), "r+")  # held across the yield
        except OSError:  # a read-only copy of a job: nobody deletes it from here
            fh = None
        try:
            if fh is not None:
                fcntl.flock(fh, fcntl.LOCK_SH)
            yield
        finally:
            if fh is not None:
                fh.close()

    def delete(self, *, dry_run: bool = False) -> int:
        from .housekeeping import delete

        return delete(self, dry_run=dry_run)

    def is_orchestrated(self) -> bool:
        return scheduler_alive(self.store.job())

    def trials(self) -> list[Trial]:
        """The store's trials; those a dead scheduler was running read `interrupted`, ended at its last heartbeat."""
        job = self.store.job()
        trials = self.store.trials()
        if scheduler_alive(job) or not any(t.status is TrialStatus.RUNNING for t in trials):
            return trials
        why = self._gone(job)
        out = []
        for trial in trials:
            if trial.status is TrialStatus.RUNNING:
                last = max([job.heartbeat or 0.0, *(m.time for m in trial.metrics)]) or trial.started or time.time()
                ended = max(trial.started or last, min(last, time.time()))
                trial = dataclasses.replace(trial, status=TrialStatus.INTERRUPTED, ended=ended, error=why)
            out.append(trial)
        return out

    def parent_trials(self) -> list[Trial]:
        return [trial for _, trial, _ in self.store.warm_trials()]

    def cancel(self) -> str:
        """Cancel the job, and say what was done: a running scheduler is asked to stop its trials; a job
        whose scheduler is gone is ended here (canceled, its unfinished trials too), so `resume` refuses it."""
        from cloudauto.tuning.criteria import final_value

        done = self.store.cancel(final_value)  # each unfinished trial keeps the last value it reported
        if done == "requested":
            return f"cancel requested for {self.id}: its scheduler stops the running trials"
        if done == "canceled":
            return f"job {self.id} canceled: its scheduler was gone; its unfinished trials are canceled and resume will refuse it"
        return f"job {self.id} has already ended ({done}); nothing to cancel"

    def logs(self, trial: Optional[int] = None) -> str:
        try:
            return self.log_path(trial).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_path(self, trial: Optional[int] = None) -> Path:
        if trial is not None:
            self.trial(trial)  # an error naming the trials there are
        return self.dir / "trials" / str(trial) / "trial.log" if trial is not None else self.dir / "orchestrator.log"

    def wait(self, *, poll: float = 0.2, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        """The status is read every `poll` seconds (one small read of the store: a job's end is seen within 0.2 s,
        not a second), the progress line redrawn at most once a second and at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        from .progress import Progress

        drawn = -math.inf
        with Progress(self, enabled=progress) as bar:
            while True:
                status = self.status()
                if status.is_final or time.monotonic() - drawn >= PROGRESS_S:
                    bar.update()
                    drawn = time.monotonic()
                if status.is_final:
                    return status
                if status is JobStatus.INTERRUPTED:
                    raise OrchestratorGone(f"job {self.id}: {self.status_reason()}")
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {status.value} after {timeout}s")
                time.sleep(poll)

    def resume(self) -> LocalJobHandle:
        """Carry on a job whose scheduler stopped. A job that ended is left as it is, with the reason;
        a job another scheduler runs is refused (JobOwned, naming it): the check and the start are one claim.
        The store keeps ${NAME} references, never their values: a shell without a variable the spec needs
        cannot resume (the variable is named). A job whose data changed since submit is refused (DataChanged,
        naming the file): its finished trials saw the old data."""

        def check(job: JobRow) -> None:
            if job.status is JobStatus.CANCELED:
                raise NothingToResume(
                    f"job {self.id} was canceled ({job.reason or job.error or 'by the user'}); nothing to resume"
                )
            if job.status is JobStatus.COMPLETED:
                raise NothingToResume(f"job {self.id} has completed ({job.reason or 'every trial ran'}); nothing to resume", 0)
            spec_from_store(json.loads(job.spec_json), source=f"job {self.id}", require=True)

        job = self.store.job()
        check(job)
        slot_count()  # a bad CLOUDAUTO_LOCAL_SLOTS is refused here, not in the detached scheduler
        pins.check(self.id, job.inputs)  # hashed outside the claim: the store is not held while big files are read
        start_orchestrator(self.store, check)
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
        keep_columns: Optional[list[str]] = None,
        **options: Any,
    ) -> LocalBatchJob:
        """Score a CSV/Parquet file or a folder of them in chunks over `workers` processes (2 by default);
        `keep_columns` (an ID column, say) are copied from the input in front of the predictions."""
        from .batch import CHUNK_ROWS, plan_for, start

        self.refuse_forecasting_batch()
        if options:
            raise NotSupportedError(
                f"the local backend's predict_batch takes no {', '.join(sorted(options))}; "
                "it takes probabilities, trial, chunk_rows, workers and keep_columns"
            )
        chosen = self.trial(trial) if trial is not None else self.best_trial()
        if chosen is None or "dir" not in chosen.artifacts:
            raise NoModel(f"job {self.id} has no finished trial with a model to score with")
        model_dir = Path(chosen.artifacts["dir"]) / "model"
        if not (model_dir / "cloudauto_model.json").is_file():
            raise NoModel(f"job {self.id}: trial {chosen.number} saved no model to score with")
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
            keep_columns=keep_columns,
        )
        return start(plan)

    def export_mlflow(self, tracking_uri: str, experiment: Optional[str] = None) -> tuple[str, str]:
        from .mlflow_export import export
        from .mlflow_export import tracking_uri as resolved

        uri = resolved(tracking_uri, os.getcwd())
        return export(self, uri, experiment), uri

    def model_uri(self, trial: Optional[Trial] = None) -> str:
        trial = trial or self.best_trial()
        model = Path(trial.artifacts["dir"]) / "model" if trial is not None and "dir" in trial.artifacts else None
        if model is None or not model.is_dir():
            raise NoModel(f"job {self.id} has no finished trial with a model")
        return str(model)

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        trial = self.best_trial() if best else None
        if trial is None or "dir" not in trial.artifacts:
            raise NoModel(f"job {self.id} has no finished trial with a model")
        source = Path(trial.artifacts["dir"]) / "model"
        target = Path(dest)
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target


__all__ = ["HEARTBEAT_S", "LocalJobHandle", "OrchestratorGone", "process_start", "scheduler_alive", "start_orchestrator"]
