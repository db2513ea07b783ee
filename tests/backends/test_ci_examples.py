"""The CI examples users copy, run: every cloudauto step of examples/ci/*.yml in a fresh clone, on the local backend.

The workflow files are parsed as the CI reads them; each `run:` step (GitHub) or script
line (GitLab) runs in bash with the environment the file gives it, GitHub's `${{ }}`
expressions filled as the runner would, and the secrets planted. Only the steps that
install packages (this venv has them) and the marketplace actions (`uses:`) are left out;
the install lines are checked against the repository instead. The check jobs compile for
the backend the file names (no credentials needed); the training jobs run on the local
backend, through the CLOUDAUTO_BACKEND variable the files already use.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT

EXAMPLES = ROOT / "examples" / "ci"
BIN = str(Path(sys.executable).parent)
SECRETS = {
    "AWS_CI_ROLE_ARN": "arn:aws:iam::123456789012:role/PlantedCiRole",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/PlantedTrainingRole",
}
# what aws-actions/configure-aws-credentials (or GitLab's masked variables) put in the environment
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAPLANTED0123456789",
    "AWS_SECRET_ACCESS_KEY": "PLANTEDsecret/0123456789+abcdefghijklmno",
    "AWS_SESSION_TOKEN": "PLANTEDsession0123456789abcdef",
    "SAGEMAKER_ROLE": SECRETS["SAGEMAKER_ROLE_ARN"],
}
PLANTED = [*SECRETS.values(), *CREDENTIALS.values()]
FAST_IRIS = "job_specs/iris_ci.yaml"  # the workflow's SPEC variable, pointed at a one-trial iris sweep


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A repository like the user's (the example specs, committed on main) and a fresh clone of it on a feature branch."""
    origin = tmp_path / "origin"
    shutil.copytree(ROOT / "job_specs", origin / "job_specs", ignore=shutil.ignore_patterns("data", "__pycache__"))
    shutil.copy(ROOT / "constraints.txt", origin)
    git("init", "-q", "-b", "main", cwd=origin)
    git("add", ".", cwd=origin)
    git("commit", "-qm", "specs", cwd=origin)
    work = tmp_path / "work"
    git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    git("checkout", "-q", "-b", "feature", cwd=work)
    return work


def check_install(line: str) -> None:
    """An install line names files and folders the repository has (it is not run: this venv holds them)."""
    words = shlex.split(line)
    assert words[:2] == ["pip", "install"], line
    for flag, value in zip(words, words[1:], strict=False):
        if flag in ("-c", "-e"):
            assert (ROOT / value).exists(), f"{line}: no {value} in the repository"


class Runner:
    """Runs steps as the CI would, and keeps everything they printed."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd, self.env, self.printed = cwd, env, []

    def __call__(self, script: str, env: dict[str, str], *, expect: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.printed += [done.stdout, done.stderr]
        assert done.returncode == expect, f"{script}\n-> exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_", "CLOUDAUTO_BACKEND"))}
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["CLOUDAUTO_HOME"] = str(tmp_path / "home")
    return env


def fast_iris(clone: Path) -> None:
    text = (clone / "job_specs" / "iris.yaml").read_text()
    fast = text.replace("[GBM, XT, RF, CAT]", "[GBM]").replace("time_limit: 30", "time_limit: 10")
    fast = fast.replace("max_trials: 4", "max_trials: 1").replace("max_concurrent_trials: 2", "max_concurrent_trials: 1")
    (clone / FAST_IRIS).write_text(fast)


def assert_nothing_leaked(texts: list[str], files: list[Path]) -> None:
    everything = texts + [p.read_text(errors="replace") for p in files if p.is_file()]
    for text in everything:
        for secret in PLANTED:
            assert secret not in text


# ---- GitHub Actions ----------------------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def fill(text: str, values: dict[str, str]) -> str:
    """GitHub's ${{ }} expressions as the runner fills them; one this test does not know fails it."""

    def value(match: re.Match) -> str:
        assert match.group(1) in values, f"the test does not know the expression {match.group(0)}"
        return values[match.group(1)]

    return EXPRESSION.sub(value, text)


def test_the_github_workflow_validates_compiles_submits_waits_and_reports(clone, tmp_path):
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"} and triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert workflow["env"]["CLOUDAUTO_BACKEND"] in ("sagemaker", "azureml")
    run = Runner(clone, base_env(tmp_path))
    values = {
        "github.base_ref": "main",
        "vars.SAGEMAKER_BUCKET": "example-bucket",
        **{f"secrets.{k}": v for k, v in SECRETS.items()},
    }

    def steps(job: str, overrides: dict[str, str]) -> dict[str, Path]:
        outputs: dict[str, Path] = {}
        summary = tmp_path / f"{job}-step-summary.md"
        ran = 0
        for number, step in enumerate(jobs[job]["steps"]):
            if "uses" in step:
                continue
            script = step["run"]
            if script.startswith("pip install"):
                check_install(script)
                continue
            output = outputs.setdefault(step.get("id", str(number)), tmp_path / f"{job}-{number}.out")
            env = {**workflow["env"], **jobs[job].get("env", {}), **step.get("env", {}), **overrides}
            env = {k: fill(str(v), values) for k, v in env.items()}
            env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output), **CREDENTIALS)
            run(fill(script, values), env)
            ran += 1
            for line in output.read_text().splitlines() if output.exists() else []:
                key, value = line.split("=", 1)
                values[f"steps.{step.get('id', number)}.outputs.{key}"] = value
        assert ran >= 2
        return {"summary": summary}

    # a pull request that changes one spec: only that one is validated and compiled, for the workflow's backend
    iris = clone / "job_specs" / "iris.yaml"
    iris.write_text(iris.read_text().replace("description: ", "description: (tuned) "))
    git("commit", "-qam", "tune iris", cwd=clone)
    steps("check", {})
    assert run.printed[0] == "" and run.printed[1] == ""  # the github format prints annotations only, and there are none
    (request,) = (clone / "compiled").iterdir()  # the SageMaker tuning request of the one changed spec
    assert request.name.startswith("iris-classification-") and request.name.endswith(".tuning-job.json")
    assert json.loads(request.read_text())["HyperParameterTuningJobConfig"]["Strategy"] == "Grid"
    # a pull request that breaks a spec: an annotation at its line, and the step fails
    iris.write_text(iris.read_text().replace("metric: accuracy", "metric: acuracy"))
    git("commit", "-qam", "break iris", cwd=clone)
    run.printed.clear()
    with pytest.raises(AssertionError, match="exit 1"):
        steps("check", {})
    assert "::error file=job_specs/iris.yaml,line=11,col=9,title=cloudauto%3A metric::unknown metric 'acuracy'" in run.printed[0]

    # main: submit, wait, result, summary, then deploy from the step's output
    git("checkout", "-q", "main", cwd=clone)
    fast_iris(clone)
    printed_before = len(run.printed)
    files = steps("train", {"CLOUDAUTO_BACKEND": "local", "SPEC": FAST_IRIS})
    try:
        result = json.loads((clone / "result.json").read_text())
        assert (result["job"]["backend"], result["job"]["status"], result["trials"]["completed"]) == ("local", "completed", 1)
        assert result["job"]["id"] == values["steps.train.outputs.job-id"]
        assert result["endpoint"]["name"] == "iris-classification" and result["endpoint"]["url"].startswith("http://127.0.0.1:")
        summary = files["summary"].read_text()
        assert summary.startswith("## cloudauto: iris-classification completed")
        assert "| 1 | 0 | completed |" in summary and "`models=GBM`" in summary
        assert (clone / "sweep.png").stat().st_size > 10_000
        assert len(run.printed) > printed_before
        assert_nothing_leaked(run.printed, [clone / "result.json", files["summary"], *(clone / "compiled").rglob("*")])
    finally:
        subprocess.run([f"{BIN}/cloudauto", "delete-endpoint", "iris-classification"], env=run.env, capture_output=True)


# ---- GitLab CI ---------------------------------------------------------------------------------------------


def test_the_gitlab_pipeline_runs_its_cloudauto_lines(clone, tmp_path):
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    installs = [line for line in pipeline["default"]["before_script"] if line.startswith("pip install")]
    assert installs
    for line in installs:
        check_install(line)
    variables = {**pipeline["variables"], **CREDENTIALS, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    run = Runner(clone, base_env(tmp_path))
    iris = clone / "job_specs" / "iris.yaml"
    iris.write_text(iris.read_text().replace("description: ", "description: (tuned) "))
    git("commit", "-qam", "tune iris", cwd=clone)
    for line in pipeline["check-specs"]["script"]:
        run(line, variables)
    report = json.loads((clone / "compile-report.json").read_text())
    assert [(r["file"], r["backend"], r["ok"]) for r in report] == [
        ("job_specs/iris.yaml", pipeline["variables"]["CLOUDAUTO_BACKEND"], True)
    ]

    git("checkout", "-q", "main", cwd=clone)
    fast_iris(clone)
    train = {**variables, "CLOUDAUTO_BACKEND": "local", "SPEC": FAST_IRIS, "SAGEMAKER_BUCKET": "example-bucket"}
    for line in pipeline["train"]["script"] + pipeline["train"]["after_script"]:
        run(line, train)
    result = json.loads((clone / "result.json").read_text())
    assert result["job"]["status"] == "completed"
    assert (clone / "cloudauto.env").read_text() == f"CLOUDAUTO_JOB_ID={result['job']['id']}\n"
    assert "## cloudauto: iris-classification completed" in (clone / "summary.md").read_text()
    assert all(Path(clone / p).exists() for p in pipeline["train"]["artifacts"]["paths"])
    assert_nothing_leaked(run.printed, [clone / "result.json", clone / "summary.md", clone / "compile-report.json"])
