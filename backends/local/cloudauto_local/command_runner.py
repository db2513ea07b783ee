"""Running an `engine: command` trial: the user's script as a child of the worker.

The script runs in its own session (process group), with stdout and stderr copied line by
line into the trial's log (keys and tokens of its environment replaced there) and two pipes for `cloudauto.report()`: each report of the objective goes
to the orchestrator and its verdict comes back to the script. When the policy stops the
trial, further reports are answered "stop" at once (and not counted), and the script gets
a grace period to wrap up (save its model) and exit by itself, then SIGTERM, then SIGKILL,
to its whole group. The worker tells the orchestrator the group id first, so a timeout or
a cancel kills it too.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
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

STOP_GRACE_S = 30.0  # a stopped script's time to wrap up (docs/spec.md); the scheduler's backstop is longer
TERM_GRACE_S = 5.0
TIMEOUT_MARGIN_S = 1.0  # a stopped script is ended this long before its trial_timeout, so the trial ends stopped


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


def _reports(fd: int):
    """The script's report lines, read without a buffer that could hold one back: (lines, open) per call."""
    pending = b""

    def read(timeout: Optional[float]) -> tuple[list[bytes], bool]:
        nonlocal pending
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return [], True
        chunk = os.read(fd, 65536)
        if not chunk:
            return ([pending] if pending else []), False
        *lines, pending = (pending + chunk).split(b"\n")
        return lines, True

    return read


def _answer(verdicts: Any, stop: bool, reason: str) -> None:
    try:
        verdicts.write(json.dumps({"stop": stop, "reason": reason}) + "\n")
    except (BrokenPipeError, ValueError, OSError):
        pass


def _end(proc: subprocess.Popen, read: Any, verdicts: Any, reason: str, grace: float) -> tuple[int, Optional[str]]:
    """Let a stopped script wrap up and exit, answering each report it still makes "stop"; then TERM, then KILL
    its whole group. Returns its exit code and, when it had to be signalled, how."""
    signalled: Optional[str] = None
    for sig, wait in ((None, grace), (signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, None)):
        if sig is not None:
            signalled = sig.name
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        if wait is None:
            return proc.wait(), signalled
        until, reading = time.monotonic() + wait, True
        while proc.poll() is None and time.monotonic() < until:
            if not reading:  # the script closed its end of the pipe; it only has to exit
                time.sleep(0.05)
                continue
            lines, reading = read(min(0.1, max(0.0, until - time.monotonic())))
            for _ in filter(bytes.strip, lines):
                _answer(verdicts, True, reason)  # not counted: the verdict is given
        if proc.poll() is not None:
            return proc.returncode, signalled
    return proc.wait(), signalled


def stop_grace(trial_timeout: Optional[float], elapsed: float) -> float:
    """A stopped script's time to wrap up: STOP_GRACE_S, or what is left of its trial_timeout if less."""
    if not trial_timeout:
        return STOP_GRACE_S
    return max(0.0, min(STOP_GRACE_S, trial_timeout - elapsed - TIMEOUT_MARGIN_S))


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
    read = _reports(to_worker_r)
    verdicts = os.fdopen(to_script_w, "w", buffering=1)
    values: list[float] = []
    stop: Optional[str] = None
    signalled: Optional[str] = None
    reading = True
    while reading and stop is None:  # ends when the script (and anything holding the pipe) exits, or at a stop
        lines, reading = read(None)
        for line in lines:
            if stop is not None:  # a report after the verdict (only a script writing from two threads gets here)
                _answer(verdicts, True, stop)
                continue
            try:
                metrics = json.loads(line).get("metrics", {})
            except ValueError:
                continue
            answer: dict[str, Any] = {"stop": False}
            if objective.name in metrics:
                values.append(float(metrics[objective.name]))
                channel.send(type="report", number=number, step=len(values), value=values[-1])
                answer = channel.receive()
            _answer(verdicts, bool(answer.get("stop")), answer.get("reason", ""))
            if answer.get("stop"):
                stop = answer.get("reason") or "stopped by the early-termination policy"
    if stop:
        grace = stop_grace(spec.limits.trial_timeout, time.perf_counter() - started)
        code, signalled = _end(proc, read, verdicts, stop, grace)
    else:
        code = proc.wait()
    for close in (lambda: os.close(to_worker_r), verdicts.close):
        try:
            close()
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
        cut = (
            f"the script did not exit within {grace:g}s of the stop verdict: {signalled} ended its wrap-up "
            "(what it did after the verdict, e.g. saving a model, may be incomplete)"
            if signalled
            else None
        )
        if cut:
            with open(log_path, "a") as log:
                log.write(f"[cloudauto] trial {number}: {cut}\n")
        channel.send(
            type="done",
            number=number,
            objective=best,
            metrics={"fit_seconds": seconds, "exit_code": code},
            stopped=True,
            cut_short=cut,
        )
    elif code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        # not cloudauto's doing (it kills a script only once the trial has ended: its stop verdict, timeout or
        # cancel): the out-of-memory killer picks the biggest process, the script, not its worker. 137 is how a
        # shell (`bash run.sh`, a wrapper running python) reports the SIGKILL of the command it ran
        how = "was killed (SIGKILL)" if code < 0 else "exited with code 137 (128 + SIGKILL: killed"
        channel.send(
            type="failed",
            number=number,
            error=f"the command {how} by something other than cloudauto (the out-of-memory killer?)"
            f"{')' if code > 0 else ''}; log ends: {tail}",
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
