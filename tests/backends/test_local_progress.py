"""The progress lines `run` prints count the trials that will run, not the ones the spec asked for."""

from __future__ import annotations

import re

import pytest

import cloudauto
from cloudauto.backend import JobStatus

from .test_local_stop_retry import warm_spec, write_spec

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
