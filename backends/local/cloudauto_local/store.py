"""The durable run store: one SQLite file per job under `<runs>/<job-id>/run.db`.

The orchestrator is its only writer of trials and reports; the CLI and handles read it
(WAL mode lets them while a sweep runs) and write just the cancel request. Every state
change is one transaction, so a SIGKILL at any point leaves a store that `resume`
can finish from: finished trials stay finished, unfinished ones run again.

One scheduler owns a job at a time: its pid, that process's start time and the boot id are
written in the same write transaction that checks no live scheduler owns the job
(`claim`), so two `resume` at once start one scheduler. A store that cannot be read or
written (a full disk, a read-only folder, a corrupt file) is a StoreError naming the file
and the cause, never an internal error.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import JobOwned, JobStatus, MetricPoint, Trial, TrialStatus
from cloudauto.reporting import POSITIVE_CLASS
from cloudauto.runtime.bundle import RUN_STORE_MARKER
from cloudauto.spec.errors import CloudautoError

SCHEMA = """
CREATE TABLE IF NOT EXISTS job (
    id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, base_dir TEXT, status TEXT NOT NULL,
    created REAL NOT NULL, started REAL, ended REAL, orchestrator_pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT, reason TEXT, orchestrator_start TEXT, heartbeat REAL
);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY, params_json TEXT NOT NULL, sampler_json TEXT NOT NULL, status TEXT NOT NULL,
    objective REAL, metrics_json TEXT NOT NULL DEFAULT '{}', started REAL, ended REAL, error TEXT, reason TEXT,
    attempt INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER, artifact_dir TEXT
);
CREATE TABLE IF NOT EXISTS warm_trials (
    parent TEXT NOT NULL, number INTEGER NOT NULL, params_json TEXT NOT NULL, sampler_json TEXT NOT NULL,
    status TEXT NOT NULL, objective REAL, ended REAL, PRIMARY KEY (parent, number)
);
CREATE TABLE IF NOT EXISTS reports (
    trial INTEGER NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (trial, step)
);
"""


# columns added since the first stores were written: (name, SQL type), added to older stores on open
_ADDED_JOB_COLUMNS = (
    ("reason", "TEXT"),
    ("orchestrator_start", "TEXT"),
    ("heartbeat", "REAL"),
    ("orchestrator_boot", "TEXT"),
    ("inputs_json", "TEXT"),
    ("code_json", "TEXT"),
)
_ADDED_TRIAL_COLUMNS = (("retries", "INTEGER NOT NULL DEFAULT 0"),)  # infrastructure faults retried (limits.trial_retries)
_JOB_COLUMNS = (
    "id, spec_json, base_dir, status, created, started, ended, orchestrator_pid, "
    "cancel_requested, error, reason, orchestrator_start, heartbeat, orchestrator_boot, inputs_json, code_json"
)

HEARTBEAT_S = 5.0  # the scheduler writes a heartbeat this often
HEARTBEAT_STALE_S = 60.0  # where a process cannot be looked up, a heartbeat this old means the scheduler is gone


CREATING = ".creating-"  # `.<id>.creating-<pid>`: a job's folder being built (RunStore.create), renamed into place when whole
WATCHERS = ".watchers.lock"  # in a job's folder: shared by each `run` that waits on the job, taken exclusively by `delete`


class StoreError(CloudautoError):
    """A job's run store cannot be read or written: the file, the cause, what to do (exit 3, as a job that cannot be found)."""

    exit_code = 3

    def __init__(self, message: str, cause: Optional[str] = None):
        super().__init__(message)
        self.cause = cause or message  # the fault alone, without what to do: what a dying scheduler records


# ---- who owns a job ---------------------------------------------------------------------------


def process_start(pid: int) -> Optional[str]:
    """The start time of process `pid` (clock ticks since boot, from /proc), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has ended: it no longer schedules


def boot_id() -> Optional[str]:
    """This boot's id: a pid and start time recorded before a reboot name no process after it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def path_in(path: Optional[str]) -> Any:
    """A path as the store keeps it: text, or its bytes (os.fsencode) where it is no UTF-8 (a folder name in another
    encoding): SQLite takes no lone surrogate, and the bytes give the path back whole (path_out)."""
    if path is None:
        return None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def path_out(value: Any) -> Optional[str]:
    """A path path_in stored, as the str os functions take."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


@dataclass
class JobRow:
    id: str
    spec_json: str
    base_dir: Optional[str]
    status: JobStatus
    created: float
    started: Optional[float]
    ended: Optional[float]
    orchestrator_pid: Optional[int]
    cancel_requested: bool
    error: Optional[str]
    reason: Optional[str] = None  # why the job ended as it did (a budget reached, a cancel ...)
    orchestrator_start: Optional[str] = None  # the scheduler process's start time, so a reused pid is not taken for it
    heartbeat: Optional[float] = None
    orchestrator_boot: Optional[str] = None
    inputs_json: Optional[str] = None  # the data pinned at submit: path -> {role, size, sha256} (pins.py)
    code_json: Optional[str] = None  # engine: command: its code snapshot at submit, file -> sha256 (pins.code_digests)

    @classmethod
    def of(cls, row: tuple) -> JobRow:
        return cls(row[0], row[1], path_out(row[2]), JobStatus(row[3]), row[4], row[5], row[6], row[7], bool(row[8]), *row[9:16])

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.inputs_json) if self.inputs_json else {}

    @property
    def code(self) -> Optional[dict[str, str]]:
        """The command's code snapshot at submit (file -> sha256), or None where it was not recorded."""
        return json.loads(self.code_json) if self.code_json else None


def owner_alive(job: JobRow) -> bool:
    """Is the process the store names still this job's scheduler (same pid, same start, same boot)?"""
    pid = job.orchestrator_pid
    if not pid:
        return False
    if Path("/proc/self/stat").exists():
        if job.orchestrator_boot and job.orchestrator_boot != boot_id():
            return False
        started = process_start(pid)
        if started is None:
            return False
        return job.orchestrator_start is None or started == job.orchestrator_start
    try:  # no /proc: the pid exists, and the scheduler has written lately
        os.kill(pid, 0)
    except OSError:
        return False
    return job.heartbeat is None or time.time() - job.heartbeat < HEARTBEAT_STALE_S


def _owned_message(job: JobRow) -> str:
    heard = f", last heartbeat {time.time() - job.heartbeat:.0f}s ago" if job.heartbeat else ""
    return (
        f"job {job.id} is run by scheduler pid {job.orchestrator_pid}{heard}; one scheduler runs a job at a time. "
        f"Follow it with: cloudauto status {job.id} (or cloudauto logs {job.id} --follow)"
    )


def _last_sign(db: sqlite3.Connection, number: int, started: Optional[float], last_beat: Optional[float], now: float) -> float:
    """When a trial's run was last seen alive: its scheduler's last heartbeat or its own last report."""
    (reported,) = db.execute("SELECT MAX(time) FROM reports WHERE trial = ?", (number,)).fetchone()
    last = max(last_beat or 0.0, reported or 0.0) or now
    return max(started or last, min(last, now))


# ---- what went wrong with the file ------------------------------------------------------------


def describe_fault(path: Path, exc: BaseException) -> str:
    """Why `path` (the run store, or a file beside it) cannot be used, in words, with what to do."""
    what, todo = _fault(path, exc)
    return f"{what}. {todo}" if todo else what


def _fault(path: Path, exc: BaseException) -> tuple[str, str]:
    """(what is wrong with `path`, what to do about it)."""
    folder = path.parent
    if isinstance(exc, FileNotFoundError) and not folder.exists():  # `delete` renames the folder aside first
        return f"no local job '{folder.name}': it was deleted meanwhile (by another command)", ""
    name = getattr(exc, "sqlite_errorname", "") or ""
    code = getattr(exc, "errno", None)
    detail = f"{exc.strerror or exc}" if isinstance(exc, OSError) else f"sqlite: {exc}"
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or name.startswith("SQLITE_CORRUPT"):
        return (
            f"the run store {path} is corrupt ({detail}): this job's record cannot be read",
            f"Move the folder {folder} aside (other jobs are not affected)",
        )
    if code == errno.ENOSPC or name.startswith("SQLITE_FULL") or _disk_full(folder):
        return f"cannot write {path}: the disk is full ({detail})", f"Free space on it, then: cloudauto resume {folder.name}"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or name.startswith("SQLITE_READONLY") or not _writable(folder):
        return (
            f"cannot write {path}: the run folder {folder} is read-only ({detail})",
            "Make it writable (or copy the job elsewhere)",
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return f"the run store {path} is locked by another process ({detail})", "Try again"
    if not path.exists() and code is None:
        return f"the run store {path} is gone ({detail})", ""
    return f"the run store {path} cannot be used ({detail})", ""


def store_error(path: Path, exc: BaseException) -> StoreError:
    what, todo = _fault(path, exc)
    return StoreError(f"{what}. {todo}" if todo else what, cause=what)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _writable(folder: Path) -> bool:
    return not folder.exists() or os.access(folder, os.W_OK)


def unborn(run_dir: Path) -> bool:
    """Whether `run_dir` is a job folder whose store never got its job (a submit of an earlier release killed while it
    created it in place) and that no process has open (no submit still writes it): nothing owns it, it may be removed."""
    path = Path(run_dir) / "run.db"
    try:
        if Path(run_dir).is_symlink() or not path.is_file() or _open_elsewhere(path):
            return False
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return "job" not in tables or conn.execute("SELECT COUNT(*) FROM job").fetchone()[0] == 0
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False


def _open_elsewhere(path: Path) -> bool:
    """Whether another process has `path` open (its /proc fd links; processes we may not look into are passed over)."""
    target = os.path.realpath(path)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return True
            except OSError:
                continue
    return False


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.path = self.dir / "run.db"
        self._migrated = False
        self._held: Optional[sqlite3.Connection] = None

    def hold_open(self) -> None:
        """Keep a connection to the store open for this process's life (the scheduler's, which writes it all along).

        Each transaction opens and closes its own connection; when the last connection to a WAL
        database closes, SQLite checkpoints the log into the database (an fsync) and deletes it,
        so without this every write of the scheduler (a trial's start, each reported point, its
        end) cost ~10 ms instead of ~1 ms. The held connection is idle: it holds no lock and no
        read snapshot, so other processes read and write as before, and SQLite's automatic
        checkpoints keep the log small. What the store promises is unchanged: each write is
        committed (synchronous=NORMAL, as before) and survives the scheduler's death.
        """
        if self._held is None:
            try:
                self._held = sqlite3.connect(self.path, isolation_level=None)
                self._held.execute("PRAGMA journal_mode=WAL").fetchall()
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from exc

    # connection --------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a fault of the file (not of our SQL) becomes a StoreError that names it."""
        try:
            with self._transaction() as conn:
                yield conn
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except (sqlite3.Error, OSError) as exc:
            raise store_error(self.path, exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if not self.path.is_file():  # sqlite would make an empty store where the job's was
            raise FileNotFoundError(errno.ENOENT, "no such file", str(self.path))
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            if not self._migrated:  # a store written by an earlier release lacks the newer columns
                have = {row[1] for row in conn.execute("PRAGMA table_info(job)")}
                for name, kind in _ADDED_JOB_COLUMNS:
                    if name not in have:
                        conn.execute(f"ALTER TABLE job ADD COLUMN {name} {kind}")
                have = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
                for name, kind in _ADDED_TRIAL_COLUMNS:
                    if name not in have:
                        conn.execute(f"ALTER TABLE trials ADD COLUMN {name} {kind}")
                self._migrated = True
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:  # a store that failed mid-write may not roll back either: the error is the first one
                pass
            raise
        finally:
            conn.close()

    @classmethod
    def create(
        cls,
        run_dir: Path,
        job_id: str,
        spec_json: str,
        base_dir: Optional[str],
        inputs: Optional[dict[str, Any]] = None,
        code: Optional[dict[str, str]] = None,
        link: Optional[Path] = None,
    ) -> RunStore:
        """A new job's store; where the disk or folder refuses it, nothing is left behind.

        Built in a hidden `.<id>.creating-<pid>` folder and renamed into place once its job row is in, so a submit
        killed mid-way (kill -9) leaves no job folder without a job, only that hidden folder, which `prune` removes.
        `link` (the home's link to a job written elsewhere) is made once that folder exists, before the rename: a
        kill leaves no job folder the home does not link to, and a link to no folder only beside a `.creating-` one
        (housekeeping.leftovers removes both once the submit is gone).
        """
        if run_dir.exists() or run_dir.is_symlink():
            raise store_error(run_dir / "run.db", FileExistsError(errno.EEXIST, "exists", str(run_dir)))
        building = run_dir.with_name(f".{run_dir.name}{CREATING}{os.getpid()}")
        try:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            building.mkdir()
        except OSError as exc:
            raise store_error(run_dir / "run.db", exc) from exc
        store = cls(building)
        try:
            # a job folder says it is one: a command job's code snapshot never ships it (its store, logs, models)
            (building / RUN_STORE_MARKER).write_text("a cloudauto local job's folder\n", encoding="utf-8")
            if link is not None:
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(run_dir, target_is_directory=True)
            conn = sqlite3.connect(store.path)
            try:
                conn.executescript(SCHEMA)
            finally:
                conn.close()
            with store._db() as db:
                db.execute(
                    "INSERT INTO job (id, spec_json, base_dir, status, created, inputs_json, code_json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        spec_json,
                        path_in(base_dir),
                        JobStatus.PENDING.value,
                        time.time(),
                        json.dumps(inputs or {}),
                        None if code is None else json.dumps(code),
                    ),
                )
            os.rename(building, run_dir)
        except (sqlite3.Error, OSError, StoreError) as exc:
            if link is not None and link.is_symlink() and not run_dir.exists():
                link.unlink(missing_ok=True)
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, StoreError):
                raise
            raise store_error(run_dir / "run.db", exc) from exc
        return cls(run_dir)

    def exists(self) -> bool:
        return self.path.is_file()

    # job -----------------------------------------------------------------------------------
    def job(self) -> JobRow:
        with self._db() as db:
            return self._job(db)

    def _job(self, db: sqlite3.Connection) -> JobRow:
        row = db.execute(f"SELECT {_JOB_COLUMNS} FROM job").fetchone()  # noqa: S608 - our own column names
        if row is None:
            raise StoreError(f"the run store {self.path} holds no job: it is not a cloudauto job's store")
        return JobRow.of(row)

    def set_job(self, **fields: Any) -> None:
        if "status" in fields and isinstance(fields["status"], JobStatus):
            fields["status"] = fields["status"].value
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._db() as db:
            db.execute(f"UPDATE job SET {assignments}", tuple(fields.values()))  # noqa: S608 - our own field names

    def request_cancel(self) -> None:
        self.set_job(cancel_requested=1)

    # ownership -------------------------------------------------------------------------------
    def claim(self, start: Callable[[], int], check: Optional[Callable[[JobRow], None]] = None) -> int:
        """Start the job's scheduler with `start()` (it returns the pid) unless a live one owns the job.

        The check, the start and the record of the new owner are one write transaction, so a
        second claim waits for it and then finds the owner alive: JobOwned, naming it.
        `check` may refuse first (a job that has ended).
        """
        with self._db() as db:
            job = self._job(db)
            if check is not None:
                check(job)
            if owner_alive(job):
                raise JobOwned(_owned_message(job))
            pid = start()
            db.execute(
                "UPDATE job SET orchestrator_pid = ?, orchestrator_start = ?, orchestrator_boot = ?, heartbeat = ?, "
                "cancel_requested = 0",
                (pid, process_start(pid), boot_id(), time.time()),
            )
        return pid

    def take_over(self, pid: int) -> JobRow:
        """The scheduler's own claim as it starts: the job is its (its starter recorded it) or no live one's.

        Returns the job as it was before: its heartbeat is the last sign of the scheduler before this one.
        """
        with self._db() as db:
            job = self._job(db)
            mine = job.orchestrator_pid == pid and job.orchestrator_start in (None, process_start(pid))
            if not mine and owner_alive(job):
                raise JobOwned(_owned_message(job))
            now = time.time()
            db.execute(
                "UPDATE job SET status = ?, orchestrator_pid = ?, orchestrator_start = ?, orchestrator_boot = ?, "
                "ended = NULL, error = NULL, reason = NULL, heartbeat = ?, started = COALESCE(started, ?)",
                (JobStatus.RUNNING.value, pid, process_start(pid), boot_id(), now, now),
            )
            return job

    def owned_by(self, pid: int) -> bool:
        job = self.job()
        return job.orchestrator_pid == pid and job.orchestrator_start in (None, process_start(pid))

    def cancel(self, best: Callable[[list[float]], Optional[float]]) -> str:
        """Cancel the job: a live scheduler is asked to stop; without one, the job ends here, canceled.

        Returns what happened: 'requested', 'canceled' (ended here) or the status of a job that had ended.
        Trials that were running when the scheduler died end at its last heartbeat with the last value
        they reported; trials never started are canceled too.
        """
        with self._db() as db:
            job = self._job(db)
            if job.status.is_final:
                return job.status.value
            if owner_alive(job):
                db.execute("UPDATE job SET cancel_requested = 1")
                return "requested"
            now = time.time()
            why = "canceled by the user (its scheduler was gone)"
            self._end_unfinished(db, TrialStatus.CANCELED, why, best, job.heartbeat, now)
            db.execute(
                "UPDATE job SET status = ?, ended = ?, reason = ?, cancel_requested = 1",
                (JobStatus.CANCELED.value, now, why),
            )
        return "canceled"

    # trials --------------------------------------------------------------------------------
    def add_trial(self, number: int, params: dict[str, Any], sampler_state: dict[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO trials (number, params_json, sampler_json, status) VALUES (?, ?, ?, ?)",
                (number, json.dumps(params), json.dumps(sampler_state), TrialStatus.PENDING.value),
            )

    def start_trial(self, number: int, worker_pid: int, artifact_dir: str) -> None:
        with self._db() as db:
            # a rerun after resume keeps the earlier run's reports until it reports (add_report(fresh=True)) or ends
            db.execute(
                "UPDATE trials SET status = ?, started = ?, ended = NULL, worker_pid = ?, artifact_dir = ?, "
                "error = NULL, reason = NULL, objective = NULL, attempt = attempt + 1 WHERE number = ?",
                (TrialStatus.RUNNING.value, time.time(), worker_pid, path_in(artifact_dir), number),
            )

    def add_report(self, number: int, step: int, value: float, fresh: bool = False) -> None:
        """One reported point; `fresh`: the first of this run of the trial, so an earlier run's points go."""
        with self._db() as db:
            if fresh:
                db.execute("DELETE FROM reports WHERE trial = ?", (number,))
            db.execute(
                "INSERT OR REPLACE INTO reports (trial, step, value, time) VALUES (?, ?, ?, ?)",
                (number, step, value, time.time()),
            )

    def finish_trial(
        self,
        number: int,
        status: TrialStatus,
        *,
        objective: Optional[float] = None,
        metrics: Optional[dict[str, float]] = None,
        error: Optional[str] = None,
        reason: Optional[str] = None,
        drop_reports: bool = False,
    ) -> None:
        """`drop_reports`: the trial ended in a run that reported nothing, so an earlier run's points go."""
        with self._db() as db:
            if drop_reports:
                db.execute("DELETE FROM reports WHERE trial = ?", (number,))
            db.execute(
                "UPDATE trials SET status = ?, ended = ?, objective = ?, metrics_json = ?, error = ?, reason = ? "
                "WHERE number = ?",
                (status.value, time.time(), objective, json.dumps(metrics or {}), error, reason, number),
            )

    def retry_trial(self, number: int, why: str) -> int:
        """A trial an infrastructure fault ended goes back to pending with its parameters; returns its retries so far.

        Its reports go (the retry starts over); `why` stays as its reason until it starts again."""
        with self._db() as db:
            db.execute("DELETE FROM reports WHERE trial = ?", (number,))
            db.execute(
                "UPDATE trials SET status = ?, retries = retries + 1, worker_pid = NULL, ended = NULL, objective = NULL, "
                "error = NULL, reason = ? WHERE number = ?",
                (TrialStatus.PENDING.value, why, number),
            )
            return int(db.execute("SELECT retries FROM trials WHERE number = ?", (number,)).fetchone()[0])

    def retries(self) -> dict[int, int]:
        """Trial number -> infrastructure faults retried so far."""
        with self._db() as db:
            return {n: r for n, r in db.execute("SELECT number, retries FROM trials WHERE retries > 0")}

    # warm start ----------------------------------------------------------------------------
    def add_warm_trials(
        self, rows: list[tuple[str, int, dict[str, Any], dict[str, Any], str, Optional[float], Optional[float]]]
    ) -> None:
        """The parents' finished trials (parent, number, params, sampler state, status, objective, ended), kept here
        so the sweep starts from them again on resume, even once a parent is deleted."""
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO warm_trials (parent, number, params_json, sampler_json, status, objective, ended) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(p, n, json.dumps(params), json.dumps(state), st, obj, end) for p, n, params, state, st, obj, end in rows],
            )

    def warm_trials(self) -> list[tuple[str, Trial, dict[str, Any]]]:
        """(parent job, its trial, its sampler state), in the parents' order as given, then by number."""
        with self._db() as db:
            have = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'warm_trials'").fetchone()
            if have is None:  # a store written before warm start
                return []
            rows = db.execute(
                "SELECT parent, number, params_json, sampler_json, status, objective, ended FROM warm_trials ORDER BY rowid"
            ).fetchall()
        return [
            (
                parent,
                Trial(
                    id=f"{parent}#{number}",
                    number=number,
                    params=json.loads(params),
                    status=TrialStatus(status),
                    objective=objective,
                    ended=ended,
                ),
                json.loads(state),
            )
            for parent, number, params, state, status, objective, ended in rows
        ]

    def requeue_unfinished(self, last_beat: Optional[float] = None) -> list[int]:
        """On resume: trials that were running or pending go back to pending (same parameters).

        A trial the dead scheduler was running keeps its reports, and its time stops at the last sign
        of that scheduler (`last_beat`, or its last report), until it runs again: a cancel before then
        ends it with that time and the last value it reported.
        """
        with self._db() as db:
            rows = db.execute(
                "SELECT number, status, started FROM trials WHERE status IN (?, ?) ORDER BY number",
                (TrialStatus.PENDING.value, TrialStatus.RUNNING.value),
            ).fetchall()
            now = time.time()
            for number, status, started in rows:
                if status == TrialStatus.RUNNING.value:
                    db.execute(
                        "UPDATE trials SET ended = ? WHERE number = ?", (_last_sign(db, number, started, last_beat, now), number)
                    )
            db.execute(
                "UPDATE trials SET status = ?, worker_pid = NULL WHERE status IN (?, ?)",
                (TrialStatus.PENDING.value, TrialStatus.PENDING.value, TrialStatus.RUNNING.value),
            )
        return [r[0] for r in rows]

    def end_unfinished(self, status: TrialStatus, why: str, best: Callable[[list[float]], Optional[float]]) -> list[int]:
        """End every trial not yet ended (as a canceled job must): see `_end_unfinished`. Returns their numbers."""
        with self._db() as db:
            return self._end_unfinished(db, status, why, best, None, time.time())

    def _end_unfinished(
        self,
        db: sqlite3.Connection,
        status: TrialStatus,
        why: str,
        best: Callable[[list[float]], Optional[float]],
        last_beat: Optional[float],
        now: float,
    ) -> list[int]:
        """A trial that had run (interrupted, or reset for a rerun that has not started) ends at the last sign
        of its run with the last value it reported; one that never ran ends now, without a value."""
        rows = db.execute(
            "SELECT number, status, started, ended FROM trials WHERE status IN (?, ?) ORDER BY number",
            (TrialStatus.PENDING.value, TrialStatus.RUNNING.value),
        ).fetchall()
        for number, was, started, ended in rows:
            if started is None:
                db.execute(
                    "UPDATE trials SET status = ?, ended = ?, reason = ? WHERE number = ?", (status.value, now, why, number)
                )
                continue
            if was == TrialStatus.RUNNING.value or ended is None:
                ended = _last_sign(db, number, started, last_beat, now)
            values = [v for (v,) in db.execute("SELECT value FROM reports WHERE trial = ? ORDER BY step", (number,))]
            db.execute(
                "UPDATE trials SET status = ?, ended = ?, objective = ?, reason = ?, worker_pid = NULL WHERE number = ?",
                (status.value, ended, best(values), why, number),
            )
        return [r[0] for r in rows]

    def reported(self, number: int) -> list[float]:
        with self._db() as db:
            return [v for (v,) in db.execute("SELECT value FROM reports WHERE trial = ? ORDER BY step", (number,))]

    def trials(self) -> list[Trial]:
        with self._db() as db:
            rows = db.execute(
                "SELECT number, params_json, status, objective, started, ended, error, artifact_dir, "
                "metrics_json, reason, retries FROM trials ORDER BY number"
            ).fetchall()
            reports = db.execute("SELECT trial, step, value, time FROM reports ORDER BY trial, step").fetchall()
        history: dict[int, list[MetricPoint]] = {}
        for trial, step, value, at in reports:
            history.setdefault(trial, []).append(MetricPoint(step, value, at))
        out = []
        for number, params, status, objective, started, ended, error, artifact_dir, metrics, reason, retries in rows:
            scores = json.loads(metrics)
            trial = Trial(
                id=str(number),
                number=number,
                params=json.loads(params),
                status=TrialStatus(status),
                metrics=history.get(number, []),
                objective=objective,
                started=started,
                ended=ended,
                error=error or reason,
                artifacts={"dir": path_out(artifact_dir)} if artifact_dir else {},
                scores=scores,
                positive_class=scores.pop(POSITIVE_CLASS, None),  # recorded with the figures; not one of them
                retries=retries,
            )
            out.append(trial)
        return out

    def sampler_states(self) -> dict[int, dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT number, sampler_json FROM trials").fetchall()
        return {n: json.loads(s) for n, s in rows}


__all__ = ["JobRow", "RunStore", "StoreError", "boot_id", "describe_fault", "owner_alive", "process_start", "store_error"]
