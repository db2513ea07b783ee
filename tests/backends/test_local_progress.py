"""What `run` and `trials` say while and after a job runs: progress counts the trials that will run; a retried
trial says so."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import cloudauto
from cloudauto.backend import JobStatus

from .test_local_stop_retry import plan_spec, warm_spec, write_spec

pytestmark = pytest.mark.slow


def _denominators(text: str) -> set[str]:
    return set(re.findall(r"\d+/(\d+) trials done", text))


def test_a_grid_smaller_than_max_trials_counts_its_points(runs_dir, tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        """\
        command: {run: "python script.py --score 0.${{sweep.x}}", code: code}
        sweep: {sampling: grid, space: {x: {choice: [1, 2]}}}
        limits: {max_trials: 4}
        """,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=True) is JobStatus.COMPLETED
    assert len(job.trials()) == 2
    assert _denominators(capsys.readouterr().err) == {"2"}


def test_a_warm_started_grid_counts_the_points_left(runs_dir, tmp_path, capsys):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 5), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    child = cloudauto.submit(warm_spec(tmp_path, "child", "grid", 12, warm=f"{{from: [{parent.id}]}}"), backend="local")
    assert child.wait(progress=True) is JobStatus.COMPLETED
    assert len(child.trials()) == 7
    assert _denominators(capsys.readouterr().err) == {"7"}


def test_trials_shows_that_a_trial_was_retried(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "kill ok", "trial_retries: 2", trials=2), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert [t.retries for t in job.trials()] == [1, 0]

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", "from cloudauto.cli import main; main()", "trials", job.id, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    table = cli().splitlines()
    first, second = (next(line for line in table if line.split()[0] == n) for n in ("0", "1"))
    assert "completed" in first and "retried 1×" in first
    assert "retried" not in second
    assert "retried 1×" in cli("--trial", "0")
    assert [r["retries"] for r in json.loads(cli("--format", "json"))] == [1, 0]
