"""The durable run store: one SQLite file per job under `<runs>/<job-id>/run.db`.

The orchestrator is its only writer of trials and reports; the CLI and handles read it
(WAL mode lets them while a sweep runs) and write just the cancel request. Every state
change is one transaction, so a SIGKILL at any point leaves a store that `resume`
can finish from: finished trials stay finished, unfinished ones run again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import JobStatus, MetricPoint, Trial, TrialStatus

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
CREATE TABLE IF NOT EXISTS reports (
    trial INTEGER NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (trial, step)
);
"""


# columns added since the first stores were written: (name, SQL type), added to older stores on open
_ADDED_JOB_COLUMNS = (("reason", "TEXT"), ("orchestrator_start", "TEXT"), ("heartbeat", "REAL"))


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


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.path = self.dir / "run.db"
        self._migrated = False

    # connection --------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
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
                self._migrated = True
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @classmethod
    def create(cls, run_dir: Path, job_id: str, spec_json: str, base_dir: Optional[str]) -> RunStore:
        run_dir.mkdir(parents=True, exist_ok=False)
        store = cls(run_dir)
        conn = sqlite3.connect(store.path)
        conn.executescript(SCHEMA)
        conn.close()
        with store._db() as db:
            db.execute(
                "INSERT INTO job (id, spec_json, base_dir, status, created) VALUES (?, ?, ?, ?, ?)",
                (job_id, spec_json, base_dir, JobStatus.PENDING.value, time.time()),
            )
        return store

    def exists(self) -> bool:
        return self.path.is_file()

    # job -----------------------------------------------------------------------------------
    def job(self) -> JobRow:
        with self._db() as db:
            row = db.execute(
                "SELECT id, spec_json, base_dir, status, created, started, ended, orchestrator_pid, "
                "cancel_requested, error, reason, orchestrator_start, heartbeat FROM job"
            ).fetchone()
        return JobRow(row[0], row[1], row[2], JobStatus(row[3]), row[4], row[5], row[6], row[7], bool(row[8]), *row[9:13])

    def set_job(self, **fields: Any) -> None:
        if "status" in fields and isinstance(fields["status"], JobStatus):
            fields["status"] = fields["status"].value
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._db() as db:
            db.execute(f"UPDATE job SET {assignments}", tuple(fields.values()))  # noqa: S608 - our own field names

    def request_cancel(self) -> None:
        self.set_job(cancel_requested=1)

    # trials --------------------------------------------------------------------------------
    def add_trial(self, number: int, params: dict[str, Any], sampler_state: dict[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO trials (number, params_json, sampler_json, status) VALUES (?, ?, ?, ?)",
                (number, json.dumps(params), json.dumps(sampler_state), TrialStatus.PENDING.value),
            )

    def start_trial(self, number: int, worker_pid: int, artifact_dir: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM reports WHERE trial = ?", (number,))  # a rerun after resume starts afresh
            db.execute(
                "UPDATE trials SET status = ?, started = ?, ended = NULL, worker_pid = ?, artifact_dir = ?, "
                "error = NULL, reason = NULL, objective = NULL, attempt = attempt + 1 WHERE number = ?",
                (TrialStatus.RUNNING.value, time.time(), worker_pid, artifact_dir, number),
            )

    def add_report(self, number: int, step: int, value: float) -> None:
        with self._db() as db:
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
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE trials SET status = ?, ended = ?, objective = ?, metrics_json = ?, error = ?, reason = ? "
                "WHERE number = ?",
                (status.value, time.time(), objective, json.dumps(metrics or {}), error, reason, number),
            )

    def requeue_unfinished(self) -> list[int]:
        """On resume: trials that were running or pending go back to pending (same parameters)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT number FROM trials WHERE status IN (?, ?) ORDER BY number",
                (TrialStatus.PENDING.value, TrialStatus.RUNNING.value),
            ).fetchall()
            db.execute(
                "UPDATE trials SET status = ?, worker_pid = NULL WHERE status IN (?, ?)",
                (TrialStatus.PENDING.value, TrialStatus.PENDING.value, TrialStatus.RUNNING.value),
            )
        return [r[0] for r in rows]

    def trials(self) -> list[Trial]:
        with self._db() as db:
            rows = db.execute(
                "SELECT number, params_json, status, objective, started, ended, error, artifact_dir, "
                "metrics_json, reason FROM trials ORDER BY number"
            ).fetchall()
            reports = db.execute("SELECT trial, step, value, time FROM reports ORDER BY trial, step").fetchall()
        history: dict[int, list[MetricPoint]] = {}
        for trial, step, value, at in reports:
            history.setdefault(trial, []).append(MetricPoint(step, value, at))
        out = []
        for number, params, status, objective, started, ended, error, artifact_dir, metrics, reason in rows:
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
                artifacts={"dir": artifact_dir} if artifact_dir else {},
                scores=json.loads(metrics),
            )
            out.append(trial)
        return out

    def sampler_states(self) -> dict[int, dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT number, sampler_json FROM trials").fetchall()
        return {n: json.loads(s) for n, s in rows}


__all__ = ["JobRow", "RunStore"]
