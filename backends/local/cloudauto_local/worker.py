"""A warm trial worker: imports AutoGluon once, then runs trial after trial.

It talks to the orchestrator in JSON lines: trials arrive on stdin; on a duplicate of the
original stdout it sends `ready`, `report` (answered on stdin by a `verdict`), `done` or
`failed`. File descriptors 1 and 2 point at a pipe into the running trial's log, so whatever
AutoGluon prints (Python or C) lands there, never in the protocol, and passes the redactor on
the way: a `${NAME}` value AutoGluon echoes (its hyperparameters, say) is kept as `<secret:NAME>`. The worker dies with its
orchestrator (PR_SET_PDEATHSIG), so a killed sweep leaves no stray fits behind.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

PRELOAD = {
    "autogluon": [
        "pandas",
        "autogluon.tabular",
        "autogluon.tabular.models",
        "autogluon.core.callbacks",
        "lightgbm",
        "cloudauto.runtime.autogluon_trial",
    ],
    "multimodal": ["pandas", "autogluon.multimodal", "lightning.pytorch", "cloudauto.runtime.autogluon_multimodal"],
    "none": [],
}


_WORKER_STDERR = 2
LOG_DRAIN_S = 10.0  # a process the trial left behind may hold the pipe: its later output is not waited for


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the orchestrator's pipe closing still ends us at the next message
        pass


class Channel:
    def __init__(self, out: TextIO, inp: TextIO):
        self.out, self.inp = out, inp

    def send(self, **message: Any) -> None:
        try:
            self.out.write(json.dumps(message) + "\n")
            self.out.flush()
        except BrokenPipeError:
            os._exit(3)  # the orchestrator is gone

    def receive(self) -> dict[str, Any]:
        line = self.inp.readline()
        if not line:
            os._exit(0)  # the orchestrator closed our stdin or died
        return json.loads(line)


def run_one(channel: Channel, message: dict[str, Any]) -> None:
    if message.get("mode") == "docker":
        from .container import run_container_trial

        run_container_trial(channel, message)
        return
    if message["spec"].get("engine") == "command":
        from .command_runner import run_command_trial

        run_command_trial(channel, message)
        return
    from cloudauto.runtime.autogluon_trial import run_trial
    from cloudauto.spec import JobSpec

    number = message["number"]
    out_dir = Path(message["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    from cloudauto.secrets import Redactor

    hide = Redactor(extra=message.get("interpolated", {}).items())  # the log is kept: no value from ${NAME} in it
    copier = _output_into(message["log"], hide)
    step = 0

    def report(value: float) -> bool:
        nonlocal step
        step += 1
        print(f"[cloudauto] trial {number} step {step}: {value}", flush=True)
        channel.send(type="report", number=number, step=step, value=value)
        verdict = channel.receive()
        if verdict.get("stop"):
            print(f"[cloudauto] trial {number} stopped: {verdict.get('reason', '')}", flush=True)
        return bool(verdict.get("stop"))

    started = time.perf_counter()
    try:
        from cloudauto.checkpoints import say_restart

        say_restart(out_dir, autogluon=True)  # `resume` runs an interrupted trial again, in the same folder
        spec = JobSpec.from_dict(message["spec"])
        result = run_trial(
            spec,
            message["params"],
            out_dir,
            report,
            base_dir=message.get("base_dir"),
            num_cpus=message.get("num_cpus"),
            default_time_limit=message.get("default_time_limit"),
        )
        channel.send(
            type="done",
            number=number,
            objective=result.objective,
            metrics=result.metrics,
            stopped=result.stopped,
            model_dir=result.model_dir,
            test_error=result.test_error,
            seconds=time.perf_counter() - started,
        )
    except Exception as exc:  # the trial failed; the worker lives on for the next one
        sys.stderr.write(hide(traceback.format_exc()))
        channel.send(type="failed", number=number, error=hide(f"{type(exc).__name__}: {exc}"))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
        os.dup2(_WORKER_STDERR, 2)
        copier.join(timeout=LOG_DRAIN_S)  # the pipe's last lines are in the log before the next trial


def _output_into(log_path: str, hide: Any) -> threading.Thread:
    """Point fds 1 and 2 at a pipe whose lines a thread writes to the trial's log, redacted.

    The log gets the lines as they come (`logs --follow` shows them); the pipe ends when fds 1
    and 2 are pointed elsewhere after the trial, and with them the thread.
    """
    read_end, write_end = os.pipe()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def copy() -> None:
        with os.fdopen(read_end, "rb") as source, os.fdopen(log, "ab", buffering=0) as out:
            for raw in iter(source.readline, b""):
                out.write(hide(raw.decode(errors="replace")).encode())

    copier = threading.Thread(target=copy, name="trial-log", daemon=True)
    copier.start()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    return copier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preload", choices=sorted(PRELOAD), default="autogluon")
    args = parser.parse_args()
    os.umask(0o077)  # the trial's log, model and outputs under the home are the user's alone
    _die_with_parent()
    global _WORKER_STDERR
    _WORKER_STDERR = os.dup(2)  # the worker's own log, for between trials
    channel = Channel(os.fdopen(os.dup(1), "w", buffering=1), sys.stdin)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    started, cpu = time.perf_counter(), time.process_time()
    _preload(PRELOAD[args.preload])
    channel.send(
        type="ready", pid=os.getpid(), import_seconds=time.perf_counter() - started, import_cpu_seconds=time.process_time() - cpu
    )
    while True:
        message = channel.receive()
        if message.get("type") == "exit":
            return
        if message.get("type") == "trial":
            run_one(channel, message)
        elif message.get("type") == "log":  # started before its job's folder existed (standby.py): the job's log now
            _log_to(message["path"])


def _preload(modules: list[str]) -> None:
    """Import what every trial needs, with the cyclic garbage collector off, then freeze what was imported.

    Importing AutoGluon makes about 300,000 objects the collector tracks, all living as long as the worker:
    with the collector on, its passes walk them again and again while they are made (a sixth of the imports'
    CPU time, measured). Frozen, they are left out of every later pass, AutoGluon's own `gc.collect()` in
    each LightGBM fit among them (0.5 s a call under load before, half that after). The imports' own garbage
    stays (frozen objects are never collected): about 1,400 objects, once per worker.
    """
    gc.disable()
    try:
        for module in modules:
            __import__(module)
    finally:
        gc.freeze()
        gc.enable()


def _log_to(path: str) -> None:
    """The worker's own output between trials (fd 2, and what fd 2 goes back to after a trial) into `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, _WORKER_STDERR)
    os.dup2(fd, 2)
    os.close(fd)


if __name__ == "__main__":
    main()
