"""The local backend tells what happened: a dead scheduler, a resumed Bayesian sweep, a budget
that ends, a sweep that fails, the scheduler's log, a store found from any folder.

The trials are small scripts (engine: command) whose objective is a function of their
parameters, so two sweeps can be compared trial by trial; the scheduler, workers and CLI are
the real ones, each CLI call a process of its own as a user's would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from .conftest import alive, kill, wait_until

pytestmark = pytest.mark.slow

EXE = str(Path(sys.executable).with_name("cloudauto"))

# the objective is a function of the parameters; a file named `hold` in the job's folder makes trials wait
SCRIPT = """
    import os, sys, time
    import cloudauto
    lr, depth = float(sys.argv[1]), int(sys.argv[2])
    hold = os.path.join(os.environ["CLOUDAUTO_OUTPUT_DIR"], "..", "..", "hold")
    while os.path.exists(hold):
        time.sleep(0.05)
    for step in range(1, 4):
        cloudauto.report(score=round(-(lr - 0.05) ** 2 * 100 - abs(depth - 6) / 10 + step / 100, 9))
"""


BAYESIAN = """\
sampling: bayesian
seed: 5
space:
  lr: {loguniform: [0.001, 0.5]}
  depth: {randint: [2, 12]}
"""


def write_spec(folder: Path, *, script: str = SCRIPT, extra: str = "", sweep: str = BAYESIAN) -> Path:
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "train.py").write_text(textwrap.dedent(script))
    text = (
        textwrap.dedent("""\
        name: truth
        task: custom
        engine: command
        command:
          run: python train.py ${{sweep.lr}} ${{sweep.depth}}
          code: code
        metric: {name: score, goal: maximize}
        sweep:
        """)
        + textwrap.indent(sweep, "  ")
        + (extra or "limits: {max_trials: 8, max_concurrent_trials: 1}\n")
    )
    path = folder / "spec.yaml"
    path.write_text(text)
    return path


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def submit(spec_path: Path, *overrides: str) -> cloudauto.JobHandle:
    return cloudauto.submit(cloudauto.JobSpec.from_file(spec_path, overrides=list(overrides)), backend="local")


def test_a_killed_scheduler_is_seen_by_status_runs_trials_and_the_handle(runs_dir, tmp_path):
    job = submit(write_spec(tmp_path))
    (job.dir / "hold").touch()  # trial 0 waits, so the scheduler is killed mid-trial
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in job.trials()))
    pid = job.store.job().orchestrator_pid
    assert cli("status", job.id).returncode == 0
    kill(pid)
    wait_until(lambda: not alive(pid))

    gone = f"scheduler gone: cloudauto resume {job.id}"
    assert job.status() is JobStatus.INTERRUPTED and job.status_reason() == gone
    status = cli("status", job.id)
    assert status.returncode == 4 and gone in status.stdout and "interrupted" in status.stdout
    runs = cli("runs")
    assert f"{job.id}\tinterrupted ({gone})" in runs.stdout
    trials = cli("trials", job.id)
    assert trials.returncode == 0 and gone in trials.stderr
    with pytest.raises(cloudauto.CloudautoError, match="scheduler gone"):
        job.wait(progress=False)

    # a pid the system gives to another process later is not taken for the scheduler
    job.store.set_job(orchestrator_pid=os.getpid())
    assert job.status() is JobStatus.INTERRUPTED

    (job.dir / "hold").unlink()
    resumed = cli("resume", job.id)
    assert resumed.returncode == 0, resumed.stderr
    assert "submitted" not in resumed.stderr and f"job {job.id} resumed" in resumed.stderr
    assert job.status() is JobStatus.COMPLETED and len(job.trials()) == 8


def test_an_interrupted_bayesian_sweep_resumed_proposes_what_the_uninterrupted_one_did(runs_dir, tmp_path):
    spec_path = write_spec(tmp_path)
    whole = submit(spec_path)
    assert whole.wait(progress=False) is JobStatus.COMPLETED

    broken = submit(spec_path)
    wait_until(lambda: sum(t.status is TrialStatus.COMPLETED for t in broken.trials()) >= 3)
    (broken.dir / "hold").touch()
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in broken.trials()))
    kill(broken.store.job().orchestrator_pid)
    wait_until(lambda: broken.status() is JobStatus.INTERRUPTED)
    (broken.dir / "hold").unlink()
    assert broken.resume().wait(progress=False) is JobStatus.COMPLETED

    expected = [(t.number, t.params, t.objective) for t in whole.trials()]
    assert [(t.number, t.params, t.objective) for t in broken.trials()] == expected
    configs = [json.dumps(t.params, sort_keys=True) for t in broken.trials()]
    assert len(set(configs)) == 8  # no configuration ran twice
    assert "resumed: " in broken.logs()


def test_a_sweep_ended_by_its_timeout_has_completed_with_the_reason(runs_dir, tmp_path):
    slow = SCRIPT.replace("for step in range(1, 4):", "time.sleep(float(sys.argv[1]) * 0 + 1.2)\n    for step in range(1, 4):")
    spec_path = write_spec(tmp_path, script=slow, extra="limits: {max_trials: 8, max_concurrent_trials: 1, timeout: 4s}\n")
    run = cli("run", str(spec_path))
    assert run.returncode == 0, run.stdout + run.stderr
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"), backend="local")
    assert job.status() is JobStatus.COMPLETED
    finished = sum(1 for t in job.trials() if t.status is TrialStatus.COMPLETED)
    assert 1 <= finished < 8
    assert job.status_reason() == f"limits.timeout of 4s reached after {finished} of 8 trials"
    assert f"completed (limits.timeout of 4s reached after {finished} of 8 trials)" in run.stdout
    assert cli("status", job.id).returncode == 0
    assert "limits.timeout of 4s reached" in job.logs()

    # a user's cancel is not resumed as if it had been a crash
    canceled = submit(write_spec(tmp_path / "again"))
    (canceled.dir / "hold").touch()
    wait_until(lambda: any(t.status is TrialStatus.RUNNING for t in canceled.trials()))
    assert cli("cancel", canceled.id).returncode == 0
    assert canceled.wait(progress=False) is JobStatus.CANCELED
    again = cli("resume", canceled.id)
    assert again.returncode == 4 and "was canceled" in again.stderr and "submitted" not in again.stderr
    assert canceled.status() is JobStatus.CANCELED
    done = cli("resume", job.id)
    assert done.returncode == 0 and "has completed" in done.stderr


def test_a_sweep_whose_every_trial_fails_says_why(runs_dir, tmp_path):
    broken = """
        import sys
        depth = int(sys.argv[2])
        if depth % 2:
            raise ValueError("odd depths are not supported")
        raise SystemExit("no GPU found")
    """
    spec_path = write_spec(tmp_path, script=broken, extra="limits: {max_trials: 5, max_concurrent_trials: 2}\n")
    run = cli("run", str(spec_path))
    assert run.returncode == 4
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"), backend="local")
    odd = [t.number for t in job.trials() if int(t.params["depth"]) % 2]
    even = [t.number for t in job.trials() if not int(t.params["depth"]) % 2]
    lines = run.stderr.splitlines()
    if odd:
        assert any(
            line.strip().startswith(f"{len(odd)} trial") and "): ValueError: odd depths are not supported" in line
            for line in lines
        ), lines
    if even:
        assert any(f"({', '.join(map(str, even))}): no GPU found" in line for line in lines), lines
    assert "no trial produced a result" in run.stdout
    best = cli("best", job.id)
    assert best.returncode == 4 and "no trial has a result" in best.stderr and "has no finished trial yet" not in best.stderr
    assert "failed (" in best.stderr
    status = cli("status", job.id)
    assert status.returncode == 4 and "failed" in status.stdout and "failed (" in status.stderr


def test_the_scheduler_logs_what_it_does_and_logs_checks_the_trial(runs_dir, tmp_path):
    spec_path = write_spec(
        tmp_path,
        sweep=BAYESIAN + "early_termination: {policy: bandit, slack_amount: 0.05, evaluation_interval: 1}\n",
        extra="limits: {max_trials: 4, max_concurrent_trials: 1, trial_timeout: 30s}\n",
    )
    job = submit(spec_path)
    follow = subprocess.Popen([EXE, "logs", job.id, "--follow"], stdout=subprocess.PIPE, text=True)
    assert job.wait(progress=False) is JobStatus.COMPLETED
    followed, _ = follow.communicate(timeout=30)
    log = job.logs()
    assert followed == log
    for trial in job.trials():
        assert f"trial {trial.number} started on worker" in log
        assert f"trial {trial.number} {trial.status.value}" in log
    assert "bandit at interval 1" in log and "scheduler " in log and "job completed: all 4 trials ran" in log
    missing = cli("logs", job.id, "--trial", "99")
    assert missing.returncode != 0 and "has no trial 99" in missing.stderr and "0 to 3" in missing.stderr


def test_jobs_and_endpoints_are_found_from_any_folder(tmp_path, monkeypatch):
    """No CLOUDAUTO_HOME: the per-user data folder (XDG_DATA_HOME here) is the one store."""
    env = {k: v for k, v in os.environ.items() if k != "CLOUDAUTO_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    here, elsewhere = tmp_path / "project", tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    spec_path = write_spec(here, extra="limits: {max_trials: 2, max_concurrent_trials: 1}\n")
    run = cli("run", "spec.yaml", cwd=here, env=env)
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.split()[1].rstrip(":")
    assert (tmp_path / "xdg" / "cloudauto" / "runs" / job_id / "run.db").is_file()
    assert not (here / ".cloudauto").exists()
    assert cli("status", job_id, cwd=elsewhere, env=env).returncode == 0
    assert cli("report", job_id, "-o", "s.png", cwd=elsewhere, env=env).returncode == 0
    assert job_id in cli("runs", cwd=elsewhere, env=env).stdout
    assert spec_path.is_file()


def test_a_run_dir_of_its_own_is_still_found_by_its_id(runs_dir, tmp_path):
    spec_path = write_spec(tmp_path, extra="limits: {max_trials: 1}\nbackends: {local: {run_dir: my-runs}}\n")
    job = submit(spec_path)
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert job.dir.parent == (tmp_path / "my-runs").resolve()  # relative to the spec
    assert cloudauto.attach(job.id).dir == job.dir and cli("status", job.id).returncode == 0


def test_a_run_dir_moved_away_is_named_as_missing_by_status_and_runs(runs_dir, tmp_path):
    """atk6 R8: the run_dir moved (a disk not mounted): `runs` dropped the job silently and `status` said "no local job"
    although the home still links to its folder; both now name the folder the home links to, and put back it works."""
    spec_path = write_spec(tmp_path, extra="limits: {max_trials: 1}\nbackends: {local: {run_dir: my-runs}}\n")
    job = submit(spec_path)
    assert job.wait(progress=False) is JobStatus.COMPLETED
    folder = job.dir
    (tmp_path / "my-runs").rename(tmp_path / "my-runs.moved")
    status = cli("status", job.id)
    assert status.returncode == 3 and "no local job" not in status.stderr, status.stderr
    assert f"its folder {folder} is missing" in status.stderr and "a run_dir moved or a disk not mounted" in status.stderr
    assert cli("status", job.id[:-3]).stderr == status.stderr  # a prefix of the id says the same
    listed = cli("runs")
    assert listed.returncode == 0
    (row,) = [r for r in listed.stdout.splitlines() if r.startswith(job.id)]
    assert f"missing ({folder} is not there)" in row, row
    (data,) = [r for r in json.loads(cli("runs", "--format", "json").stdout) if r["id"] == job.id]
    assert data["status"] == "missing" and str(folder) in data["reason"]
    (tmp_path / "my-runs.moved").rename(tmp_path / "my-runs")
    assert cli("status", job.id).returncode == 0 and "completed" in cli("runs").stdout


def test_an_ambiguous_prefix_lists_every_match(runs_dir, tmp_path):
    spec_path = write_spec(tmp_path, extra="limits: {max_trials: 1}\n")
    jobs = [submit(spec_path) for _ in range(3)]
    for job in jobs:
        job.wait(progress=False)
    result = cli("status", "truth-")
    assert result.returncode == 3 and "matches 3 jobs" in result.stderr
    assert all(job.id in result.stderr for job in jobs)


def test_a_grid_smaller_than_max_trials_counts_what_it_will_run(runs_dir, tmp_path):
    spec_path = write_spec(
        tmp_path,
        sweep="sampling: grid\nspace:\n  lr: {choice: [0.01, 0.05]}\n  depth: {choice: [4, 6]}\n",
        extra="limits: {max_trials: 8, max_concurrent_trials: 2}\n",
    )
    job = submit(spec_path)
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert "4/4 trials" in cli("status", job.id).stdout and "4/4 trials" in cli("runs").stdout
    assert job.status_reason() == "all 4 configurations of the grid ran"
