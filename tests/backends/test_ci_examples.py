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
            env={**self.env, **{k: str(v) for k, v in env.items()}},
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


# ---- what a file reads, and its header ------------------------------------------------------------------------

SHELL_VARIABLE = re.compile(r"\$(?:\{(?!\{))?([A-Za-z_][A-Za-z0-9_]*)")  # $X and ${X...}, not GitHub's ${{ }}
CONTEXT = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
THIS_TEST = str(Path(__file__).resolve().relative_to(ROOT))


def header(text: str) -> str:
    """The comment block a file starts with: what a user reads before copying it."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def listed(text: str, pattern: str) -> dict[str, str]:
    """NAME -> required/optional, from the header's `#   NAME   required|optional ...` lines."""
    return {name: need for name, need in re.findall(rf"^#\s+({pattern})\s+(required|optional)\b", header(text), re.M)}


def strings(node: object) -> list[str]:
    """Every string of a parsed YAML file (keys and values): what the CI reads, comments left out."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def assert_the_header_names_this_test(text: str) -> None:
    named = re.findall(r"tests/[\w/]+\.py", header(text))
    assert named == [THIS_TEST], f"the header names {named}, the test that runs the file is {THIS_TEST}"


# ---- GitHub Actions ----------------------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
CONDITION = re.compile(r"^([\w.-]+) (==|!=) '([^']*)'$")


def lookup(name: str, values: dict[str, str]) -> str:
    if name.startswith("vars."):  # an unset repository variable reads as '' in GitHub
        return values.get(name, "")
    assert name in values, f"the test does not know the expression {name}"
    return values[name]


def fill(text: str, values: dict[str, str]) -> str:
    """GitHub's ${{ }} expressions as the runner fills them; one this test does not know fails it."""
    return EXPRESSION.sub(lambda match: lookup(match.group(1), values), text)


def holds(condition: str | None, values: dict[str, str]) -> bool:
    """A job's or step's `if:` as GitHub reads the forms the workflow uses: terms joined by &&."""
    if condition is None:
        return True
    verdict = True
    for term in condition.split("&&"):
        term = term.strip()
        if term == "always()":
            continue
        match = CONDITION.match(term)
        assert match, f"the test does not know the condition {term!r}"
        name, op, literal = match.groups()
        verdict &= (lookup(name, values) == literal) == (op == "==")
    return verdict


def test_the_github_workflow_lists_every_variable_it_reads_and_keeps_endpoints_short_lived():
    text = (EXAMPLES / "github-actions.yml").read_text()
    workflow = yaml.safe_load(text)
    assert_the_header_names_this_test(text)
    # every secret and repository variable the workflow reads is in its header, and nothing else is
    needs = listed(text, r"(?:secrets|vars)\.\w+")
    read = {f"{kind}.{name}" for value in strings(workflow) for kind, name in CONTEXT.findall(value)}
    assert read == set(needs), f"read but not listed: {read - set(needs)}; listed but not read: {set(needs) - read}"
    assert needs["vars.SAGEMAKER_BUCKET"] == "optional" and needs["secrets.SAGEMAKER_ROLE_ARN"] == "required"
    # every shell variable a step reads is set by the workflow (or is GitHub's own)
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            given = {**workflow["env"], **job.get("env", {}), **step.get("env", {})}
            for variable in SHELL_VARIABLE.findall(step.get("run", "")):
                assert variable in given or variable.startswith(("GITHUB_", "RUNNER_")), f"{name}: ${variable} is set nowhere"
    # an endpoint has an end: deploy gives it a ttl, and a job that also runs on a schedule deletes the expired ones
    deploys = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "cloudauto deploy" in s.get("run", "")]
    assert deploys and all(re.search(r"--ttl \d+[hm]\b", d) for d in deploys)
    triggers = workflow.get("on", workflow.get(True))
    assert "schedule" in triggers
    cleanup = [
        (name, job)
        for name, job in workflow["jobs"].items()
        if any("--expired --delete" in s.get("run", "") for s in job["steps"])
    ]
    assert cleanup and all(holds(job["if"], {"github.event_name": "schedule"}) for _, job in cleanup)
    # the compile of a pull request is not --strict: a comment says what that lets through and how to ask for it
    compile_line = next(s["run"] for s in workflow["jobs"]["check"]["steps"] if "cloudauto compile" in s.get("run", ""))
    assert "--strict" not in compile_line and "Add --strict" in header(text)
    assert "azureml works the same" not in text


def test_the_github_workflow_validates_compiles_submits_waits_deploys_and_cleans_up(clone, tmp_path):
    text = (EXAMPLES / "github-actions.yml").read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push", "schedule"} and triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert workflow["env"]["CLOUDAUTO_BACKEND"] in ("sagemaker", "azureml")
    run = Runner(clone, base_env(tmp_path))
    required = {k: v for k, v in listed(text, r"(?:secrets|vars)\.\w+").items() if v == "required"}
    secrets = {f"secrets.{k}": v for k, v in SECRETS.items()}
    assert set(required) <= set(secrets), "the test plants every required secret"

    def steps(job: str, event: str, settings: dict[str, str], overrides: dict[str, str]) -> dict[str, Path]:
        """The job's steps as the runner takes them: its `if:`, each step's `if:`, the credentials of the AWS action."""
        values = {"github.event_name": event, "github.base_ref": "main", **secrets, **settings}
        outputs: dict[str, Path] = {}
        summary = tmp_path / f"{job}-{event}-step-summary.md"
        ran: list[str] = []
        if not holds(jobs[job].get("if"), values):
            return {"summary": summary, "ran": ran}
        credentials: dict[str, str] = {}
        for number, step in enumerate(jobs[job]["steps"]):
            if not holds(step.get("if"), values):
                continue
            if "uses" in step:
                if step["uses"].startswith("aws-actions/configure-aws-credentials"):
                    assert fill(step["with"]["role-to-assume"], values) == SECRETS["AWS_CI_ROLE_ARN"]
                    region = step["with"]["aws-region"]
                    credentials = {**CREDENTIALS, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
                    credentials.pop("SAGEMAKER_ROLE")  # the action exports the AWS variables only
                continue
            script = step["run"]
            if script.startswith("pip install"):
                check_install(script)
                continue
            output = outputs.setdefault(step.get("id", str(number)), tmp_path / f"{job}-{event}-{number}.out")
            env = {**workflow["env"], **jobs[job].get("env", {}), **step.get("env", {}), **overrides}
            env = {k: fill(str(v), values) for k, v in env.items()}
            env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output), **credentials)
            run(fill(script, values), env)
            ran.append(step.get("name", script))
            for line in output.read_text().splitlines() if output.exists() else []:
                key, value = line.split("=", 1)
                values[f"steps.{step.get('id', number)}.outputs.{key}"] = value
                settings[f"steps.{step.get('id', number)}.outputs.{key}"] = value
        return {"summary": summary, "ran": ran}

    # a pull request that changes one spec: only that one is validated and compiled, for the workflow's backend
    iris = clone / "job_specs" / "iris.yaml"
    iris.write_text(iris.read_text().replace("description: ", "description: (tuned) "))
    git("commit", "-qam", "tune iris", cwd=clone)
    for job in ("train", "cleanup"):
        assert steps(job, "pull_request", {}, {})["ran"] == []
    assert len(steps("check", "pull_request", {}, {})["ran"]) == 2
    assert run.printed[0] == "" and run.printed[1] == ""  # the github format prints annotations only, and there are none
    # the SageMaker tuning request of the one changed spec (beside compile's .cloudauto-compiled, naming it)
    (request,) = [p for p in (clone / "compiled").iterdir() if p.name != ".cloudauto-compiled"]
    assert request.name.startswith("iris-classification-") and request.name.endswith(".tuning-job.json")
    assert json.loads(request.read_text())["HyperParameterTuningJobConfig"]["Strategy"] == "Grid"
    shutil.rmtree(clone / "compiled")
    steps("check", "pull_request", {}, {"CLOUDAUTO_BACKEND": "azureml"})  # the header says the check job works as it is
    assert [p.name for p in (clone / "compiled").iterdir()]

    # a shipped spec whose median-stopping policy SageMaker only approximates: a warning on the diff, the check passes
    torch = clone / "job_specs" / "torch_digits" / "spec.yaml"
    torch.write_text(torch.read_text().replace("name: ", "# tuned\nname: ", 1))
    git("commit", "-qam", "tune torch_digits", cwd=clone)
    run.printed.clear()
    steps("check", "pull_request", {}, {})
    assert (
        "::warning file=job_specs/torch_digits/spec.yaml" in run.printed[2]
        and "title=cloudauto%3A sweep.early_termination" in run.printed[2]
    )
    assert "::error" not in run.printed[2]
    # with --strict, as the header says, that approximation fails the check
    strict = next(s["run"] for s in jobs["check"]["steps"] if "cloudauto compile" in s.get("run", "")) + " --strict"
    failed = run(fill(strict, {"github.base_ref": "main"}), {**workflow["env"]}, expect=2)
    assert "::error file=job_specs/torch_digits/spec.yaml" in failed.stdout and "sweep.early_termination" in failed.stdout

    # a pull request that breaks a spec: an annotation at its line, and the step fails
    iris.write_text(iris.read_text().replace("metric: accuracy", "metric: acuracy"))
    git("commit", "-qam", "break iris", cwd=clone)
    run.printed.clear()
    with pytest.raises(AssertionError, match="exit 1"):
        steps("check", "pull_request", {}, {})
    assert "::error file=job_specs/iris.yaml,line=11,col=9,title=cloudauto%3A metric::unknown metric 'acuracy'" in run.printed[0]

    # main with every optional variable unset (a copy as it is): submit, wait, result, summary; no deploy
    git("checkout", "-q", "main", cwd=clone)
    fast_iris(clone)
    local = {"CLOUDAUTO_BACKEND": "local", "SPEC": FAST_IRIS}
    unset: dict[str, str] = {}
    printed_before = len(run.printed)
    assert steps("check", "push", unset, local)["ran"] == []
    files = steps("train", "push", unset, local)
    assert not any("Deploy" in name for name in files["ran"])
    result = json.loads((clone / "result.json").read_text())
    assert (result["job"]["backend"], result["job"]["status"], result["trials"]["completed"]) == ("local", "completed", 1)
    assert result["job"]["id"] == unset["steps.train.outputs.job-id"] and result.get("endpoint") is None
    summary = files["summary"].read_text()
    assert summary.startswith("## cloudauto: iris-classification completed")
    assert "| 1 | 0 | completed |" in summary and "`models=GBM`" in summary
    assert (clone / "sweep.png").stat().st_size > 10_000
    assert steps("cleanup", "push", unset, local)["ran"] == ["Delete the endpoints whose --ttl has passed"]
    assert "no expired endpoints" in run.printed[-2] + run.printed[-1]

    # main with them set: the bucket is passed on, the best model deployed for 8 hours; the cleanup leaves it
    given = {"vars.SAGEMAKER_BUCKET": "example-bucket", "vars.CLOUDAUTO_DEPLOY": "true"}
    files = steps("train", "push", given, local)
    try:
        assert any("Deploy" in name for name in files["ran"])
        result = json.loads((clone / "result.json").read_text())
        assert result["job"]["id"] == given["steps.train.outputs.job-id"] != unset["steps.train.outputs.job-id"]
        assert result["endpoint"]["name"] == "iris-classification" and result["endpoint"]["url"].startswith("http://127.0.0.1:")
        steps("cleanup", "push", given, local)
        listing = run("cloudauto endpoints -b local --format json", {})
        (endpoint,) = [e for e in json.loads(listing.stdout) if e["name"] == "iris-classification"]
        assert endpoint.get("expires"), endpoint  # deployed with its --ttl, not deleted before it
        assert steps("cleanup", "schedule", {}, local)["ran"]  # the hourly run, with no training before it
        assert len(run.printed) > printed_before
        assert_nothing_leaked(run.printed, [clone / "result.json", files["summary"], *(clone / "compiled").rglob("*")])
    finally:
        subprocess.run([f"{BIN}/cloudauto", "delete-endpoint", "iris-classification"], env=run.env, capture_output=True)


# ---- GitLab CI ---------------------------------------------------------------------------------------------

GITLAB_OWN = ("CI_", "GITLAB_")


def test_the_gitlab_pipeline_lists_every_variable_it_reads():
    text = (EXAMPLES / "gitlab-ci.yml").read_text()
    pipeline = yaml.safe_load(text)
    assert_the_header_names_this_test(text)
    needs = listed(text, r"[A-Z][A-Z0-9_]+")
    assert needs.get("SAGEMAKER_BUCKET") == "optional" and needs.get("SAGEMAKER_ROLE") == "required"
    given = set(pipeline["variables"])
    for name, job in pipeline.items():
        if not isinstance(job, dict) or name in ("variables", "default"):
            continue
        own = given | set(job.get("variables", {}))
        for value in strings({k: v for k, v in job.items() if k != "variables"}) + strings(pipeline["default"]):
            for variable in SHELL_VARIABLE.findall(value):
                assert variable in own or variable in needs or variable.startswith(GITLAB_OWN), (
                    f"{name}: ${variable} is listed nowhere"
                )
    assert "AWS_DEFAULT_REGION" in given or "AWS_DEFAULT_REGION" in needs  # boto3 takes the region from it
    assert "azureml works the same" not in text and "--strict" not in str(pipeline)


def test_the_gitlab_pipeline_runs_its_cloudauto_lines(clone, tmp_path):
    text = (EXAMPLES / "gitlab-ci.yml").read_text()
    pipeline = yaml.safe_load(text)
    installs = [line for line in pipeline["default"]["before_script"] if line.startswith("pip install")]
    assert installs
    for line in installs:
        check_install(line)
    required = {k for k, v in listed(text, r"[A-Z][A-Z0-9_]+").items() if v == "required"}
    project = {k: v for k, v in CREDENTIALS.items() if k in required}  # the project's required variables, no optional one
    assert required <= set(project)
    variables = {**pipeline["variables"], "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    run = Runner(clone, base_env(tmp_path))
    iris = clone / "job_specs" / "iris.yaml"
    iris.write_text(iris.read_text().replace("description: ", "description: (tuned) "))
    git("commit", "-qam", "tune iris", cwd=clone)
    for line in pipeline["check-specs"]["script"]:
        run(line, {**variables, **pipeline["check-specs"].get("variables", {})})  # protected variables: none on a branch
    report = json.loads((clone / "compile-report.json").read_text())
    assert [(r["file"], r["backend"], r["ok"]) for r in report] == [
        ("job_specs/iris.yaml", pipeline["variables"]["CLOUDAUTO_BACKEND"], True)
    ]

    git("checkout", "-q", "main", cwd=clone)
    fast_iris(clone)
    train = {**variables, **project, "CLOUDAUTO_BACKEND": "local", "SPEC": FAST_IRIS}  # SAGEMAKER_BUCKET unset
    for line in pipeline["train"]["script"] + pipeline["train"]["after_script"]:
        run(line, train)
    result = json.loads((clone / "result.json").read_text())
    assert result["job"]["status"] == "completed"
    assert (clone / "cloudauto.env").read_text() == f"CLOUDAUTO_JOB_ID={result['job']['id']}\n"
    assert "## cloudauto: iris-classification completed" in (clone / "summary.md").read_text()
    assert all(Path(clone / p).exists() for p in pipeline["train"]["artifacts"]["paths"])
    run(pipeline["train"]["script"][-1], {**train, "SAGEMAKER_BUCKET": "example-bucket"})  # and set: passed on
    assert json.loads((clone / "result.json").read_text())["job"]["id"] != result["job"]["id"]
    assert_nothing_leaked(run.printed, [clone / "result.json", clone / "summary.md", clone / "compile-report.json"])
