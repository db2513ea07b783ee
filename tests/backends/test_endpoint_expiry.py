"""Endpoints that end: the tags, `deploy --ttl`, `cloudauto endpoints [--expired --delete]`, and scoring what was removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudauto.spec.errors import CloudautoError

from .conftest import finished_iris_job, wait_until

EXE = Path(sys.executable).with_name("cloudauto")


@pytest.fixture(scope="module")
def iris_job(tmp_path_factory):
    with finished_iris_job(tmp_path_factory.mktemp("expiry")) as job:
        yield job


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120, env=os.environ)


def test_a_local_endpoint_with_a_ttl_stops_by_itself_and_is_removed_as_expired(iris_job, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n")
    short = iris_job.deploy(name="short-lived", ttl=20)  # long enough for the listing below on a loaded machine
    kept = iris_job.deploy(name="kept")
    try:
        listed = {e["name"]: e for e in json.loads(cli("endpoints", "--backend", "local", "--format", "json").stdout)}
        assert listed["short-lived"]["status"] == "serving" and listed["short-lived"]["expires"] is not None
        assert listed["kept"]["expires"] is None and listed["kept"]["job"] == iris_job.id
        assert listed["kept"]["spec"] == "iris-classification" and listed["kept"]["usd_per_hour"] == 0.0
        assert short.score(rows)["prediction"].tolist() == [0]
        # the ttl passes: the endpoint stops serving by itself, with no cloudauto command running
        from cloudauto_local.endpoint import _healthy

        wait_until(lambda: not _healthy(short.url), timeout=90)
        with pytest.raises(CloudautoError, match="expired at .* \\(deploy --ttl\\) and stopped serving"):
            short.score(rows)
        text = cli("endpoints", "--expired")
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0].split()[:3] == ["backend", "endpoint", "status"]
        assert len(lines) == 2 and lines[1].split()[:3] == ["local", "short-lived", "expired"] and "(expired)" in lines[1]
        assert "--expired" in cli("endpoints", "--delete").stderr  # --delete alone removes nothing
        deleted = cli("endpoints", "--expired", "--delete")
        assert deleted.returncode == 0 and "deleted short-lived (local, expired at " in deleted.stderr
        assert [e["name"] for e in json.loads(cli("endpoints", "-b", "local", "--format", "json").stdout)] == ["kept"]
        scored = cli("score", "short-lived", str(rows))
        assert scored.returncode == 5 and "endpoint 'short-lived' was removed at " in scored.stderr
        assert "(expired (deploy --ttl), removed by cloudauto endpoints --expired --delete)" in scored.stderr
        assert "Traceback" not in scored.stderr
        with pytest.raises(CloudautoError, match="was removed"):
            short.score(rows)
        assert kept.score(rows)["prediction"].tolist() == [0]  # the other one is untouched
    finally:
        for name in ("short-lived", "kept"):
            cli("delete-endpoint", name)
    with pytest.raises(CloudautoError, match="endpoint 'kept' was removed at .* \\(deleted\\)"):
        kept.score(rows)


def test_a_ttl_that_is_no_duration_is_refused_before_anything_starts(iris_job):
    for ttl in ("soon", "0", "-1h"):
        done = cli("deploy", iris_job.id, "--name", "never", "--ttl", ttl)
        assert done.returncode == 64 and "--ttl" in done.stderr, done.stderr
    assert json.loads(cli("endpoints", "-b", "local", "--format", "json").stdout) == []
