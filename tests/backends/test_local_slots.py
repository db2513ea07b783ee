"""One pool of trial slots for all local jobs of a home (CLOUDAUTO_LOCAL_SLOTS): never more trials than slots,
served in submit order, freed by a killed scheduler, and `status` saying a trial waits for one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus
from cloudauto.cli import main as cli

from .conftest import kill, wait_until

pytestmark = pytest.mark.slow

TIMED = """
    import json, os, sys, time
    start = time.time()
    import cloudauto
    time.sleep(float(os.environ.get("TRIAL_SECONDS", "1.5")))
    end = time.time()
    out = os.environ.get("CLOUDAUTO_OUTPUT_DIR") or os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")  # a container's
    with open(os.path.join(out, "times.json"), "w") as fh:
        json.dump([start, end], fh)
    cloudauto.report(score=float(sys.argv[2]))
"""


def timed_spec(
    tmp_path: Path, name: str, trials: int, concurrency: int, seconds: float = 1.5, extra: str = ""
) -> cloudauto.JobSpec:
    folder = tmp_path / name
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "script.py").write_text(textwrap.dedent(TIMED))
    values = ", ".join(str(i) for i in range(trials))
    (folder / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        name: {name}
        task: custom
        engine: command
        command:
          run: python script.py --value ${{{{sweep.value}}}}
          code: code
          env: {{TRIAL_SECONDS: "{seconds}"}}
        metric: {{name: score, goal: maximize}}
        sweep:
          sampling: grid
          space:
            value: {{choice: [{values}]}}
        limits:
          max_concurrent_trials: {concurrency}
        """)
        + extra
    )
    return cloudauto.JobSpec.from_file(folder / "spec.yaml")


def spans(job) -> list[tuple[float, float, str]]:
    out = []
    for trial in job.trials():
        (found,) = Path(trial.artifacts["dir"]).rglob("times.json")  # docker mode: under the trial's opt_ml/output
        start, end = json.loads(found.read_text())
        out.append((start, end, f"{job.spec.name}:{trial.number}"))
    return out


def most_at_once(intervals: list[tuple[float, float, str]]) -> int:
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals])  # an end before a start at a tie
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_two_sweeps_at_once_never_run_more_trials_than_slots(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "2")
    first = cloudauto.submit(timed_spec(tmp_path, "first", 3, 2), backend="local")
    second = cloudauto.submit(timed_spec(tmp_path, "second", 3, 2), backend="local")
    assert first.wait(progress=False) is JobStatus.COMPLETED
    assert second.wait(progress=False) is JobStatus.COMPLETED
    times = spans(first) + spans(second)
    assert len(times) == 6
    assert most_at_once(times) == 2, sorted(times)
    # each job ran trials while the other waited: both had a share, and neither ran more than its own concurrency
    assert most_at_once(spans(first)) <= 2 and most_at_once(spans(second)) <= 2


def test_docker_mode_trials_hold_their_slot_through_their_scheduler(runs_dir, tmp_path, monkeypatch):
    from .docker_image import IMAGE, status

    ready, why = status()
    if not ready:
        pytest.skip(f"docker mode not run against a real engine: {why}")
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "1")
    docker = f'backends: {{local: {{mode: docker, image: "{IMAGE}"}}}}\n'
    first = cloudauto.submit(timed_spec(tmp_path, "first", 2, 2, seconds=2, extra=docker), backend="local")
    second = cloudauto.submit(timed_spec(tmp_path, "second", 2, 2, seconds=2, extra=docker), backend="local")
    for job in (first, second):
        assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    times = spans(first) + spans(second)
    assert len(times) == 4 and most_at_once(times) == 1, sorted(times)


def test_a_job_s_own_concurrency_still_holds_under_more_slots(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "4")
    job = cloudauto.submit(timed_spec(tmp_path, "one", 3, 1, seconds=0.5), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert most_at_once(spans(job)) == 1


def test_waiting_trials_are_served_in_submit_order(runs_dir, tmp_path, monkeypatch):
    """One slot, three jobs: A runs, B then C queue; each job queues again behind the others after its trial."""
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "1")
    a = cloudauto.submit(timed_spec(tmp_path, "a", 2, 1, seconds=5), backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in a.trials()), timeout=60)
    b = cloudauto.submit(timed_spec(tmp_path, "b", 2, 1, seconds=1), backend="local")
    wait_until(lambda: "waits for a slot" in (b.status_reason() or ""), timeout=60)
    c = cloudauto.submit(timed_spec(tmp_path, "c", 2, 1, seconds=1), backend="local")
    wait_until(lambda: "waits for a slot" in (c.status_reason() or ""), timeout=60)
    said = c.status_reason()
    assert said.endswith(f"(1 slots, CLOUDAUTO_LOCAL_SLOTS); 1 queued ahead of it; held by {a.id}: 1"), said
    for job in (a, b, c):
        assert job.wait(progress=False) is JobStatus.COMPLETED
    times = spans(a) + spans(b) + spans(c)
    assert most_at_once(times) == 1, sorted(times)
    assert [name for _, _, name in sorted(times)] == ["a:0", "b:0", "c:0", "a:1", "b:1", "c:1"]


def test_a_killed_scheduler_frees_its_slot_and_status_says_who_waits(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "1")
    holder = cloudauto.submit(timed_spec(tmp_path, "holder", 1, 1, seconds=300), backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in holder.trials()), timeout=60)
    waiter = cloudauto.submit(timed_spec(tmp_path, "waiter", 2, 1, seconds=0.5), backend="local")
    wait_until(lambda: "waits for a slot" in (waiter.status_reason() or ""), timeout=60)
    shown = CliRunner().invoke(cli, ["status", waiter.id])
    assert shown.exit_code == 0, shown.output
    assert f"{waiter.id}: running (a trial waits for a slot since" in shown.output
    assert f"(1 slots, CLOUDAUTO_LOCAL_SLOTS); held by {holder.id}: 1)" in shown.output, shown.output
    time.sleep(1)
    assert waiter.trials() == []  # it waited: nothing of it ran beside the holder's trial

    kill(holder.store.job().orchestrator_pid)
    assert waiter.wait(progress=False, timeout=60) is JobStatus.COMPLETED
    assert holder.status() is JobStatus.INTERRUPTED

    # the slot files left behind are private and harmless: the resumed holder takes a slot as any job would
    slots = runs_dir.parent / "slots"
    assert stat.S_IMODE(slots.stat().st_mode) == 0o700 and stat.S_IMODE((slots / "queue").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in slots.glob("slot-*"))
    holder.resume()
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in holder.trials()), timeout=60)
    assert "cancel requested" in holder.cancel()
    assert holder.wait(progress=False, timeout=60) is JobStatus.CANCELED


def test_a_resumed_job_waits_its_turn_and_can_be_canceled_while_waiting(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "1")
    holder = cloudauto.submit(timed_spec(tmp_path, "holder", 1, 1, seconds=300), backend="local")
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in holder.trials()), timeout=60)
    waiter = cloudauto.submit(timed_spec(tmp_path, "waiter", 1, 1, seconds=0.5), backend="local")
    wait_until(lambda: "waits for a slot" in (waiter.status_reason() or ""), timeout=60)
    pid = waiter.store.job().orchestrator_pid
    kill(pid)  # a waiting scheduler killed: its ticket is a dead one's, skipped by the others
    wait_until(lambda: waiter.status() is JobStatus.INTERRUPTED, timeout=30)
    waiter.resume()
    wait_until(lambda: "waits for a slot" in (waiter.status_reason() or ""), timeout=60)
    assert "cancel requested" in waiter.cancel()
    assert waiter.wait(progress=False, timeout=60) is JobStatus.CANCELED
    assert waiter.trials() == []
    assert "cancel requested" in holder.cancel()
    assert holder.wait(progress=False, timeout=60) is JobStatus.CANCELED


def test_a_bad_slot_count_is_refused_at_submit_naming_the_variable(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_LOCAL_SLOTS", "two")
    folder = tmp_path / "bad"
    timed_spec(tmp_path, "bad", 1, 1)
    result = CliRunner().invoke(cli, ["submit", str(folder / "spec.yaml")])
    assert result.exit_code == 2, result.output
    assert "CLOUDAUTO_LOCAL_SLOTS='two' is not a whole number of at least 1" in result.output
    assert "Traceback" not in result.output and not runs_dir.exists()


def test_a_slot_held_by_a_process_killed_with_9_is_free_again(tmp_path, monkeypatch):
    """The OS lock dies with its process: no count in a file for a crash to leave wrong."""
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    from cloudauto_local.slots import Pool, holders

    code = (
        "import sys, time\nfrom cloudauto_local.slots import Pool\n"
        "pool = Pool('gone', 1)\nassert pool.take()\nprint('held', flush=True)\ntime.sleep(300)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env={**os.environ})
    try:
        assert proc.stdout.readline().strip() == b"held"
        mine = Pool("mine", 1)
        assert not mine.take() and [h["job"] for h in holders()] == ["gone"]
        kill(proc.pid)
        proc.wait()
        assert holders() == []  # the dead holder's words stay in its file, and count for nothing
        assert mine.take()
        assert [h["job"] for h in holders()] == ["mine"]
        mine.keep(0)
        assert holders() == [] and mine.take()
        mine.close()
    finally:
        kill(proc.pid)


def test_a_free_slot_goes_to_the_oldest_waiter_and_a_dead_one_s_ticket_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    from cloudauto_local.slots import Pool, slots_dir, waiting

    a, b, c = Pool("a", 1), Pool("b", 1), Pool("c", 1)
    assert a.take()
    assert not b.take() and not c.take()  # b asked first, then c
    # a ticket left by a scheduler that died (no lock on it), older than both: skipped, and removed on the way
    (slots_dir() / "queue" / f"{1:020d}-999999.ticket").write_text('{"job": "gone", "count": 1}')
    assert "held by a: 1" in waiting("c") and "1 queued ahead of it" in waiting("c")
    assert not (slots_dir() / "queue" / f"{1:020d}-999999.ticket").exists()
    a.keep(0)
    assert not a.take()  # a queues behind b and c now
    assert not c.take()  # a slot is free, but b is ahead
    assert b.take() and waiting("b") is None
    b.keep(0)
    assert not a.take() and c.take()
    c.keep(0)
    assert a.take()
    for pool in (a, b, c):
        pool.close()
    assert not list((slots_dir() / "queue").iterdir())
