"""What a CI step gets from cloudauto: the result file, the Markdown summary, step outputs, timeouts, many specs at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudauto.run_result import RunResult, schema_text

from ..conftest import ROOT, dedent

EXE = Path(sys.executable).with_name("cloudauto")

# a script that reports its score three times, a second apart; trial `fail` exits with an error
SCRIPT = """\
import sys, time
import cloudauto
x = float(sys.argv[1])
if x < 0:
    sys.exit("negative x is refused")
for step in range(3):
    cloudauto.report(score=x + step)
    time.sleep(float(sys.argv[2]))
"""


def command_spec(folder: Path, *, xs: list[float], pause: float = 0.0, name: str = "ci-demo") -> Path:
    (folder / "train.py").write_text(SCRIPT)
    spec = folder / f"{name}.yaml"
    spec.write_text(
        dedent(
            f"""
            name: {name}
            task: tabular_regression
            engine: command
            command:
              run: python train.py ${{{{sweep.x}}}} {pause}
            metric: {{name: score, goal: maximize}}
            sweep:
              sampling: grid
              space:
                x: {{choice: {xs}}}
            limits:
              max_trials: {len(xs)}
              max_concurrent_trials: {min(2, len(xs))}
            """
        )
    )
    return spec


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")}
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env={**environ, **(env or {})}
    )


def test_result_and_summary_of_a_sweep_read_as_a_reviewer_reads_them(runs_dir, tmp_path):
    spec = command_spec(tmp_path, xs=[1.0, 3.0, -1.0, 2.0])
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step\n")
    done = cli("run", str(spec), "--result", "result.json", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    result = RunResult.model_validate_json((tmp_path / "result.json").read_text())
    assert (result.job.backend, result.job.status, result.job.detached) == ("local", "completed", False)
    assert result.exit_code == 0 and result.spec.file == str(spec) and result.spec.metric == "score"
    counts = result.trials
    assert (counts.planned, counts.total, counts.completed, counts.failed) == (4, 4, 3, 1)
    # the best trial: x=3 reported 3, 4, 5
    assert (result.best.trial, result.best.objective, result.best.params) == (1, 5.0, {"x": 3.0})
    assert result.failures == ["trial 2 failed: negative x is refused"]
    text = summary.read_text()
    assert text.startswith("# earlier step\n## cloudauto: ci-demo completed")  # appended, as GitHub's steps do
    assert f"Job `{result.job.id}` on **local**: 4 of 4 trials (3 completed, 1 failed)" in text
    assert "**Best: trial 1, score = 5** (maximize)" in text
    # the leaderboard: ranked by the objective, with each trial's parameters
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`x=" in line]
    assert [row.split(" | ")[1:4] for row in rows] == [["1", "completed", "5"], ["3", "completed", "4"], ["0", "completed", "3"]]
    assert "`x=3`" in rows[0]
    assert "### Failures\n\n- trial 2 failed: negative x is refused" in text
    picture = tmp_path / f"{result.job.id}.png"
    assert f"`{picture.name}`" in text and picture.stat().st_size > 10_000


def test_a_ci_timeout_detaches_and_the_job_goes_on(runs_dir, tmp_path):
    spec = command_spec(tmp_path, xs=[1.0, 2.0], pause=2.0)
    outputs = tmp_path / "github-output"
    done = cli(
        "submit", str(spec), "--wait", "--timeout", "1s", "--result", "r.json", cwd=tmp_path, env={"GITHUB_OUTPUT": str(outputs)}
    )
    assert done.returncode == 6, done.stderr
    assert "stopped waiting after 1 s" in done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["job"]["detached"] is True and result["job"]["status"] in ("pending", "running")
    assert result["exit_code"] == 6
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["job-id"] == result["job"]["id"] and values["backend"] == "local"
    waited = cli("status", values["job-id"], cwd=tmp_path)  # a later step follows it
    assert waited.returncode == 0 and values["job-id"] in waited.stdout
    from cloudauto import attach

    assert attach(values["job-id"]).wait(timeout=120, progress=False).value == "completed"


def test_cancel_on_timeout_cancels_and_says_so(runs_dir, tmp_path):
    spec = command_spec(tmp_path, xs=[1.0, 2.0], pause=5.0)
    done = cli(
        "run", str(spec), "--timeout", "2s", "--cancel-on-timeout", "--result", "r.json", "--summary", "s.md", cwd=tmp_path
    )
    assert done.returncode == 4, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["job"]["status"], result["job"]["canceled_on_timeout"], result["job"]["detached"]) == ("canceled", True, False)
    assert "## cloudauto: ci-demo canceled at the timeout (--cancel-on-timeout)" in (tmp_path / "s.md").read_text()


def test_submit_without_wait_writes_the_job_id_for_a_later_step(runs_dir, tmp_path):
    spec = command_spec(tmp_path, xs=[1.0])
    done = cli("submit", str(spec), "--result", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = RunResult.model_validate_json((tmp_path / "r.json").read_text())
    assert result.job.id == done.stdout.strip() and result.best is None
    from cloudauto import attach

    assert attach(result.job.id).wait(timeout=120, progress=False).value == "completed"


def test_outputs_that_cannot_be_written_are_refused_before_anything_starts(runs_dir, tmp_path):
    spec = command_spec(tmp_path, xs=[1.0])
    for args in (["--result", "no/such/r.json"], ["--summary", "no/such/s.md"], ["--timeout", "soon"], ["--cancel-on-timeout"]):
        done = cli("run", str(spec), *args, cwd=tmp_path)
        assert done.returncode == 64, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert "--timeout soon: a duration is like 90s" in cli("run", str(spec), "--timeout", "soon", cwd=tmp_path).stderr
    assert (
        "--timeout and --cancel-on-timeout are for a job cloudauto waits for"
        in cli("submit", str(spec), "--timeout", "1h", cwd=tmp_path).stderr
    )
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing was submitted


def test_deploy_adds_the_endpoint_to_the_result(runs_dir, tmp_path, datasets):
    spec = tmp_path / "iris.yaml"
    spec.write_text(
        (ROOT / "job_specs" / "iris.yaml")
        .read_text()
        .replace("./data/iris", str(datasets / "iris"))
        .replace("[GBM, XT, RF, CAT]", "[GBM]")
        .replace("time_limit: 30", "time_limit: 10")
    )
    assert cli("run", str(spec), "--result", "r.json", cwd=tmp_path).returncode == 0
    job_id = json.loads((tmp_path / "r.json").read_text())["job"]["id"]
    outputs = tmp_path / "github-output"
    done = cli("deploy", job_id, "--name", "ci-iris", "--result", "r.json", cwd=tmp_path, env={"GITHUB_OUTPUT": str(outputs)})
    try:
        assert done.returncode == 0, done.stderr
        result = RunResult.model_validate_json((tmp_path / "r.json").read_text())
        assert result.endpoint.name == "ci-iris" and result.endpoint.url.startswith("http://127.0.0.1:")
        assert result.best is not None and result.model.endswith("/model")  # the rest is kept
        assert "endpoint=ci-iris" in outputs.read_text()
        other = tmp_path / "other.json"
        other.write_text((tmp_path / "r.json").read_text().replace(job_id, "another-job"))
        refused = cli("deploy", job_id, "--name", "ci-iris-2", "--result", str(other), cwd=tmp_path)
        assert "is the result of job another-job" in refused.stderr
    finally:
        cli("delete-endpoint", "ci-iris", cwd=tmp_path)
        cli("delete-endpoint", "ci-iris-2", cwd=tmp_path)


def test_the_documented_result_schema_is_the_one_written():
    assert (ROOT / "docs" / "result.schema.json").read_text() == schema_text()
    done = cli("schema", "--result", cwd=ROOT)
    assert done.returncode == 0 and json.loads(done.stdout)["properties"]["schema"]["const"] == "cloudauto.result/1"


# ---- many specs at once ------------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def spec_repo(tmp_path: Path) -> Path:
    """A repository with three specs (one in a sub-folder), a conda file and a schema beside them, committed on main."""
    repo = tmp_path / "repo"
    (repo / "specs" / "nested").mkdir(parents=True)
    for name in ("a", "b"):
        command_spec(repo / "specs", xs=[1.0], name=name)
    command_spec(repo / "specs" / "nested", xs=[1.0], name="c")
    (repo / "specs" / "nested" / "conda.yml").write_text("dependencies: [python=3.11]\n")
    (repo / "specs" / "cloudauto.schema.json").write_text('{"type": "object"}\n')
    git("init", "-q", "-b", "main", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "specs", cwd=repo)
    return repo


def test_validate_takes_folders_and_globs_and_reports_every_spec(spec_repo):
    done = cli("validate", "specs", cwd=spec_repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["specs/a.yaml: ok", "specs/b.yaml: ok", "specs/nested/c.yaml: ok"]
    assert "specs/nested/conda.yml: skipped (not a job spec: no task field)" in done.stderr
    globbed = cli("validate", "specs/**/*.yaml", "--format", "json", cwd=spec_repo)
    assert [r["file"] for r in json.loads(globbed.stdout)] == ["specs/a.yaml", "specs/b.yaml", "specs/nested/c.yaml"]
    (spec_repo / "specs" / "b.yaml").write_text((spec_repo / "specs" / "b.yaml").read_text().replace("maximize", "maximise"))
    broken = cli("validate", "specs", "--format", "github", cwd=spec_repo)
    assert broken.returncode == 1
    assert broken.stdout.startswith("::error file=specs/b.yaml,line=")
    nothing = cli("validate", "specs/nested/*.txt", cwd=spec_repo)
    assert nothing.returncode == 64 and "specs/nested/*.txt: the pattern matches no .yaml, .yml or .json file" in nothing.stderr
    (spec_repo / "empty").mkdir()
    assert "empty: no job spec there" in cli("validate", "empty", cwd=spec_repo).stderr


def test_changed_since_limits_the_specs_to_those_changed(spec_repo):
    (spec_repo / "specs" / "a.yaml").write_text((spec_repo / "specs" / "a.yaml").read_text() + "description: changed\n")
    command_spec(spec_repo / "specs", xs=[2.0], name="d")  # untracked: new in this change
    done = cli("validate", "specs", "--changed-since", "main", cwd=spec_repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["specs/a.yaml: ok", "specs/d.yaml: ok"]
    git("stash", "-q", "--include-untracked", cwd=spec_repo)
    unchanged = cli("validate", "specs", "--changed-since", "main", cwd=spec_repo)
    assert unchanged.returncode == 0 and unchanged.stdout == "" and "no spec changed since main" in unchanged.stderr
    bad = cli("validate", "specs", "--changed-since", "no-such-branch", cwd=spec_repo)
    assert bad.returncode == 64 and "--changed-since no-such-branch: no such commit here" in bad.stderr


def test_compile_many_specs_writes_a_folder_each_and_reports_each(spec_repo, tmp_path):
    done = cli("compile", "specs", "-b", "local", "-o", str(tmp_path / "out"), "--format", "json", cwd=spec_repo)
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [(r["file"], r["ok"], r["exit_code"]) for r in reports] == [
        ("specs/a.yaml", True, 0),
        ("specs/b.yaml", True, 0),
        ("specs/nested/c.yaml", True, 0),
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b", "c"]
    assert all(any(Path(w).is_file() for w in r["written"]) for r in reports)
    (spec_repo / "specs" / "b.yaml").write_text("name: b\ntask: tabular_regression\n")
    mixed = cli("compile", "specs", "--format", "github", cwd=spec_repo)
    assert mixed.returncode == 1 and "::error file=specs/b.yaml" in mixed.stdout
