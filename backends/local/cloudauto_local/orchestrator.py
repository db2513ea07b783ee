"""The local scheduler: samples trials, feeds warm workers, applies the policy, keeps the store.

Run as `python -m cloudauto_local.orchestrator RUN_DIR` (detached by `submit`, again by
`resume`). It starts from whatever the run store holds: finished trials are replayed into
the sampler and the policy engine, unfinished ones run again with their parameters, and
new ones are numbered after the last, so a sweep never exceeds `max_trials`.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

from cloudauto.backend import JobStatus, TrialStatus
from cloudauto.spec import JobSpec
from cloudauto.spec.models import Engine
from cloudauto.tuning.policies import PolicyEngine
from cloudauto.tuning.samplers import make_sampler

from .store import RunStore

STOP_GRACE_S = 30.0  # a stopped trial has this long to wrap up before its worker is killed
POLL_S = 0.25


@dataclass
class Worker:
    proc: subprocess.Popen
    buffer: bytes = b""
    trial: Optional[int] = None
    deadline: Optional[float] = None
    stop_deadline: Optional[float] = None
    stop_reason: Optional[str] = None
    child_pgid: Optional[int] = None  # a command trial's own process group
    container: Optional[str] = None  # a docker-mode trial's container
    log: Optional[IO[bytes]] = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, **message: Any) -> bool:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        for group in (self.child_pgid, self.proc.pid):  # the trial's command, then the worker's own group
            if group:
                try:
                    os.killpg(group, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.child_pgid = None
        if self.container:
            from .container import kill_container

            kill_container(self.container)
            self.container = None
        self.proc.wait()


class Orchestrator:
    def __init__(self, run_dir: Path):
        self.store = RunStore(run_dir)
        job = self.store.job()
        self.job_id = job.id
        self.base_dir = job.base_dir
        self.spec = JobSpec.from_dict(json.loads(job.spec_json), source=str(self.store.dir / "spec"))
        self.goal = self.spec.objective.goal
        self.sampler = make_sampler(self.spec)
        self.engine = PolicyEngine(self.spec.policy, self.goal)
        self.total = min(self.spec.max_trials, self.sampler.size or math.inf)
        self.concurrency = int(min(self.spec.limits.max_concurrent_trials, self.total))
        settings = self.spec.backends.local
        self.worker_count = min(settings.workers or self.concurrency, self.concurrency)
        self.num_cpus = max(1, (os.cpu_count() or 1) // self.concurrency)
        self.docker = settings.mode.value == "docker"
        self.selector = selectors.DefaultSelector()
        self.workers: list[Worker] = []
        self.pending: list[int] = []
        self.next_number = 0

    # start-up and resume -------------------------------------------------------------------
    def _restore(self) -> None:
        if self.docker:  # a killed orchestrator's containers would still be training
            from .container import remove_job_containers

            remove_job_containers(self.job_id)
        self.pending = self.store.requeue_unfinished()
        states = self.store.sampler_states()
        for trial in self.store.trials():
            self.next_number = max(self.next_number, trial.number + 1)
            if trial.status.is_final:
                self.sampler.restore(
                    trial.number,
                    trial.params,
                    states.get(trial.number, {}),
                    trial.objective if trial.status is TrialStatus.COMPLETED else None,
                )
                self.engine.load(trial.number, [m.value for m in trial.metrics])

    def _spawn(self) -> Worker:
        preload = "autogluon" if self.spec.engine is not Engine.COMMAND and not self.docker else "none"
        log = open(self.store.dir / "workers.log", "ab")  # noqa: SIM115 - lives as long as the worker
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudauto_local.worker", "--preload", preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
            cwd=self.base_dir or None,
        )
        worker = Worker(proc, log=log)
        os.set_blocking(proc.stdout.fileno(), False)
        self.selector.register(proc.stdout, selectors.EVENT_READ, worker)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: Worker) -> None:
        self.selector.unregister(worker.proc.stdout)
        worker.kill()
        if worker.log:
            worker.log.close()
        self.workers.remove(worker)

    # scheduling ----------------------------------------------------------------------------
    def _has_more(self) -> bool:
        return bool(self.pending) or self.next_number < self.total

    def _running(self) -> list[Worker]:
        return [w for w in self.workers if w.trial is not None]

    def _assign(self) -> None:
        while self._has_more() and len(self._running()) < self.concurrency:
            idle = next((w for w in self.workers if w.trial is None), None)
            if idle is None:
                if len(self.workers) >= self.worker_count:
                    return
                idle = self._spawn()
            if self.pending:
                number = self.pending.pop(0)
                params = next(t.params for t in self.store.trials() if t.number == number)
            else:
                number = self.next_number
                params, state = self.sampler.suggest(number)
                self.store.add_trial(number, params, state)
                self.next_number += 1
            trial_dir = self.store.dir / "trials" / str(number)
            trial_dir.mkdir(parents=True, exist_ok=True)
            limits = self.spec.limits
            message = {
                "type": "trial",
                "number": number,
                "params": params,
                "spec": self.spec.to_dict(),
                "base_dir": self.base_dir,
                "out_dir": str(trial_dir),
                "log": str(trial_dir / "trial.log"),
                "num_cpus": self.num_cpus,
                "default_time_limit": 0.8 * limits.trial_timeout if limits.trial_timeout else None,
            }
            if self.docker:
                message.update(
                    mode="docker",
                    image=self.spec.backends.local.image,
                    job_id=self.job_id,
                    code_dir=str(self.store.dir / "code"),
                )
            self.store.start_trial(number, idle.pid, str(trial_dir))
            idle.trial = number
            idle.deadline = time.time() + limits.trial_timeout if limits.trial_timeout else None
            idle.stop_deadline = idle.stop_reason = None
            if not idle.send(**message):
                self._worker_died(idle)

    # messages ------------------------------------------------------------------------------
    def _on_message(self, worker: Worker, message: dict[str, Any]) -> None:
        kind = message.get("type")
        number = message.get("number")
        if kind == "child" and number == worker.trial:
            worker.child_pgid = int(message["pgid"])
        elif kind == "container" and number == worker.trial:
            worker.container = str(message["id"])
        elif kind == "report" and number == worker.trial:
            value = float(message["value"])
            self.store.add_report(number, int(message["step"]), value)
            decision = self.engine.report(number, value)
            if decision.stop and worker.stop_reason is None:
                worker.stop_reason = decision.reason
                worker.stop_deadline = time.time() + STOP_GRACE_S
            worker.send(type="verdict", stop=decision.stop, reason=decision.reason)
        elif kind == "done" and number == worker.trial:
            objective = message.get("objective")
            stopped = worker.stop_reason is not None
            status = TrialStatus.TERMINATED if stopped else TrialStatus.COMPLETED
            self.store.finish_trial(
                number, status, objective=objective, metrics=message.get("metrics"), reason=worker.stop_reason
            )
            self.sampler.observe(number, None if stopped else objective)
            worker.trial = worker.child_pgid = worker.container = None
        elif kind == "failed" and number == worker.trial:
            self.store.finish_trial(number, TrialStatus.FAILED, error=message.get("error"))
            self.sampler.observe(number, None)
            worker.trial = worker.child_pgid = worker.container = None

    def _read(self, worker: Worker) -> None:
        try:
            chunk = os.read(worker.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            self._worker_died(worker)
            return
        worker.buffer += chunk
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._on_message(worker, json.loads(line))

    def _worker_died(self, worker: Worker) -> None:
        code = worker.proc.poll()
        if worker.trial is not None:
            tail = _tail(self.store.dir / "trials" / str(worker.trial) / "trial.log")
            self.store.finish_trial(
                worker.trial,
                TrialStatus.FAILED,
                error=f"the worker process died (exit code {code})" + (f"; log ends: {tail}" if tail else ""),
            )
            self.sampler.observe(worker.trial, None)
        self._retire(worker)

    def _check_clocks(self) -> None:
        now = time.time()
        for worker in list(self._running()):
            if worker.deadline is not None and now > worker.deadline:
                self.store.finish_trial(
                    worker.trial, TrialStatus.TIMED_OUT, error=f"trial_timeout of {self.spec.limits.trial_timeout:g}s reached"
                )
                self.sampler.observe(worker.trial, None)
                worker.trial = None
                self._retire(worker)
            elif worker.stop_deadline is not None and now > worker.stop_deadline:
                self.store.finish_trial(worker.trial, TrialStatus.TERMINATED, reason=worker.stop_reason)
                self.sampler.observe(worker.trial, None)
                worker.trial = None
                self._retire(worker)

    def _stop_all(self, status: TrialStatus, why: str) -> None:
        for worker in list(self.workers):
            if worker.trial is not None:
                self.store.finish_trial(worker.trial, status, error=why)
                worker.trial = None
            self._retire(worker)

    # the loop ------------------------------------------------------------------------------
    def run(self) -> JobStatus:
        self.store.set_job(
            status=JobStatus.RUNNING,
            orchestrator_pid=os.getpid(),
            ended=None,
            error=None,
            started=self.store.job().started or time.time(),
        )
        self._restore()
        started = self.store.job().started
        deadline = started + self.spec.limits.timeout if self.spec.limits.timeout else None
        final, error = JobStatus.COMPLETED, None
        try:
            while True:
                if self.store.job().cancel_requested:
                    self._stop_all(TrialStatus.CANCELED, "canceled by the user")
                    final, error = JobStatus.CANCELED, "canceled by the user"
                    break
                if deadline is not None and time.time() > deadline:
                    self._stop_all(TrialStatus.TIMED_OUT, f"limits.timeout of {self.spec.limits.timeout:g}s reached")
                    final, error = JobStatus.CANCELED, f"limits.timeout of {self.spec.limits.timeout:g}s reached"
                    break
                self._assign()
                if not self._running() and not self._has_more():
                    break
                for key, _ in self.selector.select(timeout=POLL_S):
                    self._read(key.data)
                self._check_clocks()
        finally:
            for worker in list(self.workers):
                worker.send(type="exit")
                self._retire(worker)
        trials = self.store.trials()
        if final is JobStatus.COMPLETED and not any(t.objective is not None for t in trials):
            final, error = (
                JobStatus.FAILED,
                "no trial produced a result: " + "; ".join(f"trial {t.number}: {t.error}" for t in trials if t.error)[:2000],
            )
        self.store.set_job(status=final, ended=time.time(), error=error)
        return final


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def main() -> None:
    run_dir = Path(sys.argv[1])
    try:
        Orchestrator(run_dir).run()
    except Exception as exc:  # record why, so `status` can say it
        RunStore(run_dir).set_job(status=JobStatus.FAILED, ended=time.time(), error=f"orchestrator: {type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    main()
