"""Ctrl-C during `cloudauto run`: a real process, a real SIGINT, a local job of command trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus

from .conftest import alive, wait_until

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("cloudauto")

# a trial that reports, says it runs, and then sleeps: canceling it takes the runner's grace (5 s)
SLEEPER = """
    import os, time
    import cloudauto
    cloudauto.report(score=1.0)
    with open(os.path.join(os.environ["CLOUDAUTO_OUTPUT_DIR"], "pid"), "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(300)
"""


def _start(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, Path, dict]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "sleep.py").write_text(textwrap.dedent(SLEEPER))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent("""\
        name: sleeper
        task: custom
        engine: command
        command: {run: python sleep.py, code: code}
        metric: {name: score, goal: maximize}
        limits: {max_trials: 1}
        """)
    )
    home = tmp_path / "home"
    env = {**os.environ, "CLOUDAUTO_HOME": str(home)}
    proc = subprocess.Popen(
        [str(EXE), "run", str(spec), "-b", "local", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        # as a terminal starts it: a harness started in the background of a non-interactive shell (nohup ... &) ignores
        # SIGINT, every child inherits that, and Python then never raises KeyboardInterrupt (these tests failed so)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pid_file = wait_until(lambda: next(iter(home.glob("runs/*/trials/0/pid")), None), timeout=120)
    wait_until(lambda: pid_file.read_text().strip())
    return proc, pid_file, env


def _job(pid_file: Path, env: dict) -> cloudauto.Job:
    job_id = pid_file.parents[2].name
    os.environ["CLOUDAUTO_HOME"] = env["CLOUDAUTO_HOME"]  # the monkeypatched home of the test
    return cloudauto.attach(job_id, backend="local")


def test_ctrl_c_cancels_the_job_and_says_how_to_keep_it_running(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    proc, pid_file, env = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    job_id = pid_file.parents[2].name
    assert f"canceling job {job_id} (Ctrl-C again to stop waiting" in err, err
    assert "run --detach-on-interrupt next time to keep a job running" in err
    assert proc.returncode == 4, (out, err)  # the job ended without completing: canceled
    assert _job(pid_file, env).status() is JobStatus.CANCELED
    assert not alive(int(pid_file.read_text()))


def test_detach_on_interrupt_leaves_the_job_running(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    proc, pid_file, env = _start(tmp_path, "--detach-on-interrupt")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    job = _job(pid_file, env)
    assert proc.returncode == 6, (out, err)  # stopped waiting, the job goes on
    assert f"left job {job.id} running (--detach-on-interrupt)" in err and f"cloudauto cancel {job.id}" in err, err
    time.sleep(2)
    assert job.status() is JobStatus.RUNNING and alive(int(pid_file.read_text()))
    job.cancel()
    assert job.wait(progress=False, timeout=60) is JobStatus.CANCELED


def test_a_second_ctrl_c_stops_waiting_and_the_cancel_still_completes(tmp_path, monkeypatch):
    """The second Ctrl-C lands while the scheduler is stopping the trial (its 5 s grace): no half state."""
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    proc, pid_file, env = _start(tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    proc.send_signal(signal.SIGINT)
    job = _job(pid_file, env)
    wait_until(lambda: any("canceling job" in line for line in lines), timeout=30)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(lines)
    out = proc.stdout.read()
    assert "Traceback" not in err, err
    if proc.returncode == 6:  # stopped while the scheduler was still canceling
        assert f"stopped waiting; job {job.id} is being canceled by its scheduler" in err, err
    else:
        assert proc.returncode == 4, (out, err)
    assert job.wait(progress=False, timeout=60) is JobStatus.CANCELED  # the cancel went on without the CLI
    assert not alive(int(pid_file.read_text()))


def test_a_ctrl_c_while_the_canceled_jobs_outcome_is_said_keeps_its_exit_code(monkeypatch):
    """The wait sees the end within 0.2 s: a second Ctrl-C now often lands while the CLI says the outcome."""
    from cloudauto.cli import outcome

    class Job:
        id, backend = "sleeper-1", "local"
        waits = 0

        def wait(self, **_):
            self.waits += 1
            if self.waits == 1:
                raise KeyboardInterrupt  # the first Ctrl-C, while waiting
            return JobStatus.CANCELED

        def cancel(self):
            pass

        def status(self):
            return JobStatus.CANCELED

    said: list[str] = []

    def summary(job):  # the second Ctrl-C lands here, after the wait
        os.kill(os.getpid(), signal.SIGINT)
        said.append(job.id)

    monkeypatch.setattr(outcome, "_print_summary", summary)
    monkeypatch.setattr(outcome, "_write_ci", lambda *a, **k: None)
    assert outcome._wait_and_say(Job(), outcome.CIOutputs(), detach_on_interrupt=False) == 4
    assert said == ["sleeper-1"]
