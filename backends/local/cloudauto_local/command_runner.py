"""Running an `engine: command` trial: the user's script as a child of the worker.

The script runs in its own session (process group), with stdout and stderr copied line by
line into the trial's log (keys and tokens of its environment replaced there) and two pipes for `cloudauto.report()`: each report of the objective goes
to the orchestrator and its verdict comes back to the script. When the policy stops the
trial, the script gets a grace period to exit by itself, then SIGTERM, then SIGKILL, to
its whole group. The worker tells the orchestrator the group id first, so a timeout or
a cancel kills it too.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from cloudauto.checkpoints import ENV_CHECKPOINT_DIR
from cloudauto.command import command_argv
from cloudauto.reporting import ENV_REPORT_IN, ENV_REPORT_OUT
from cloudauto.runtime.data import resolve
from cloudauto.spec import JobSpec
from cloudauto.tuning.criteria import final_value

STOP_GRACE_S = 5.0
TERM_GRACE_S = 5.0


def _die_with_worker() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    except OSError:
        pass


def _tail(path: Path, lines: int = 8, since: int = 0) -> str:
    """The log's last lines from byte `since` on: this attempt's, never an earlier attempt's (a retry appends)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(since, f.seek(0, os.SEEK_END) - 65536))
            return " | ".join(f.read().decode(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _copy_log(stream: Any, log_path: Path, hide: Any) -> None:
    """The script's output into its log, a line at a time, with secrets replaced: the log is printed and kept."""
    with stream, open(log_path, "ab") as log:
        for raw in iter(stream.readline, b""):
            log.write(hide(raw.decode(errors="replace")).encode())
            log.flush()


def _end(proc: subprocess.Popen) -> int:
    """Let a stopped script exit; then TERM, then KILL its whole group."""
    for sig, grace in ((None, STOP_GRACE_S), (signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, None)):
        if sig is not None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def run_command_trial(channel: Any, message: dict[str, Any]) -> None:
    spec = JobSpec.from_dict(message["spec"])
    number, params = message["number"], message["params"]
    out_dir, log_path = Path(message["out_dir"]), Path(message["log"])
    out_dir.mkdir(parents=True, exist_ok=True)
    objective = spec.objective
    command = spec.command
    cwd = resolve(command.code, message.get("base_dir"))
    argv = command_argv(command.run, params)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # locally, "python" is the environment cloudauto runs in

    to_worker_r, to_worker_w = os.pipe()
    to_script_r, to_script_w = os.pipe()
    env = {
        **os.environ,
        **command.env,
        "PYTHONUNBUFFERED": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        ENV_REPORT_OUT: str(to_worker_w),
        ENV_REPORT_IN: str(to_script_r),
        "CLOUDAUTO_TRIAL": str(number),
        "CLOUDAUTO_PARAMS": json.dumps(params),
        "CLOUDAUTO_OUTPUT_DIR": str(out_dir),
        ENV_CHECKPOINT_DIR: str(out_dir),  # cloudauto.checkpoint_dir(): `resume` runs an interrupted trial here again
    }
    started = time.perf_counter()
    log_from = log_path.stat().st_size if log_path.exists() else 0
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(to_worker_w, to_script_r),
            start_new_session=True,
            preexec_fn=_die_with_worker,
        )  # noqa: PLW1509 - the only other thread, a finished log copier, holds no lock
    except OSError as exc:
        for fd in (to_worker_r, to_worker_w, to_script_r, to_script_w):
            os.close(fd)
        channel.send(type="failed", number=number, error=f"cannot start {argv[0]!r} in {cwd}: {exc.strerror or exc}")
        return
    from cloudauto.secrets import Redactor

    hide = Redactor(env, extra=message.get("interpolated", {}).items())  # and whatever came from ${NAME}, in every run
    copier = threading.Thread(target=_copy_log, args=(proc.stdout, log_path, hide), daemon=True)
    copier.start()
    os.close(to_worker_w)
    os.close(to_script_r)
    channel.send(type="child", number=number, pgid=proc.pid)
    reports = os.fdopen(to_worker_r, "r")
    verdicts = os.fdopen(to_script_w, "w", buffering=1)
    values: list[float] = []
    stop: Optional[str] = None
    for line in reports:  # ends when the script (and anything holding the pipe) exits
        try:
            metrics = json.loads(line).get("metrics", {})
        except ValueError:
            continue
        answer: dict[str, Any] = {"stop": False}
        if objective.name in metrics:
            values.append(float(metrics[objective.name]))
            channel.send(type="report", number=number, step=len(values), value=values[-1])
            answer = channel.receive()
        try:
            verdicts.write(json.dumps({"stop": bool(answer.get("stop")), "reason": answer.get("reason", "")}) + "\n")
        except (BrokenPipeError, ValueError):
            pass
        if answer.get("stop"):
            stop = answer.get("reason") or "stopped by the early-termination policy"
            break
    code = _end(proc) if stop else proc.wait()
    for stream in (reports, verdicts):
        try:
            stream.close()
        except OSError:
            pass
    copier.join(timeout=10)  # a child the script left behind may hold the pipe: its later output is not waited for
    seconds = time.perf_counter() - started
    # the objective is the last value reported (up to a stop verdict), as SageMaker's final objective metric is
    best = final_value(values)
    tail = _tail(log_path, since=log_from)  # the script's own last lines, before ours
    with open(log_path, "a") as log:
        log.write(f"[cloudauto] trial {number}: exit code {code}, {len(values)} reports of {objective.name}\n")
    if stop:
        channel.send(
            type="done", number=number, objective=best, metrics={"fit_seconds": seconds, "exit_code": code}, stopped=True
        )
    elif code == -signal.SIGKILL:
        # not cloudauto's doing (it kills a script only once the trial has ended: its stop verdict, timeout or
        # cancel): the out-of-memory killer picks the biggest process, the script, not its worker
        channel.send(
            type="failed",
            number=number,
            error=f"the command was killed (SIGKILL) by something other than cloudauto (the out-of-memory killer?); "
            f"log ends: {tail}",
            fault="infrastructure",  # endings.INFRASTRUCTURE: limits.trial_retries applies
        )
    elif code != 0:
        channel.send(type="failed", number=number, error=f"the command exited with code {code}; log ends: {tail}")
    elif best is None:
        channel.send(
            type="failed",
            number=number,
            error=f"the command never reported {objective.name} (call cloudauto.report({objective.name}=...)); log ends: {tail}",
        )
    else:
        channel.send(
            type="done", number=number, objective=best, metrics={"fit_seconds": seconds, "exit_code": code}, stopped=False
        )


__all__ = ["run_command_trial"]
