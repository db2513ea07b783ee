"""The local home keeps no secret and shows nothing to other users.

A token planted through `${NAME}` (in the description, the tags, the command line and the
command's environment) is searched for in every file the home holds after a run, and after a
resume from a shell that lacks it; every file is 0600 and every folder 0700.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus

from ..conftest import dedent
from .conftest import finished_iris_job, kill, wait_until

EXE = Path(sys.executable).with_name("cloudauto")
TOKEN = "PLANTEDtok3n-0123456789abcdef"
PLAIN = "PLANTEDplainValue-2468"  # a variable whose name says nothing of a secret: hidden because it came from ${...}
OPTIONAL = "PLANTEDoptionalValue-1357"
PLANTED = (TOKEN, PLAIN, OPTIONAL)

# trial "fail" prints what it got and fails with the token; trial "wait" waits for a file, then reports
SCRIPT = """\
import os, sys, time, pathlib
import cloudauto
print("got", os.environ.get("MY_TOKEN"), os.environ.get("PLAIN_SETTING"), os.environ.get("OPT_SETTING"), sys.argv[2:], flush=True)
if sys.argv[1] == "fail":
    sys.exit("giving up with " + os.environ["MY_TOKEN"])
while not pathlib.Path("release").exists():
    time.sleep(0.1)
cloudauto.report(score=1.0)
"""

SPEC = """
name: at-rest
description: "uses ${MY_TOKEN}"
task: tabular_regression
engine: command
command:
  run: python train.py ${{sweep.mode}} ${MY_TOKEN}
  env:
    MY_TOKEN: ${MY_TOKEN}
    PLAIN_SETTING: ${PLAIN_SETTING}
    OPT_SETTING: ${OPT_SETTING:-no-option-given}
metric: {name: score, goal: maximize}
sweep:
  sampling: grid
  space:
    mode: {choice: [fail, wait]}
limits: {max_trials: 2, max_concurrent_trials: 1}
tags: {token: "${MY_TOKEN}", plain: "${PLAIN_SETTING}"}
"""


def _home_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and not p.is_symlink()]


def _leaks(home: Path) -> list[str]:
    found = []
    for path in _home_files(home):
        data = path.read_bytes()
        found += [f"{secret} in {path}" for secret in PLANTED if secret.encode() in data]
    return found


def _loose_modes(home: Path) -> list[str]:
    """Every folder of the home 0700, every file 0600 (no bit for the group or others)."""
    loose = []
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{oct(mode)} {path}")
    return loose


def _cli(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    (folder / "spec.yaml").write_text(dedent(SPEC))
    return folder


def test_the_store_keeps_references_and_a_resume_without_the_variable_refuses(runs_dir, job_folder, monkeypatch):
    home = runs_dir.parent
    env = {**os.environ, "CLOUDAUTO_HOME": str(home), "MY_TOKEN": TOKEN, "PLAIN_SETTING": PLAIN, "OPT_SETTING": OPTIONAL}
    done = _cli("submit", str(job_folder / "spec.yaml"), env=env, cwd=job_folder)
    assert done.returncode == 0, done.stderr
    job = cloudauto.attach(done.stdout.strip(), backend="local")

    # the store holds the references, never the values (item 1)
    stored = job.store.job().spec_json
    assert "${MY_TOKEN}" in stored and "${PLAIN_SETTING}" in stored and "${OPT_SETTING:-no-option-given}" in stored
    for secret in PLANTED:
        assert secret not in stored

    # the scheduler dies while trial 1 waits; trial 0 has failed with the token in its message
    trial_log = job.dir / "trials" / "1" / "trial.log"
    wait_until(lambda: trial_log.is_file() and "got" in trial_log.read_text(), timeout=90)
    kill(job.store.job().orchestrator_pid)
    wait_until(lambda: job.status() is JobStatus.INTERRUPTED, timeout=30)
    (job_folder / "release").write_text("")

    # a shell without the variables: resume refuses, naming the variable (item 2), and starts nothing
    bare = {k: v for k, v in env.items() if k not in ("MY_TOKEN", "PLAIN_SETTING", "OPT_SETTING")}
    refused = _cli("resume", job.id, env=bare, cwd=job_folder)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "MY_TOKEN" in refused.stderr and "Traceback" not in refused.stderr
    assert "OPT_SETTING" not in refused.stderr  # it has a default: optional
    assert job.status() is JobStatus.INTERRUPTED

    # with the required ones (the optional one left out), the resumed run hides what came from ${...}
    partial = {**bare, "MY_TOKEN": TOKEN, "PLAIN_SETTING": PLAIN}
    resumed = _cli("resume", job.id, env=partial, cwd=job_folder)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr  # trial 0 failed, trial 1 completed
    assert job.status() is JobStatus.COMPLETED and [t.status.value for t in job.trials()] == ["failed", "completed"]
    log = job.logs(1)
    assert "got <secret:MY_TOKEN> <secret:PLAIN_SETTING> no-option-given" in log, log

    # nothing the home holds, and nothing a later bare shell reads, shows a planted value
    assert _leaks(home) == []
    said = [
        _cli(*args, env=bare, cwd=job_folder)
        for args in (("trials", job.id), ("logs", job.id, "--trial", "0"), ("status", job.id))
    ]
    for out in said:
        for secret in PLANTED:
            assert secret not in out.stdout + out.stderr
    assert "giving up with <secret:MY_TOKEN>" in said[1].stdout
    assert _loose_modes(home) == []


def test_every_file_of_the_home_is_private_after_a_submit_a_deploy_and_a_batch(tmp_path):
    with finished_iris_job(tmp_path) as job:
        home = tmp_path / "home"
        endpoint = cloudauto.get_backend("local").deploy(job, name="private", key="not-a-planted-one")
        try:
            batch = job.predict_batch(tmp_path / "iris" / "test.csv", tmp_path / "scored.csv")
            assert batch.wait(progress=False) is JobStatus.COMPLETED
        finally:
            endpoint.delete()
        assert _loose_modes(home) == []
        assert (home / "runs").is_dir() and (home / "endpoints").is_dir() and (home / "batches").is_dir()
        # what is written for the user, outside the home, keeps the user's own umask
        assert stat.S_IMODE((tmp_path / "scored.csv").stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


AG_SPEC = """
name: ag-echo
task: tabular_classification
data: {train: ./iris/train.csv, test: ./iris/test.csv, label: target}
metric: accuracy
autogluon:
  hyperparameters:
    GBM: {boosting: "${PLAIN_SETTING}"}
    XT: {}
sweep:
  sampling: grid
  space: {time_limit: 20}
limits: {max_trials: 1, max_concurrent_trials: 1}
"""


def test_what_autogluon_itself_prints_in_a_trial_is_redacted(tmp_path, monkeypatch):
    """AutoGluon echoes its hyperparameters into the trial's output ('User-specified model hyperparameters'):
    a value from ${NAME} there lands in trial.log redacted, as a command trial's output does."""
    from job_specs import make_data

    home = tmp_path / "home"
    make_data.iris(tmp_path)
    (tmp_path / "spec.yaml").write_text(dedent(AG_SPEC))
    env = {**os.environ, "CLOUDAUTO_HOME": str(home), "PLAIN_SETTING": PLAIN}
    done = _cli("submit", str(tmp_path / "spec.yaml"), "--wait", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (log_path,) = (home / "runs").glob("ag-echo-*/trials/0/trial.log")
    log = log_path.read_text()
    assert "'boosting': '<secret:PLAIN_SETTING>'" in log, log[-3000:]
    # a model keeps the hyperparameters it was fit with (its pickles): every other file holds no planted value
    assert [leak for leak in _leaks(home) if "/model/" not in leak] == []
