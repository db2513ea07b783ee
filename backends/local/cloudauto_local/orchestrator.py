"""The local scheduler: samples trials, feeds warm workers, applies the policy, keeps the store.

Run as `python -m cloudauto_local.orchestrator RUN_DIR` (detached by `submit`, again by
`resume`). It starts from whatever the run store holds: the sampler proposes from the
store's trials, finished trials are replayed into the policy engine, unfinished ones run
again with their parameters, and new ones are numbered after the last, so a sweep never
exceeds `max_trials`. What it does and why goes to `orchestrator.log` (`cloudauto logs`).
A job that its own budget ends (the timeout, the trial count, a search space with no
configuration left) has completed when a trial has a result; the reason says which.

It runs only as the job's owner (the claim in the store): one started beside a live owner
says so and exits 6 without touching the job. A worker that dies is `worker died (SIGKILL)`
(or its exit status), not its trial's last log line; a scheduler that fails records why in
`scheduler.exit` (room reserved as it started, so a full disk cannot stop it) and, where the
store still takes it, in the store.
"""

from __future__ import annotations

import json
import logging
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

from cloudauto.backend import JobOwned, JobStatus, Trial, TrialStatus
from cloudauto.report import failure_groups
from cloudauto.secrets import Redactor, redactor
from cloudauto.spec.loader import spec_from_store
from cloudauto.tuning.criteria import final_value
from cloudauto.tuning.policies import PolicyEngine
from cloudauto.tuning.samplers import Past, make_sampler

from . import death, endings, slots
from .handle import HEARTBEAT_S
from .standby import preload_for, spawn_worker
from .store import RunStore, StoreError

log = logging.getLogger("cloudauto.scheduler")

STOP_GRACE_S = 45.0  # a stopped trial's backstop: its command gets 30 s to wrap up, 5 more after SIGTERM (command_runner)
POLL_S = 0.25


@dataclass
class Worker:
    proc: subprocess.Popen
    buffer: bytes = b""
    trial: Optional[int] = None
    deadline: Optional[float] = None
    stop_deadline: Optional[float] = None
    stop_reason: Optional[str] = None
    stop_final: bool = False  # the stop ends a trial that had its whole budget (asha/hyperband's max_resource)
    child_pgid: Optional[int] = None  # a command trial's own process group
    container: Optional[str] = None  # a docker-mode trial's container
    log: Optional[IO[bytes]] = field(default=None, repr=False)
    log_from: int = 0  # where this attempt's lines start in its trial's log (an earlier attempt's come before)

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

    def kill(self, reap: bool = True) -> None:
        """SIGKILL the worker (and its trial's command or container); `reap=False` leaves its reaping for later."""
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
        if reap:
            self.proc.wait()


class Orchestrator:
    def __init__(self, run_dir: Path, ready: Sequence[subprocess.Popen] = ()):
        self.store = RunStore(run_dir)
        job = self.store.job()
        self.store.hold_open()  # each write a commit, not a checkpoint of the store's log as well
        self.job_id = job.id
        self.base_dir = job.base_dir
        # the ${NAME} values are read from this environment (the submit's or the resume's), never from the store
        self.spec = spec_from_store(json.loads(job.spec_json), source=f"job {job.id}", require=True)
        self.hide = Redactor(extra=self.spec._interpolated.items())  # in every run: what came from ${NAME} is hidden
        _hide_in_log(self.hide)
        self.goal = self.spec.objective.goal
        self.sampler = make_sampler(self.spec)
        endings.seed(self.sampler, self.store, self.spec)  # sweep.warm_start: the parents' trials, as submit kept them
        self.engine = PolicyEngine(self.spec.policy, self.goal, seed=self.spec.sweep.seed if self.spec.sweep else None)
        self.total = int(min(self.spec.max_trials, self.sampler.size or math.inf))
        self.exhausted: Optional[str] = None  # why the sampler has no configuration left
        self.concurrency = int(min(self.spec.limits.max_concurrent_trials, self.total))
        settings = self.spec.backends.local
        self.worker_count = min(settings.workers or self.concurrency, self.concurrency)
        self.slot_count = slots.slot_count()  # trials of all local jobs at once (slots.py): each trial holds one
        self.num_cpus = max(1, slots.cores() // min(self.concurrency, self.slot_count))
        self.slots: Optional[slots.Pool] = None  # taken as the scheduler owns the job
        self.docker = settings.mode.value == "docker"
        self.selector = selectors.DefaultSelector()
        self.workers: list[Worker] = []
        self.pending: list[int] = []
        self.next_number = 0
        self.beat = 0.0
        self.finished_in_time = 0  # trials that had finished when limits.timeout was reached
        self.unreported: set[int] = set()  # trials started here that have not reported yet (an earlier run's points stand)
        self.ended_early: Optional[tuple[JobStatus, str]] = None  # limits.stop_when or limits.max_failed_trials
        self.judged = -1  # how many trials had ended when the criteria were last read
        for proc in ready:  # started by the standby before the job existed, their imports under way
            worker = self._adopt(proc)
            if len(self.workers) > self.worker_count:  # the sampler's space is smaller than the spec's concurrency
                self._retire(worker)
            else:  # their output between trials goes to workers.log from now on
                worker.send(type="log", path=str(self.store.dir / "workers.log"))

    # start-up and resume -------------------------------------------------------------------
    def _restore(self, last_beat: Optional[float]) -> None:
        if self.docker:  # a killed orchestrator's containers would still be training
            from .container import remove_job_containers

            remove_job_containers(self.job_id)
        self.pending = self.store.requeue_unfinished(last_beat)
        trials = self.store.trials()
        for trial in trials:
            self.next_number = max(self.next_number, trial.number + 1)
            if trial.status.is_final:
                self.engine.load(trial.number, [m.value for m in trial.metrics])
        if trials:
            kept = sum(1 for t in trials if t.status.is_final)
            log.info(
                "resumed: %d finished trials kept, %d to run again (%s), new trials from %d",
                kept,
                len(self.pending),
                ", ".join(map(str, self.pending)) or "none",
                self.next_number,
            )

    def _history(self) -> list[Past]:
        states = self.store.sampler_states()
        return [
            Past(
                t.number,
                t.params,
                states.get(t.number, {}),
                t.objective if t.status is TrialStatus.COMPLETED else None,
                t.status.is_final,
            )
            for t in self.store.trials()
        ]

    def _spawn(self) -> Worker:
        log = open(self.store.dir / "workers.log", "ab")  # noqa: SIM115 - lives as long as the worker
        return self._adopt(spawn_worker(preload_for(self.spec), self.base_dir, log), log)

    def _adopt(self, proc: subprocess.Popen, log: Optional[IO[bytes]] = None) -> Worker:
        worker = Worker(proc, log=log)
        os.set_blocking(proc.stdout.fileno(), False)
        self.selector.register(proc.stdout, selectors.EVENT_READ, worker)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: Worker, reap: bool = True) -> None:
        self.selector.unregister(worker.proc.stdout)
        worker.kill(reap)
        if worker.log:
            worker.log.close()
        self.workers.remove(worker)

    # scheduling ----------------------------------------------------------------------------
    def _has_more(self) -> bool:
        return bool(self.pending) or self.next_number < self.total

    def _running(self) -> list[Worker]:
        return [w for w in self.workers if w.trial is not None]

    def _assign(self) -> None:
        self.slots.keep(len(self._running()))  # the slot of a trial that ended (or whose worker died) goes back
        while self._has_more() and len(self._running()) < self.concurrency:
            idle = next((w for w in self.workers if w.trial is None), None)
            if idle is None and len(self.workers) >= self.worker_count:
                return
            if not self.slots.take():  # queued behind the trials of all local jobs asking before it
                return
            if idle is None:
                idle = self._spawn()
            if self.pending:
                number = self.pending.pop(0)
                params = next(t.params for t in self.store.trials() if t.number == number)
            else:
                number = self.next_number
                proposal = self.sampler.suggest(number, self._history())
                if proposal is None:
                    self.exhausted = f"every configuration of the search space has run ({number} trials)"
                    log.info("no configuration left to try: %s", self.exhausted)
                    self.total = number
                    return
                params, state = proposal
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
                "interpolated": self.spec._interpolated,  # the worker hides these in the trial's log
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
            self.unreported.add(number)
            log.info("trial %d started on worker %d: %s", number, idle.pid, json.dumps(params))
            idle.trial = number
            idle.log_from = _size(trial_dir / "trial.log")
            idle.deadline = time.time() + limits.trial_timeout if limits.trial_timeout else None
            idle.stop_deadline = idle.stop_reason = None
            idle.stop_final = False
            if not idle.send(**message):
                self._worker_died(idle)

    # messages ------------------------------------------------------------------------------
    def _on_message(self, worker: Worker, message: dict[str, Any]) -> None:
        kind = message.get("type")
        number = message.get("number")
        if kind == "ready":
            log.info(  # their CPU time as well: on a busy machine the wall time says more about the others
                "worker %d ready: its imports took %.2fs (%.2fs of CPU)",
                worker.pid,
                float(message.get("import_seconds", 0)),
                float(message.get("import_cpu_seconds", 0)),
            )
        elif kind == "child" and number == worker.trial:
            worker.child_pgid = int(message["pgid"])
        elif kind == "container" and number == worker.trial:
            worker.container = str(message["id"])
        elif kind == "report" and number == worker.trial and worker.stop_reason is not None:
            # the trial was told to stop: a report it makes meanwhile is neither its curve nor its objective
            log.info("trial %d step %s: reported after the stop verdict; not counted", number, message["step"])
            worker.send(type="verdict", stop=True, reason=worker.stop_reason)
        elif kind == "report" and number == worker.trial:
            value = float(message["value"])
            self.store.add_report(number, int(message["step"]), value, fresh=self._first(number))
            decision = self.engine.report(number, value)
            log.info(
                "trial %d step %s: %s=%.6g%s",
                number,
                message["step"],
                self.spec.objective.name,
                value,
                f"; {'stop' if decision.stop else 'go on'}: {decision.reason}" if decision.reason else "",
            )
            if decision.stop and worker.stop_reason is None:
                worker.stop_reason = decision.reason
                worker.stop_final = decision.final
                worker.stop_deadline = time.time() + STOP_GRACE_S
            worker.send(type="verdict", stop=decision.stop, reason=decision.reason if decision.stop else "")
        elif kind == "done" and number == worker.trial:
            objective = message.get("objective")
            # terminated only when the verdict cut the fit short; one that came after the fit had ended changes nothing
            stopped = worker.stop_reason is not None and bool(message.get("stopped"))
            if worker.stop_reason is not None and not stopped and not worker.stop_final:
                log.info("trial %d: the stop verdict came after its fit had ended; it is ignored", number)
            status = TrialStatus.TERMINATED if stopped and not worker.stop_final else TrialStatus.COMPLETED
            why = worker.stop_reason if stopped and not worker.stop_final else None
            if stopped and message.get("cut_short"):  # its wrap-up was signalled: said even of a completed trial
                why = "; ".join(filter(None, [why, str(message["cut_short"])]))
            self._close_curve(number, objective)
            self.store.finish_trial(
                number,
                status,
                objective=objective,
                metrics=message.get("metrics"),
                reason=self._hidden(why or None),
                error=self._hidden(message.get("test_error")),  # a test set that could not be scored, beside the kept model
                drop_reports=self._first(number),  # it reported nothing: an earlier run's points are not this run's
            )
            log.info("trial %d %s: %s=%s", number, status.value, self.spec.objective.name, _figure(objective))
            worker.trial = worker.child_pgid = worker.container = None
        elif kind == "failed" and number == worker.trial and message.get("fault") == endings.INFRASTRUCTURE:
            self._fault(number, str(message.get("error")))
            worker.trial = worker.child_pgid = worker.container = None
        elif kind == "failed" and number == worker.trial:
            self.store.finish_trial(
                number, TrialStatus.FAILED, error=self._hidden(message.get("error")), drop_reports=self._first(number)
            )
            log.warning("trial %d failed: %s", number, message.get("error"))
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
        """The worker's channel closed: the trial failed with how the worker ended (its log's end goes to our log)."""
        error = _worker_end(worker.proc)
        if worker.trial is not None:
            tail = _tail(self.store.dir / "trials" / str(worker.trial) / "trial.log", since=worker.log_from)
            ends = f"; log ends: {tail}" if tail else "; this attempt wrote nothing to its log"
            if not self._fault(worker.trial, error):
                log.warning("trial %d failed: %s (worker %d)%s", worker.trial, error, worker.pid, ends)
        else:
            log.warning("worker %d died between trials: %s", worker.pid, error)
        self._retire(worker)

    def _fault(self, number: int, error: str) -> bool:
        """An infrastructure fault ended the trial: run it again (limits.trial_retries), else it failed. True: retried."""
        self.unreported.discard(number)
        if endings.retry(self.store, self.spec, number, self._hidden(error)) is not None:
            self.pending.insert(0, number)  # next, with its parameters, as SageMaker retries a training job at once
            return True
        self.store.finish_trial(number, TrialStatus.FAILED, error=self._hidden(error), drop_reports=True)
        return False

    def _ends_early(self) -> bool:
        """limits.stop_when / limits.max_failed_trials, read off the store's trials each time one has ended."""
        if self.spec.limits.stop_when is None and self.spec.limits.max_failed_trials is None:
            return False
        trials = self.store.trials()
        ended = sum(1 for t in trials if t.status.is_final)
        if ended == self.judged:
            return False
        self.judged = ended
        found = endings.ending(self.spec, trials)
        if found is None:
            return False
        status, trial_status, why = found
        self.ended_early = (status, why)
        stopped = self._stop_all(trial_status, f"the sweep ended: {why}")
        log.info("%s; %d running trials stopped", why, stopped)
        self._end_waiting(TrialStatus.CANCELED, f"not run: the sweep ended ({why})")
        return True

    def _close_curve(self, number: int, objective: Optional[float]) -> None:
        """A trial's last reported point is its objective: the final score of its model differs from the value
        LightGBM reported for the same round by float32 rounding at most (then it replaces it), or it is one more
        step, after the fit, which no policy judges."""
        history = self.engine.histories.setdefault(number, [])
        if objective is None or not math.isfinite(objective) or (history and history[-1] == objective):
            return
        if history and math.isclose(history[-1], objective, rel_tol=1e-6):
            history[-1] = float(objective)
        else:
            history.append(float(objective))
        self.store.add_report(number, len(history), float(objective), fresh=self._first(number))

    def _first(self, number: int) -> bool:
        """Is this the first point (or the end) of the trial's run here? Then an earlier run's points are replaced."""
        if number in self.unreported:
            self.unreported.discard(number)
            return True
        return False

    def _hidden(self, text: Optional[str]) -> Optional[str]:
        return None if text is None else self.hide(text)

    def _last_reported(self, number: int) -> Optional[float]:
        """A trial ended from outside keeps the last value it reported (as a stopped SageMaker training job does)."""
        return final_value(self.engine.histories.get(number, []))

    def _end_waiting(self, status: TrialStatus, why: str) -> None:
        """The job ends with trials waiting to run (again): they end too, at the last sign of their run."""
        ended = self.store.end_unfinished(status, why, final_value)
        if ended:
            log.info("%d trials waiting to run ended %s (%s)", len(ended), status.value, ", ".join(map(str, ended)))

    def _end_trial(self, worker: Worker, status: TrialStatus, why: str) -> None:
        number = worker.trial
        # a rerun stopped before it reported keeps what its earlier run reported, as a cancel of the interrupted job would
        last = final_value(self.store.reported(number)) if self._first(number) else self._last_reported(number)
        if status is TrialStatus.TERMINATED:
            self.store.finish_trial(number, status, objective=last, reason=why)
        else:
            self.store.finish_trial(number, status, objective=last, error=why)
        log.info("trial %d %s: %s (last reported %s)", number, status.value, why, _figure(last))
        worker.trial = None

    def _check_clocks(self) -> None:
        now = time.time()
        for worker in list(self._running()):
            if worker.deadline is not None and now > worker.deadline:
                self._end_trial(worker, TrialStatus.TIMED_OUT, f"trial_timeout of {self.spec.limits.trial_timeout:g}s reached")
                self._retire(worker)
            elif worker.stop_deadline is not None and now > worker.stop_deadline:
                why = f"{worker.stop_reason}; killed after {STOP_GRACE_S:g}s of grace"
                self._end_trial(worker, TrialStatus.TERMINATED, why)
                self._retire(worker)
        if now - self.beat > HEARTBEAT_S:
            self.store.set_job(heartbeat=now)
            self.beat = now

    def _stop_all(self, status: TrialStatus, why: str) -> int:
        stopped = 0
        for worker in list(self.workers):
            if worker.trial is not None:
                self._end_trial(worker, status, why)
                stopped += 1
            self._retire(worker)
        return stopped

    # the loop ------------------------------------------------------------------------------
    def run(self) -> JobStatus:
        before = self.store.take_over(os.getpid())  # JobOwned where another live scheduler runs the job
        death.reserve(self.store.dir, os.getpid())
        self.slots = slots.Pool(self.job_id, self.slot_count)
        log.info(
            "scheduler %d: %s, up to %d trials, %d at a time (of %d slots on this machine), %s sampling, policy %s",
            os.getpid(),
            self.job_id,
            self.total,
            self.concurrency,
            self.slot_count,
            self.spec.sweep.sampling.value if self.spec.sweep else "no sweep",
            self.spec.policy.policy if self.spec.policy else "none",
        )
        self._restore(before.heartbeat)
        started = self.store.job().started
        timeout = self.spec.limits.timeout
        deadline = started + timeout if timeout else None
        ended_by: Optional[str] = None  # the user's cancel, or the job's own timeout
        try:
            while True:
                if self.store.job().cancel_requested:
                    ended_by = "cancel"
                    log.info(
                        "canceled by the user; stopping %d running trials",
                        self._stop_all(TrialStatus.CANCELED, "canceled by the user"),
                    )
                    self._end_waiting(TrialStatus.CANCELED, "canceled by the user")
                    break
                if deadline is not None and time.time() > deadline:
                    ended_by = "timeout"
                    self.finished_in_time = sum(1 for t in self.store.trials() if t.status.is_final)
                    stopped = self._stop_all(TrialStatus.TIMED_OUT, f"limits.timeout of {timeout:g}s reached")
                    log.info(
                        "limits.timeout of %gs reached after %d finished trials; %d running trials stopped",
                        timeout,
                        self.finished_in_time,
                        stopped,
                    )
                    self._end_waiting(TrialStatus.TIMED_OUT, f"limits.timeout of {timeout:g}s reached before it ran")
                    break
                if self._ends_early():
                    break
                self._assign()
                if not self._running() and not self._has_more():
                    break
                for key, _ in self.selector.select(timeout=POLL_S):
                    self._read(key.data)
                self._check_clocks()
        finally:
            # killed, not yet reaped: the kernel frees a worker's memory in 0.05-0.25 s, which the job's end need
            # not wait for (a killed worker runs nothing more); they are reaped once the end is recorded
            dying = list(self.workers)
            for worker in dying:
                worker.send(type="exit")
                self._retire(worker, reap=False)
            self.slots.close()
            if sys.exc_info()[1] is not None:  # the scheduler fails: no end is recorded here to wait for
                _reap(dying)
        try:
            final, reason = self._outcome(self.store.trials(), ended_by)
            self._record_in_mlflow(final, reason)  # before the status: a wait() that returns finds the record there
            self.store.set_job(status=final, ended=time.time(), reason=reason)
            log.info("job %s: %s", final.value, reason)
        finally:
            _reap(dying)
        return final

    def _record_in_mlflow(self, final: JobStatus, reason: str) -> None:
        """backends.local.mlflow: the ended sweep as a parent run with a child run per trial."""
        settings = self.spec.backends.local.mlflow
        if settings is None:
            return
        from .handle import LocalJobHandle
        from .mlflow_export import export, tracking_uri

        uri = tracking_uri(settings.tracking_uri, self.base_dir)
        try:
            parent = export(LocalJobHandle(self.store.dir), uri, settings.experiment_name, ended=(final, reason))
        except Exception as exc:  # the sweep has ended as it has; the record is what failed
            log.warning("mlflow: could not record the sweep in %s: %s: %s", uri, type(exc).__name__, exc)
            return
        log.info("mlflow: the sweep is run %s in %s", parent, uri)

    def _outcome(self, trials: list[Trial], ended_by: Optional[str]) -> tuple[JobStatus, str]:
        """How the job ended, and why: a budget that ends with a result is a completed job."""
        if ended_by == "cancel":
            return JobStatus.CANCELED, "canceled by the user"
        if self.ended_early is not None:
            return self.ended_early
        results = [t for t in trials if t.objective is not None]
        failures = "; ".join(failure_groups(trials))
        if ended_by == "timeout":
            timeout = self.spec.limits.timeout
            why = f"limits.timeout of {timeout:g}s reached after {self.finished_in_time} of {self.total} trials"
            if results:
                return JobStatus.COMPLETED, why
            return JobStatus.FAILED, f"{why}, and no trial produced a result" + (f": {failures}" if failures else "")
        if not results:
            return JobStatus.FAILED, "no trial produced a result" + (f": {failures}" if failures else "")
        if self.exhausted:
            return JobStatus.COMPLETED, self.exhausted
        if self.sampler.size is not None and self.sampler.size < self.spec.max_trials:
            parents = getattr(self.sampler, "ran_in_parents", 0)
            if parents:  # sweep.warm_start same_data: the grid is whole, the parents ran part of it
                where = ", ".join(self.spec.sweep.warm_start.from_)
                return JobStatus.COMPLETED, (
                    f"all {self.sampler.size + parents} configurations of the grid ran: {self.sampler.size} here, "
                    f"{parents} in {where} (sweep.warm_start)"
                )
            return JobStatus.COMPLETED, f"all {self.sampler.size} configurations of the grid ran"
        return JobStatus.COMPLETED, f"all {len(trials)} trials ran" if len(trials) != 1 else "its one trial ran"


def _figure(value: Optional[float]) -> str:
    return "none" if value is None else f"{value:.6g}"


def _reap(workers: list[Worker]) -> None:
    for worker in workers:
        worker.proc.wait()


def _worker_end(proc: subprocess.Popen) -> str:
    """How a worker ended, in words: `worker died (SIGKILL)`, `worker exited with status 3`."""
    try:
        code = proc.wait(timeout=5)  # its pipe closed a moment before it is reaped
    except subprocess.TimeoutExpired:
        return "worker closed its channel and stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker died ({name})"
    return f"worker exited with status {code}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tail(path: Path, lines: int = 5, since: int = 0) -> str:
    """The last lines of a trial's log from byte `since` on: this attempt's, never an earlier attempt's."""
    try:
        with open(path, "rb") as f:
            f.seek(max(since, f.seek(0, os.SEEK_END) - 65536))  # the end is enough, however long the log
            text = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class _Hide(logging.Filter):
    """orchestrator.log passes through the job's redactor: a trial's error or parameters never show a secret."""

    def __init__(self, hide: Redactor):
        super().__init__()
        self.hide = hide

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.hide(record.getMessage()), None
        return True


def _hide_in_log(hide: Redactor) -> None:
    for handler in log.handlers:
        for old in [f for f in handler.filters if isinstance(f, _Hide)]:
            handler.removeFilter(old)
        handler.addFilter(_Hide(hide))


def main(run_dir: Optional[Path] = None, ready: Sequence[subprocess.Popen] = ()) -> None:
    """The scheduler of the job in `run_dir` (argv[1]); `ready`: workers the standby started for it (standby.py)."""
    os.umask(0o077)  # what the scheduler writes into the home (trial folders, logs, models) is the user's alone
    run_dir = Path(sys.argv[1]) if run_dir is None else run_dir
    handler = logging.StreamHandler(sys.stderr)  # stderr is orchestrator.log
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    _hide_in_log(redactor())  # until the job's spec is read
    try:
        Orchestrator(run_dir, ready).run()
    except JobOwned as exc:  # another scheduler runs the job: it is left alone
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(JobOwned.exit_code)
    except Exception as exc:  # record why, so `status` can say it
        _record_death(run_dir, exc)
        raise


def _record_death(run_dir: Path, exc: Exception) -> None:
    """Why this scheduler dies, wherever it can still be written: the reserved file, the log, the store.

    A store fault (a full disk, a read-only folder) leaves the job as it was, interrupted and
    resumable once the fault is fixed; any other failure ends the job failed, as before.
    """
    # a ${NAME} value may be in the message: hidden like everything the scheduler writes
    cause = redactor()(exc.cause if isinstance(exc, StoreError) else f"orchestrator: {type(exc).__name__}: {exc}")
    death.record(run_dir, os.getpid(), cause)
    log.exception("the scheduler failed: %s", cause)
    store = RunStore(run_dir)
    try:
        if not store.owned_by(os.getpid()):
            return
        if isinstance(exc, StoreError):
            store.set_job(error=cause)
        else:
            store.set_job(status=JobStatus.FAILED, ended=time.time(), error=cause)
    except StoreError as again:
        log.error("could not record it in the store: %s", again)


if __name__ == "__main__":
    main()
