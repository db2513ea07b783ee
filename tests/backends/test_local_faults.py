"""The local backend's state after a fault: killed schedulers and workers, racing resumes, broken stores.

Every test kills real processes (the detached scheduler, a warm worker) or breaks the real
store file; trials are `engine: command` scripts that sleep and report, so no fit is waited on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from .conftest import alive, kill, wait_until

pytestmark = pytest.mark.slow

SLEEPER = """
    import sys, time
    import cloudauto
    for step in range(int(sys.argv[2])):
        time.sleep(0.5)
        cloudauto.report(score=step)
"""


def sleeper_spec(tmp_path: Path, steps: list[int], extra: str = "", concurrency: int = 1) -> cloudauto.JobSpec:
    """A grid of trials, one per entry of `steps`, each reporting every 0.5 s that many times."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "script.py").write_text(textwrap.dedent(SLEEPER))
    text = textwrap.dedent(f"""\
        name: sleeper
        task: custom
        engine: command
        command:
          run: python script.py --steps ${{{{sweep.steps}}}}
          code: code
        metric: {{name: score, goal: maximize}}
        sweep:
          sampling: grid
          space:
            steps: {{choice: {json.dumps(steps)}}}
        limits:
          max_concurrent_trials: {concurrency}
        """) + textwrap.dedent(extra)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return cloudauto.JobSpec.from_file(path)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command, in a process of its own (the environment's CLOUDAUTO_HOME is the test's)."""
    return subprocess.run(
        [sys.executable, "-c", "from cloudauto.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def query(job, sql: str) -> list[tuple]:
    """Rows of the job's store, read straight from the file (closed at once: an open file keeps a disk busy)."""
    with contextlib.closing(sqlite3.connect(job.dir / "run.db")) as db:
        return db.execute(sql).fetchall()


def scheduler_pid(job) -> int:
    return query(job, "SELECT orchestrator_pid FROM job")[0][0]


def kill_scheduler_mid_trial(job) -> None:
    """SIGKILL the scheduler once a trial has reported, and wait until it and its workers are gone."""
    wait_until(lambda: any(t.status is TrialStatus.RUNNING and t.metrics for t in job.trials()), timeout=60)
    pid = scheduler_pid(job)
    workers = [p for (p,) in query(job, "SELECT worker_pid FROM trials") if p]
    kill(pid)
    wait_until(lambda: not alive(pid), timeout=10)
    wait_until(lambda: not any(alive(w) for w in workers), timeout=10)
    assert job.status() is JobStatus.INTERRUPTED


# ---- item 10: one scheduler per job -----------------------------------------------------------


def test_two_resumes_at_once_start_one_scheduler_and_the_second_names_the_owner(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [6, 2, 3]), backend="local")
    kill_scheduler_mid_trial(job)

    racing = [
        subprocess.Popen(
            [sys.executable, "-c", "from cloudauto.cli import main; main()", "resume", job.id, "--no-wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=60), p.stderr.read()) for p in racing)
    (ok, _), (refused, said) = outcomes
    owner = scheduler_pid(job)
    assert (ok, refused) == (0, 6), outcomes
    assert f"scheduler pid {owner}" in said and "cloudauto status" in said, said
    # a third, while it runs: the same refusal, and nothing changed
    third = cli("resume", job.id, "--no-wait")
    assert third.returncode == 6 and f"scheduler pid {owner}" in third.stderr, third.stderr
    assert "Traceback" not in third.stderr

    seen: set[str] = set()
    deadline = time.monotonic() + 90
    while not job.status().is_final and time.monotonic() < deadline:
        seen.add(job.status().value)
        time.sleep(0.2)
    assert job.status() is JobStatus.COMPLETED and "failed" not in seen, seen
    trials = job.trials()
    assert [t.number for t in trials] == [0, 1, 2] and all(t.status is TrialStatus.COMPLETED for t in trials)
    attempts = [a for (a,) in query(job, "SELECT attempt FROM trials ORDER BY number")]
    assert attempts == [2, 1, 1]  # trial 0 again after the kill, no trial twice
    log = (job.dir / "orchestrator.log").read_text()
    assert "UNIQUE constraint" not in log and log.count("resumed:") == 1, log


def test_a_scheduler_started_by_hand_beside_the_owner_leaves_the_job_alone(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [4, 2]), backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in job.trials()), timeout=60)
    owner = scheduler_pid(job)
    extra = subprocess.run(
        [sys.executable, "-m", "cloudauto_local.orchestrator", str(job.dir)], capture_output=True, text=True, timeout=60
    )
    assert extra.returncode == 6, extra.stderr
    assert f"scheduler pid {owner}" in extra.stderr
    assert scheduler_pid(job) == owner and job.status() is JobStatus.RUNNING
    assert job.wait(progress=False) is JobStatus.COMPLETED


# ---- item 11: cancel of an interrupted job -------------------------------------------------------


def test_cancel_of_an_interrupted_job_ends_it_and_resume_refuses(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [8, 2, 3]), backend="local")
    kill_scheduler_mid_trial(job)

    said = cli("cancel", job.id)
    assert said.returncode == 0, said.stderr
    assert "canceled" in said.stdout and "scheduler was gone" in said.stdout, said.stdout
    assert job.status() is JobStatus.CANCELED
    trials = job.trials()
    assert [t.status for t in trials] == [TrialStatus.CANCELED]  # the running one; none other had started
    assert trials[0].ended is not None

    again = cli("resume", job.id)
    assert again.returncode == 4 and "was canceled" in again.stderr, again.stderr
    time.sleep(1)
    assert job.status() is JobStatus.CANCELED and len(job.trials()) == 1  # nothing ran
    assert not alive(scheduler_pid(job) or 0)


def test_cancel_of_an_ended_job_says_so_and_changes_nothing(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [1]), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    said = cli("cancel", job.id)
    assert said.returncode == 0 and "has already ended (completed)" in said.stdout, said.stdout
    assert not job.store.job().cancel_requested and job.status() is JobStatus.COMPLETED


# ---- item 12: trials after a death ---------------------------------------------------------------


def test_trials_of_a_dead_scheduler_read_interrupted_with_their_time_frozen(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 2]), backend="local")
    kill_scheduler_mid_trial(job)

    first = json.loads(cli("trials", job.id, "--format", "json").stdout)
    time.sleep(1.5)
    second = json.loads(cli("trials", job.id, "--format", "json").stdout)
    assert [t["status"] for t in second] == ["interrupted"], second
    assert first[0]["duration_s"] == second[0]["duration_s"] < 15
    assert "cloudauto resume" in second[0]["error"]
    text = cli("trials", job.id)
    assert "interrupted" in text.stdout and "running" not in text.stdout, text.stdout

    resumed = cloudauto.get_backend("local").resume(job.id)  # and they run again
    wait_until(lambda: resumed.trials()[0].status is TrialStatus.RUNNING, timeout=30)
    cloudauto.get_backend("local").attach(job.id).cancel()


def test_a_killed_worker_is_a_worker_death_not_its_last_log_line(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 1]), backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING and t.metrics for t in job.trials()), timeout=60)
    (worker,) = [p for (p,) in query(job, "SELECT worker_pid FROM trials") if p]
    os.kill(worker, signal.SIGKILL)
    assert job.wait(progress=False) is JobStatus.COMPLETED  # the sweep goes on with a new worker
    first, second = job.trials()
    assert first.status is TrialStatus.FAILED and first.error == "worker died (SIGKILL)", first.error
    assert second.status is TrialStatus.COMPLETED
    status = cli("status", job.id)
    assert "trial 0 failed: worker died (SIGKILL)" in status.stderr, status.stderr
    assert "log ends" in (job.dir / "orchestrator.log").read_text()  # the trial's last lines are kept in the log


# ---- item 13: logs --follow ----------------------------------------------------------------------


def test_logs_follow_ends_when_the_scheduler_is_gone(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 2]), backend="local")
    kill_scheduler_mid_trial(job)
    followed = cli("logs", job.id, "--follow", timeout=30)
    assert followed.returncode == 4, followed.stderr
    assert "trial 0 started" in followed.stdout
    assert f"scheduler gone: cloudauto resume {job.id}" in followed.stderr


def test_logs_follow_of_a_running_job_ends_with_the_job(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [2]), backend="local")
    followed = cli("logs", job.id, "--follow", timeout=60)
    assert followed.returncode == 0 and "job completed" in followed.stdout, followed.stdout


# ---- item 14: store faults -----------------------------------------------------------------------


def test_a_corrupt_store_is_named_and_runs_lists_the_other_jobs(runs_dir, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    good = cloudauto.submit(sleeper_spec(tmp_path / "a", [1]), backend="local")
    bad = cloudauto.submit(sleeper_spec(tmp_path / "b", [1]), backend="local")
    assert good.wait(progress=False) is JobStatus.COMPLETED and bad.wait(progress=False) is JobStatus.COMPLETED
    for extra in bad.dir.glob("run.db-*"):
        extra.unlink()
    (bad.dir / "run.db").write_bytes(b"this is not a database" * 200)

    for args in (("status", bad.id), ("trials", bad.id), ("resume", bad.id), ("cancel", bad.id)):
        result = cli(*args)
        assert result.returncode == 3, (args, result.returncode, result.stderr)
        assert f"{bad.dir / 'run.db'}" in result.stderr and "not a database" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    listed = cli("runs")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
    assert "completed" in lines[good.id]
    assert "broken" in lines[bad.id] and "not a database" in lines[bad.id], listed.stdout


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def fill(disk: Path) -> Path:
    """Fill the disk to its last byte; the file, to free it again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    _mount_tmpfs(where, "3m")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_recorded_by_the_dying_scheduler_and_resume_carries_on(runs_dir, tmp_path, small_disk):
    spec = sleeper_spec(tmp_path, [30, 1], extra=f"backends:\n  local:\n    run_dir: {small_disk / 'runs'}\n")
    job = cloudauto.submit(spec, backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING and t.metrics for t in job.trials()), timeout=60)
    pid = scheduler_pid(job)
    filler = fill(small_disk)
    wait_until(lambda: not alive(pid), timeout=60)
    status = cli("status", job.id)  # on the full disk still: said, not a bug
    assert status.returncode in (3, 4) and "internal error" not in status.stderr, (status.returncode, status.stderr)
    assert "Traceback" not in status.stderr

    filler.unlink()
    status = cli("status", job.id)
    assert status.returncode == 4, status.stderr
    said = status.stdout + status.stderr
    assert "interrupted" in said and "disk is full" in said and "cloudauto resume" in said, said

    resumed = cloudauto.get_backend("local").resume(job.id)
    assert resumed.wait(progress=False) is JobStatus.COMPLETED


def test_submit_on_a_full_disk_is_a_clear_error_and_leaves_nothing(runs_dir, tmp_path, small_disk):
    fill(small_disk)
    spec_path = sleeper_spec(tmp_path, [1], extra=f"backends:\n  local:\n    run_dir: {small_disk / 'runs'}\n").source
    result = cli("submit", str(spec_path))
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "disk is full" in result.stderr and str(small_disk / "runs") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not list((small_disk / "runs").glob("*")) if (small_disk / "runs").exists() else True


def test_a_read_only_run_folder_is_named(runs_dir, tmp_path, small_disk):
    spec = sleeper_spec(tmp_path, [1], extra=f"backends:\n  local:\n    run_dir: {small_disk / 'runs'}\n")
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    pid = scheduler_pid(job)
    wait_until(lambda: not alive(pid), timeout=30)  # a file still open for writing keeps the disk from going read-only
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for args in (("status", job.id), ("resume", job.id)):
        result = cli(*args)
        assert result.returncode == 3, (args, result.returncode, result.stderr)
        assert "read-only" in result.stderr and str(job.dir) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# ---- a cancel that races a resume ----------------------------------------------------------------


def test_a_cancel_racing_a_resume_ends_every_trial_with_its_time_frozen_and_its_best(runs_dir, tmp_path, monkeypatch):
    """The cancel lands between resume's claim and the new scheduler's take_over (held there by SIGSTOP)."""
    from cloudauto_local import handle

    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 21], concurrency=2), backend="local")
    wait_until(lambda: [len(t.metrics) >= 2 for t in job.trials()] == [True, True], timeout=60)
    kill_scheduler_mid_trial(job)
    reported = {t.number: t.metrics[-1].value for t in job.trials()}
    frozen = {t.number: t.duration for t in job.trials()}

    spawn = handle._spawn

    def held(store):
        pid = spawn(store)
        os.kill(pid, signal.SIGSTOP)
        return pid

    monkeypatch.setattr(handle, "_spawn", held)
    cloudauto.get_backend("local").resume(job.id)
    pid = scheduler_pid(job)
    said = cli("cancel", job.id)
    assert said.returncode == 0 and "cancel requested" in said.stdout, said.stdout
    os.kill(pid, signal.SIGCONT)
    wait_until(lambda: not alive(pid), timeout=60)

    assert job.status() is JobStatus.CANCELED
    first = job.trials()
    assert [t.status for t in first] == [TrialStatus.CANCELED] * 2, [(t.number, t.status, t.error) for t in first]
    assert {t.number: t.objective for t in first} == reported  # each keeps the last value it reported
    assert all(abs(t.duration - frozen[t.number]) < 6 for t in first), (frozen, [t.duration for t in first])
    time.sleep(1.2)
    assert [t.duration for t in job.trials()] == [t.duration for t in first]  # frozen
    log = (job.dir / "orchestrator.log").read_text()
    assert "trial 0 started" not in log.split("resumed:")[1], log  # nothing ran again


# ---- a job pins its data -------------------------------------------------------------------------


def data_spec(tmp_path: Path) -> cloudauto.JobSpec:
    (tmp_path / "train.csv").write_text("x,y\n1,0\n2,1\n3,0\n4,1\n")
    (tmp_path / "test.csv").write_text("x,y\n5,0\n6,1\n")
    return sleeper_spec(tmp_path, [20, 2], extra="data:\n  train: train.csv\n  test: test.csv\n  label: y\n")


@pytest.mark.parametrize("role", ["train", "test"])
def test_resume_refuses_a_job_whose_data_changed_and_says_what_to_do(runs_dir, tmp_path, role):
    job = cloudauto.submit(data_spec(tmp_path), backend="local")
    kill_scheduler_mid_trial(job)
    path = tmp_path / f"{role}.csv"
    before, stat = path.read_bytes(), path.stat()
    lines = before.decode().splitlines()
    changed = "\n".join([lines[0], *(line[:-1] + ("1" if line.endswith("0") else "0") for line in lines[1:])]) + "\n"
    assert len(changed) == len(before)
    path.write_text(changed)  # permuted labels, same size, same mtime
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    refused = cli("resume", job.id)
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    assert str(path) in refused.stderr and "changed" in refused.stderr and "submit" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert job.status() is JobStatus.INTERRUPTED and not alive(scheduler_pid(job) or 0)

    path.unlink()
    gone = cli("resume", job.id)
    assert gone.returncode == 1 and str(path) in gone.stderr, gone.stderr

    path.write_bytes(before)  # put back: it resumes
    again = cli("resume", job.id, "--no-wait")
    assert again.returncode == 0, again.stderr
    cloudauto.get_backend("local").attach(job.id).cancel()


# ---- the best reported value of an interrupted trial ---------------------------------------------


def test_trials_show_the_best_reported_value_of_an_interrupted_trial(runs_dir, tmp_path):
    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 2]), backend="local")
    wait_until(lambda: bool(job.trials()) and len(job.trials()[0].metrics) >= 3, timeout=60)
    kill_scheduler_mid_trial(job)
    best = max(m.value for m in job.trials()[0].metrics)
    text = cli("trials", job.id).stdout
    row = next(line for line in text.splitlines() if line.strip().startswith("0 "))
    assert "interrupted" in row and f"{best:.6g}*" in row.split(), text
    assert "reported" in text, text  # the mark is explained
    listed = json.loads(cli("trials", job.id, "--format", "json").stdout)
    assert listed[0]["objective"] is None and listed[0]["best_reported"] == best


@pytest.mark.parametrize("delay", [0.2, 2.0])
def test_the_attackers_race_resume_then_cancel_from_the_cli(runs_dir, tmp_path, delay):
    """`cloudauto resume J & (sleep 0.2; cloudauto cancel J)`: whenever the cancel lands, no trial is left pending."""
    job = cloudauto.submit(sleeper_spec(tmp_path, [20, 21], concurrency=2), backend="local")
    wait_until(lambda: [len(t.metrics) >= 2 for t in job.trials()] == [True, True], timeout=60)
    kill_scheduler_mid_trial(job)
    reported = {t.number: t.metrics[-1].value for t in job.trials()}

    resume = subprocess.Popen(
        [sys.executable, "-c", "from cloudauto.cli import main; main()", "resume", job.id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)  # 0.2 s: in the scheduler's start; 2 s: the trials have started again
    said = cli("cancel", job.id)
    assert said.returncode == 0, said.stderr
    assert resume.wait(timeout=60) == 4
    wait_until(lambda: not alive(scheduler_pid(job) or 0), timeout=30)
    first = job.trials()
    assert job.status() is JobStatus.CANCELED
    assert [t.status for t in first] == [TrialStatus.CANCELED] * 2, [(t.number, t.status) for t in first]
    # each keeps its last reported value: the earlier run's, or, where the rerun reported before the cancel (2 s
    # is time for a step or more), the rerun's, which are then the trial's points
    kept = {t.number: t.metrics[-1].value for t in first}
    assert {t.number: t.objective for t in first} == (reported if delay < 1 else kept)
    time.sleep(1.2)
    assert [t.duration for t in job.trials()] == [t.duration for t in first]
