"""The `cloudauto` command as a user runs it: a new process, exit codes, output formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BASE, EXAMPLES, ROOT

EXE = Path(sys.executable).with_name("cloudauto")


def run(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, cwd=cwd, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("accuracy", "acuracy"))
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(BASE)
    return path


def test_validate_all_examples(example_images):
    """Every example (its checkpoint and weights folders made, as its header says: validate refuses missing ones)."""
    result = run("validate", *map(str, EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(EXAMPLES)


def test_validate_reports_file_line_field_and_exit_1(good, bad):
    result = run("validate", str(good), str(bad))
    assert result.returncode == 1
    assert f"{bad}:6:9: error: metric: unknown metric 'acuracy'" in result.stderr
    assert "did you mean 'accuracy'" in result.stderr
    assert f"{good}: ok" in result.stdout and f"{bad}: invalid" in result.stdout
    assert "Traceback" not in result.stderr


def test_validate_json_format(good, bad):
    result = run("validate", "--format", "json", str(good), str(bad))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [r["valid"] for r in report] == [True, False]
    (issue,) = report[1]["issues"]
    assert (issue["line"], issue["column"], issue["field"]) == (6, 9, "metric")


def test_validate_github_format(bad):
    result = run("validate", "--format", "github", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith(f"::error file={bad},line=6,col=9,title=cloudauto%3A metric::unknown metric")


def test_validate_set_override(good):
    assert run("validate", str(good), "--set", "limits.max_trials=0").returncode == 1
    assert run("validate", str(good), "--set", "limits.max_trials=3").returncode == 0


def test_validate_strict_turns_warnings_into_failures(tmp_path):
    path = tmp_path / "warn.yaml"
    path.write_text(BASE + "limits:\n  max_trials: 5\n")  # no sweep: only one trial runs
    assert run("validate", str(path)).returncode == 0
    result = run("validate", "--strict", str(path))
    assert result.returncode == 1 and "warning: limits.max_trials" in result.stderr


def test_validate_missing_file_is_exit_1_not_a_traceback(tmp_path):
    result = run("validate", str(tmp_path / "none.yaml"))
    assert result.returncode == 1 and "no such file" in result.stderr and "Traceback" not in result.stderr


def test_validate_a_missing_file_names_its_path_not_the_root_field(tmp_path):
    """`cloudauto validate nosuch.yaml` from the wrong folder said `nosuch.yaml: error: <root>: no such file`."""
    result = run("validate", "nosuch.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "<root>" not in result.stderr, result.stderr
    assert f"nosuch.yaml: error: no such file: {tmp_path / 'nosuch.yaml'}" in result.stderr, result.stderr


def test_usage_errors_exit_64():
    assert run("validate").returncode == 64
    assert run("nonsense").returncode == 64
    assert run("validate", "--format", "xml", "a.yaml").returncode == 64


def test_schema_matches_the_committed_copy():
    result = run("schema")
    assert result.returncode == 0
    committed = (ROOT / "job_specs" / "cloudauto.schema.json").read_text()
    assert json.loads(result.stdout) == json.loads(committed), "run `make schema` and commit the result"


def test_schema_into_a_folder_that_does_not_exist_is_an_error_not_a_bug(tmp_path):
    result = run("schema", "-o", str(tmp_path / "no" / "schema.json"))
    assert result.returncode == 64 and f"there is no folder {tmp_path / 'no'}" in result.stderr
    assert "internal error" not in result.stderr


def test_backends_lists_the_three_plugins():
    result = run("backends", "--format", "json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "azureml": "cloudauto-azureml",
        "local": "cloudauto-local",
        "sagemaker": "cloudauto-sagemaker",
    }


def test_compile_local_prints_the_plan():
    result = run("compile", "job_specs/iris.yaml", "--backend", "local")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["objective"] == {"name": "accuracy", "goal": "maximize", "autogluon_eval_metric": "accuracy"}
    assert plan["max_trials"] == 4 and plan["max_concurrent_trials"] == 2


def test_compile_writes_output_atomically(tmp_path):
    out = tmp_path / "plan.json"
    result = run("compile", "job_specs/iris.yaml", "-o", str(out))
    assert result.returncode == 0 and json.loads(out.read_text())["job"] == "iris-classification"
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(("backend", "name"), [("local", "iris-classification.plan.json"), ("sagemaker", "*.tuning-job.json")])
def test_compile_into_an_existing_folder_whose_name_has_a_dot_writes_inside_it(tmp_path, backend, name):
    """-o names a file or a folder: an existing folder is a folder whatever its name (`out.v2`, `job.json`), as for
    azureml, whose job is a folder of files; nothing half-written beside it."""
    for folder in (tmp_path / "out.v2", tmp_path / "job.json"):
        folder.mkdir()
        result = run("compile", "job_specs/iris.yaml", "--backend", backend, "-o", str(folder))
        assert result.returncode == 0, result.stderr
        (written,) = folder.glob(name)
        assert json.loads(written.read_text())
        assert f"wrote {written}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json", "out.v2"]  # no .tmp beside them


def test_compile_of_a_folder_of_files_into_an_existing_file_is_a_usage_error(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine\n")
    result = run("compile", "job_specs/iris.yaml", "--backend", "azureml", "-o", str(taken))
    assert result.returncode == 64, result.stderr
    assert f"-o {taken}: a file; the azureml job is a folder of" in result.stderr and "name a folder" in result.stderr
    assert taken.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    result = run("compile", "job_specs/iris.yaml", "job_specs/diabetes.yaml", "-o", str(taken))  # a folder per spec
    assert result.returncode == 64 and f"-o {taken}: with 2 specs, -o names a folder" in result.stderr, result.stderr
    # a job of one file writes over an existing file, named with a suffix or not
    result = run("compile", "job_specs/iris.yaml", "-o", str(taken))
    assert result.returncode == 0, result.stderr
    assert json.loads(taken.read_text())["job"] == "iris-classification"


def test_compile_exits_2_when_the_backend_cannot_express_the_spec():
    result = run("compile", "job_specs/iris.yaml", "--backend", "azureml", "--set", "data.train=s3://bucket/train.csv")
    assert result.returncode == 2 and "s3:// data" in result.stderr and "job_specs/iris.yaml" in result.stderr
    # a setting left to its default is a warning at its line, not a refusal
    result = run("compile", "job_specs/iris.yaml", "--backend", "azureml")
    assert result.returncode == 0 and "warning: backends.azureml.environment" in result.stderr
    assert "job_specs/iris.yaml:3:1" in result.stderr


def test_compile_for_sagemaker_writes_the_tuning_job_request(tmp_path):
    result = run("compile", "job_specs/iris.yaml", "--backend", "sagemaker", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (written,) = tmp_path.glob("*.tuning-job.json")
    request = json.loads(written.read_text())
    assert request["HyperParameterTuningJobConfig"]["Strategy"] == "Grid"
    assert "note: training image: 763104351884.dkr.ecr" in result.stderr


def test_compile_names_what_the_backend_cannot_express(tmp_path):
    path = tmp_path / "s3.yaml"
    path.write_text(BASE.replace("./train.csv", "s3://my-bucket/train.csv"))
    result = run("compile", str(path), "--backend", "azureml")
    assert result.returncode == 2
    assert "azureml cannot express s3:// data" in result.stderr


def test_compile_refuses_what_the_backend_cannot_express(tmp_path):
    path = tmp_path / "normal.yaml"
    # (holdout_frac, bounded to (0, 1), refuses a normal in every spec now: GBM's learning rate takes one locally)
    path.write_text(BASE + "sweep:\n  space: {models: GBM, GBM.learning_rate: {normal: [0.1, 0.01]}}\n")
    result = run("compile", str(path), "--backend", "sagemaker")
    assert result.returncode == 2 and "normal" in result.stderr and f"{path}:8:3: error: sweep.space:" in result.stderr


def test_compile_strict_fails_on_approximation(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        BASE + "sweep:\n  space: {holdout_frac: {uniform: [0.1, 0.2]}}\n  early_termination: {policy: median_stopping}\n"
    )
    assert run("compile", str(path), "--backend", "sagemaker").returncode == 0
    result = run("compile", str(path), "--backend", "sagemaker", "--strict")
    assert result.returncode == 2 and "an error under --strict" in result.stderr


def test_compile_invalid_spec_exits_1(bad):
    assert run("compile", str(bad)).returncode == 1


def test_compile_unknown_backend_exits_3_with_suggestion():
    result = run("compile", "job_specs/iris.yaml", "--backend", "sagemkr")
    assert result.returncode == 3
    assert "'sagemkr' is not a valid backend among [azureml, local, sagemaker]" in result.stderr
    assert "did you mean 'sagemaker'" in result.stderr


def test_validate_and_compile_refuse_parameters_autogluon_cannot_take(tmp_path):
    """What every backend's compile refuses for engine: autogluon is an invalid spec: validate says so (exit 1)."""
    path = tmp_path / "p.yaml"
    path.write_text(BASE + "sweep:\n  space:\n    learning_rte: {uniform: [0.1, 0.2]}\n    GBM.num_leaves: 31\n")
    for command in ("validate", "compile"):
        result = run(command, str(path), *(["--backend", "local"] if command == "compile" else []))
        assert result.returncode == 1, result.stderr
        assert f"{path}:9:5: error: sweep.space.learning_rte: 'learning_rte' does not map onto an AutoGluon" in result.stderr
    rf = tmp_path / "rf.yaml"
    rf.write_text((ROOT / "job_specs" / "iris.yaml").read_text().replace("CAT]", "RandomForest]"))
    result = run("validate", str(rf))
    assert result.returncode == 1 and "'RandomForest' is not an AutoGluon model family" in result.stderr


def test_validate_warnings_keep_their_line_in_every_format(tmp_path):
    path = tmp_path / "warn.yaml"
    path.write_text(BASE + "limits:\n  max_trials: 5\n")
    line = BASE.count("\n") + 2
    text = run("validate", str(path))
    assert f"{path}:{line}:15: warning: limits.max_trials" in text.stderr, text.stderr
    github = run("validate", "--format", "github", str(path))
    assert f"::warning file={path},line={line}," in github.stdout, github.stdout


def test_set_takes_names_with_dots_quoted_or_as_the_spec_spells_them():
    from cloudauto.spec.loader import load_spec

    diabetes = ROOT / "job_specs" / "diabetes.yaml"
    quoted = load_spec(diabetes, overrides=['sweep.space."GBM.num_leaves"=31'])
    assert quoted.space.subspaces[0]["GBM.num_leaves"].value == 31
    plain = load_spec(diabetes, overrides=["sweep.space.GBM.num_leaves=16"])
    assert plain.space.subspaces[0]["GBM.num_leaves"].value == 16
    added = load_spec(diabetes, overrides=["sweep.space.'XGB.max_depth'=4"])
    assert added.space.subspaces[0]["XGB.max_depth"].value == 4
    bad = run("validate", str(diabetes), "--set", 'sweep.space."GBM.num_leaves=31')
    assert bad.returncode == 1 and 'quote a name that holds dots: sweep.space."GBM.num_leaves"=31' in bad.stderr


def test_a_set_that_makes_a_new_mapping_is_blamed_and_says_how_to_quote(tmp_path):
    spec = tmp_path / "iris.yaml"
    spec.write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    bad = run("validate", str(spec), "--set", "sweep.space.GBM.num_leaves=31")
    assert bad.returncode == 1
    assert "--set sweep.space.GBM.num_leaves=31: error: sweep.space.GBM: unknown distribution 'num_leaves'" in bad.stderr
    assert f"{spec}:" not in bad.stderr, bad.stderr  # the file did not say it
    assert """one parameter name with a dot is quoted: --set 'sweep.space."GBM.num_leaves"=31'""" in bad.stderr
    good = run("validate", str(spec), "--set", 'sweep.space."GBM.num_leaves"=31')
    assert good.returncode == 0, good.stderr


def test_deleting_an_endpoint_a_second_time_says_it_is_deleted_already(tmp_path):
    import time

    folder = tmp_path / "endpoints"
    folder.mkdir()
    (folder / "gone.removed.json").write_text(json.dumps({"at": time.time(), "why": "deleted"}))
    env = {"CLOUDAUTO_HOME": str(tmp_path)}
    again = run("delete-endpoint", "gone", env=env)
    assert again.returncode == 0, again.stderr  # what was asked holds: the endpoint is gone
    assert "endpoint 'gone' was already deleted at " in again.stderr and "(deleted); nothing to do" in again.stderr
    assert "deploy the job again" not in again.stderr
    scored = run("score", "gone", str(ROOT / "job_specs" / "iris.yaml"), env=env)
    assert scored.returncode in (5, 64) and "Traceback" not in scored.stderr


def test_endpoints_without_an_azure_workspace_names_the_environment_not_the_spec(tmp_path):
    pytest.importorskip("cloudauto_azureml")
    env = {k: "" for k in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME")}
    result = run("endpoints", "-b", "azureml", env={**env, "CLOUDAUTO_HOME": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME" in result.stderr
    assert "backends.azureml" not in result.stderr, result.stderr  # the command takes no spec


def test_endpoints_without_b_lists_what_it_can_and_says_once_which_unconfigured_clouds_it_skipped(tmp_path):
    """A local-only user read two "cannot list endpoints" lines (no Azure workspace, no AWS region) before "no endpoints"."""
    pytest.importorskip("cloudauto_azureml")
    pytest.importorskip("cloudauto_sagemaker")
    unset = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME", "AWS_DEFAULT_REGION", "AWS_REGION")
    env = {**{k: "" for k in unset}, "AWS_CONFIG_FILE": str(tmp_path / "none"), "CLOUDAUTO_HOME": str(tmp_path)}
    result = run("endpoints", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cannot list" not in result.stderr, result.stderr
    skipped = [line for line in result.stderr.splitlines() if "not configured" in line]
    assert len(skipped) == 1 and "azureml" in skipped[0] and "sagemaker" in skipped[0], result.stderr
    assert "no endpoints" in result.stderr
    json_run = run("endpoints", "--format", "json", env=env, cwd=tmp_path)
    assert json.loads(json_run.stdout) == []


# ---- one exit-code table (cloudauto/cli/exit_codes.py, in the CLI reference), command by command, for each class of failure ----------------------------------

FAILED_JOB_SPEC = """\
name: no-model
task: custom
engine: command
metric: {name: score, goal: maximize}
command:
  run: python -c "import sys; sys.exit(3)"
"""


@pytest.fixture(scope="module")
def exit_home(tmp_path_factory) -> dict:
    """A home with one job that ended without a model (its only trial exits 1), and the files the cases name."""
    root = tmp_path_factory.mktemp("exits")
    home = root / "home"
    spec = root / "no-model.yaml"
    spec.write_text(FAILED_JOB_SPEC)
    (root / "bad.yaml").write_text(BASE.replace("accuracy", "acuracy"))
    (root / "rows.csv").write_text("a,b\n1,2\n")
    (root / "rows.json").write_text('[{"a": 1, "b": 2}]')
    os.mkfifo(root / "fifo.yaml")
    env = {"CLOUDAUTO_HOME": str(home)}
    submitted = run("submit", str(spec), "--wait", env=env, cwd=root)
    assert submitted.returncode == 4, submitted.stderr
    job = submitted.stderr.split("job ", 1)[1].split()[0]
    return {"root": root, "env": env, "job": job}


LONG = "a" * 5000
# (command line with {job} {root}, expected code): every class the exit-code table names, for each command it applies to
EXIT_CASES = {
    "validate-invalid": (["validate", "{root}/bad.yaml"], 1),
    "validate-fifo": (["validate", "{root}/fifo.yaml"], 1),
    "validate-set-not-utf8": (["validate", "{root}/no-model.yaml", "--set", "name=\udcff"], 1),
    "compile-invalid": (["compile", "{root}/bad.yaml"], 1),
    "compile-unknown-backend": (["compile", "{root}/no-model.yaml", "-b", "nope"], 3),
    "submit-invalid": (["submit", "{root}/bad.yaml"], 1),
    "submit-fifo": (["submit", "{root}/fifo.yaml"], 1),
    "submit-missing": (["submit", "{root}/missing.yaml"], 1),
    "run-invalid": (["run", "{root}/bad.yaml"], 1),
    "submit-sagemaker-no-role": (["submit", "{root}/no-model.yaml", "-b", "sagemaker"], 3),
    "doctor-sagemaker-not-set-up": (["doctor", "{root}/no-model.yaml", "-b", "sagemaker"], 3),
    "doctor-invalid": (["doctor", "{root}/bad.yaml", "-b", "sagemaker"], 1),
    "run-sagemaker-no-role-no-preflight": (["run", "{root}/no-model.yaml", "-b", "sagemaker", "--no-preflight"], 3),
    "status-no-job": (["status", "nope"], 3),
    "status-long-id": (["status", LONG], 3),
    "status-failed": (["status", "{job}"], 4),
    "trials-no-job": (["trials", LONG], 3),
    "leaderboard-no-job": (["leaderboard", "nope"], 3),
    "best-no-job": (["best", "nope"], 3),
    "best-no-model": (["best", "{job}"], 4),
    "logs-no-job": (["logs", LONG], 3),
    "logs-no-trial": (["logs", "{job}", "--trial", "9"], 3),
    "trials-no-trial": (["trials", "{job}", "--trial", "9"], 3),
    "trials-no-importance": (["trials", "{job}", "--trial", "0", "--importance"], 4),
    "trials-no-models": (["trials", "{job}", "--trial", "0", "--models"], 4),
    "cancel-no-job": (["cancel", "nope"], 3),
    "resume-no-job": (["resume", "nope"], 3),
    "report-no-job": (["report", "nope"], 3),
    "report-not-png": (["report", "{job}", "-o", "{root}/x.csv"], 64),
    "report-no-folder": (["report", "{job}", "-o", "{root}/no/x.png"], 64),
    "deploy-no-job": (["deploy", LONG], 3),
    "deploy-no-model": (["deploy", "{job}"], 4),
    "deploy-no-trial": (["deploy", "{job}", "--trial", "9", "--name", "z"], 3),
    "deploy-bad-name": (["deploy", "{job}", "--name", "bad name"], 64),
    "predict-no-job": (["predict", "nope", "{root}/rows.csv", "-o", "{root}/out.csv"], 3),
    "predict-no-model": (["predict", "{job}", "{root}/rows.csv", "-o", "{root}/out.csv"], 4),
    "predict-no-folder": (["predict", "{job}", "{root}/rows.csv", "-o", "{root}/no/out.csv"], 64),
    "predict-output-is-a-folder": (["predict", "{job}", "{root}/rows.csv", "-o", "{root}"], 64),
    "predict-json-input": (["predict", "{job}", "{root}/rows.json", "-o", "{root}/j.csv"], 64),
    "predict-output-is-the-input": (["predict", "{job}", "{root}/rows.csv", "-o", "{root}/rows.csv"], 64),
    "predict-no-input": (["predict", "{job}", "{root}/missing.csv", "-o", "{root}/out.csv"], 64),
    "score-no-endpoint": (["score", "nope", "{root}/rows.csv"], 5),
    "score-no-file": (["score", "nope", "{root}/missing.csv"], 64),
    "delete-endpoint-none": (["delete-endpoint", "nope"], 5),
    "mlflow-no-job": (["mlflow", LONG, "--tracking-uri", "{root}/mlruns"], 3),
    "mlflow-store-refused": (["mlflow", "{job}", "--tracking-uri", "{root}/mlruns"], 3),
    "schema-no-folder": (["schema", "-o", "{root}/no/schema.json"], 64),
    "status-latest-of-no-spec": (["status", "nobody@latest"], 3),
    "delete-no-job": (["delete", "nope"], 3),
    "delete-long-id": (["delete", LONG], 3),
    "prune-bad-age": (["prune", "--older-than", "soon"], 64),
    "init-no-table": (["init", "{root}/missing.csv", "--label", "a"], 64),
    "init-no-such-label": (["init", "{root}/rows.csv", "--label", "c"], 64),
    "usage": (["status"], 64),
    "unknown-option": (["validate", "--nope", "x"], 64),
}


@pytest.mark.parametrize("case", list(EXIT_CASES))
def test_every_command_exits_as_the_readme_table_says(exit_home, case):
    args, code = EXIT_CASES[case]
    argv = [a.format(job=exit_home["job"], root=exit_home["root"]) for a in args]
    env = {**exit_home["env"], "SAGEMAKER_ROLE": "", "AWS_DEFAULT_REGION": "us-east-1"}  # the backend not set up
    result = run(*argv, env=env, cwd=exit_home["root"])
    assert result.returncode == code, (result.returncode, result.stderr[-1500:])
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip(), "a failure says why"
    assert not (exit_home["root"] / "out.csv").exists()  # nothing half-written


def test_report_into_a_folder_that_is_not_there_says_so(exit_home):
    result = run("report", exit_home["job"], "-o", f"{exit_home['root']}/rep/", env=exit_home["env"], cwd=exit_home["root"])
    assert result.returncode == 64
    assert f"-o {exit_home['root']}/rep: there is no folder {exit_home['root']}/rep" in result.stderr, result.stderr
    assert not (exit_home["root"] / "rep").exists()


def test_report_into_a_folder_writes_there(exit_home, tmp_path):
    result = run("report", exit_home["job"], "-o", str(tmp_path), env=exit_home["env"], cwd=exit_home["root"])
    assert result.returncode == 0, result.stderr
    written = tmp_path / f"{exit_home['job']}.png"
    assert f"wrote {written}" in result.stderr and written.read_bytes().startswith(b"\x89PNG")


def test_doctor_given_a_backend_name_as_its_spec_says_did_you_mean(tmp_path: Path):
    result = run("doctor", "sagemaker", cwd=tmp_path)
    assert result.returncode == 64, result.stderr
    assert "did you mean `cloudauto doctor -b sagemaker`?" in result.stderr and "Traceback" not in result.stderr


def test_trials_of_a_trial_that_is_not_there_lists_them_and_a_file_it_did_not_save_says_why(exit_home):
    missing = run("trials", exit_home["job"], "--trial", "9", env=exit_home["env"], cwd=exit_home["root"])
    assert missing.returncode == 3 and "has no trial 9: its trials are 0 to 0" in missing.stderr, missing.stderr
    importance = run("trials", exit_home["job"], "--trial", "0", "--importance", env=exit_home["env"], cwd=exit_home["root"])
    assert importance.returncode == 4, importance.stderr
    assert "feature importance is for tabular tasks; a custom trial has none" in importance.stderr
    assert "set autogluon.feature_importance" not in importance.stderr  # validate refuses that for this task


def test_the_cli_reference_names_every_command():
    """The command-line reference (generated from the click group by docs/gen_reference.py, once the README's table)
    has a section for every command and every subcommand of a group: `teardown azureml` was once missing."""
    import importlib.util

    import click

    from cloudauto.cli import main as cli

    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    gen_reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_reference)
    page = gen_reference.cli()
    names = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            names += [f"{name} {sub}" for sub in command.commands]
        else:
            names.append(name)
    missing = [n for n in names if f"# `cloudauto {n}`" not in page]
    assert "teardown azureml" in names and missing == []


def test_the_lazy_command_table_names_every_command_of_every_module():
    """app.COMMANDS says which module defines each command (issue 29: a command's module is imported when it runs);
    a command missing from it could never be run, so the table is checked against the modules themselves."""
    import importlib
    import pkgutil

    import click

    import cloudauto.cli
    from cloudauto.cli.app import COMMANDS, main

    for info in pkgutil.iter_modules(cloudauto.cli.__path__):
        importlib.import_module(f"cloudauto.cli.{info.name}")
    defined = {name: command.callback.__module__ if command.callback else None for name, command in dict.items(main.commands)}
    for name, command in dict.items(main.commands):
        if isinstance(command, click.Group):  # a group's own callback may be shared: its module is where it is defined
            defined[name] = next(iter(command.commands.values())).callback.__module__
    assert defined == {name: f"cloudauto.cli.{module}" for name, module in COMMANDS.items()}


FORECAST = """\
name: fm
task: time_series_forecasting
data: {train: ./bike.csv, label: count, timestamp: timestamp, item_id: station, prediction_length: 4}
metric: MASE
"""


@pytest.mark.parametrize(
    "text, field",
    [
        (FORECAST + "sweep:\n  space:\n    models: {choice: [Chronos2, ETS]}\n    Chronos2.model_path: ./nope\n", "sweep.space.Chronos2.model_path"),
        (BASE + "sweep:\n  space:\n    models: {choice: [MITRA, GBM]}\n    MITRA.hf_model: ./nope\n", "sweep.space.MITRA.hf_model"),
        (BASE + "autogluon:\n  hyperparameters:\n    MITRA: {hf_model: ./nope}\n", "autogluon.hyperparameters.MITRA.hf_model"),
        (FORECAST + "autogluon:\n  hyperparameters:\n    Chronos2: {model_path: ./nope}\n", "autogluon.hyperparameters.Chronos2.model_path"),
    ],
)
def test_validate_refuses_a_missing_weights_folder_at_the_line_compile_names(tmp_path, text, field):
    """A local weights folder that is not there is no backend question: validate refuses it (exit 1), with compile's
    message at compile's line; an existing folder and a hub name pass."""
    path = tmp_path / "fm.yaml"
    path.write_text(text)
    checked = run("validate", str(path), cwd=tmp_path.parent)  # from another folder: the path is the spec's
    compiled = run("compile", str(path), "--backend", "sagemaker", cwd=tmp_path.parent)
    where = next(line.split(" error: ")[0] for line in compiled.stderr.splitlines() if "./nope" in line)
    assert checked.returncode == 1, checked.stderr
    said = f"{where} error: {field}: checkpoint ./nope: no such folder ({tmp_path / 'nope'})"
    assert said in checked.stderr and f"{path}: invalid" in checked.stdout
    assert said.replace(f"error: {field}: ", f"error: {field}: sagemaker: ") in compiled.stderr
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text("{}")
    path.write_text(text.replace("./nope", "./weights"))
    assert run("validate", str(path)).returncode == 0
    path.write_text(text.replace("./nope", "org/model"))  # a hub name: whether it is reached is the backend's question
    assert run("validate", str(path)).returncode == 0


@pytest.fixture
def own_spec(tmp_path: Path) -> Path:
    """iris.yaml copied into tmp_path (its data named absolutely), as a user's spec in their own folder."""
    text = (ROOT / "job_specs/iris.yaml").read_text().replace("./data/", f"{ROOT}/job_specs/data/")
    path = tmp_path / "self.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("how", ["same", "absolute", "dotted", "link"])
def test_compile_refuses_to_write_the_plan_over_its_own_spec(own_spec, how):
    """`compile -o self.yaml self.yaml` wrote the JSON plan over the spec (exit 0) and marked the spec as an output."""
    folder = own_spec.parent
    target = {"same": "self.yaml", "absolute": str(own_spec), "dotted": "./sub/../self.yaml", "link": "alias.yaml"}[how]
    (folder / "sub").mkdir()
    (folder / "alias.yaml").symlink_to(own_spec)
    before = own_spec.read_text()
    result = run("compile", "-b", "local", "-o", target, "self.yaml", cwd=folder)
    assert result.returncode == 64, result.stderr
    assert f"-o {os.path.normpath(target)}: the spec {own_spec} " in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert own_spec.read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == ["alias.yaml", "self.yaml", "sub"]  # no marker, no .tmp


def test_compile_refuses_a_folder_whose_job_file_would_be_a_spec(own_spec):
    """-o a folder: the job's own file there (<name>.job.yml for azureml, in a folder per spec with many) must not be
    one of the specs compiled; nothing is written for any spec, the marker unchanged."""
    folder = own_spec.parent
    clash = folder / "iris-classification.job.yml"
    clash.write_text(own_spec.read_text())  # a spec named as the Azure ML job file
    (folder / ".cloudauto-compiled").write_text("# written by `cloudauto compile -o`\nold.json\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = run("compile", "-b", "azureml", "-o", ".", "iris-classification.job.yml", cwd=folder)
    assert result.returncode == 64, result.stderr
    assert str(clash) in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # many specs: each gets a folder under -o, named by its file; a spec inside one would be written over
    (folder / "out" / "self").mkdir(parents=True)
    inner = folder / "out" / "self" / "iris-classification.plan.json"
    inner.write_text(own_spec.read_text())
    result = run("compile", "-b", "local", "-o", "out", "self.yaml", "out/self/iris-classification.plan.json", cwd=folder)
    assert result.returncode == 64, result.stderr
    assert str(inner) in result.stderr
    assert inner.read_text() == own_spec.read_text()
    assert sorted(p.name for p in (folder / "out").rglob("*")) == ["iris-classification.plan.json", "self"]
    # a spec inside the job's code folder, which a compile replaces whole
    (folder / "iris-classification.code").mkdir()
    code_spec = folder / "iris-classification.code" / "s.yaml"
    code_spec.write_text(own_spec.read_text())
    result = run("compile", "-b", "azureml", "-o", ".", "iris-classification.code/s.yaml", cwd=folder)
    assert result.returncode == 64 and str(code_spec) in result.stderr, result.stderr
    assert code_spec.read_text() == own_spec.read_text()


COMMAND_SPEC = """\
name: cmdj
task: custom
engine: command
metric: {name: score, goal: maximize}
command:
  code: CODE
  image: python:3.11
  run: python train.py --lr ${{sweep.lr}}
sweep:
  space:
    lr: {choice: [0.1, 0.2]}
limits: {max_trials: 2}
"""


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compile_refuses_to_replace_the_command_code_folder_named_as_its_snapshot(tmp_path):
    """`compile -o .` of a command job whose own code folder is ./cmdj.code (the name compile writes its snapshot to)
    deleted the user's .env, data.bin and .gitignore there, exit 0: a usage error now, nothing written."""
    code = tmp_path / "cmdj.code"
    code.mkdir()
    (code / "train.py").write_text("print(1)\n")
    (code / ".env").write_text("SECRET=1\n")
    (code / "data.bin").write_text("big\n")
    (code / ".gitignore").write_text("data.bin\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./cmdj.code"))
    before = _tree(tmp_path)
    result = run("compile", "-b", "azureml", "-o", ".", "c.yaml", cwd=tmp_path)
    assert result.returncode == 64, result.stdout + result.stderr
    assert f"{code}" in result.stderr and "command.code" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert _tree(tmp_path) == before  # no marker, no job file
    # a marker naming the folder (as the faulty compile left it) does not make the code folder compile's
    (tmp_path / ".cloudauto-compiled").write_text("cmdj.code\ncmdj.job.yml\n")
    result = run("compile", "-b", "azureml", "-o", ".", "c.yaml", cwd=tmp_path)
    assert result.returncode == 64 and "command.code" in result.stderr, result.stderr
    assert _tree(code) == {k.removeprefix("cmdj.code/"): v for k, v in before.items() if k.startswith("cmdj.code/")}


@pytest.mark.parametrize("target", ["train.py", "lib/util.py"])
def test_compile_refuses_to_write_over_a_file_of_the_command_code_folder(tmp_path, target):
    """`compile -b sagemaker c.yaml -o train.py` (the script command.run executes) wrote the tuning job's JSON over
    it, exit 0: a file of the code folder is the user's unless the folder's marker names it as compile's."""
    code = tmp_path / "src"
    (code / "lib").mkdir(parents=True)
    (code / "train.py").write_text("print(1)\n")
    (code / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src").replace("  image: python:3.11\n", ""))
    before = _tree(tmp_path)
    for backend in ("sagemaker", "local"):
        result = run("compile", "-b", backend, "-o", f"src/{target}", "c.yaml", cwd=tmp_path)
        assert result.returncode == 64, result.stdout + result.stderr
        assert str(code / target) in result.stderr and "command.code" in result.stderr, result.stderr
        assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
        assert _tree(tmp_path) == before
    # a job file compile wrote there before (its marker names it) is replaced, as everywhere else
    done = run("compile", "-b", "sagemaker", "-o", "src/job.json", "c.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = run("compile", "-b", "sagemaker", "-o", "src/job.json", "c.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_a_compile_cut_short_leaves_the_old_job_folder_whole_and_the_next_one_cleans_up(tmp_path, monkeypatch):
    """Ctrl-C (or kill -9) during `compile -o` left <name>.code/ with 27 of its 82 files beside the old job.yml,
    which `az ml job create` would upload: the old folder stays whole until the new one is complete."""
    import cloudauto
    from cloudauto.runtime import bundle

    code = tmp_path / "src"
    code.mkdir()
    for i in range(6):
        (code / f"m{i}.py").write_text(f"V = {i}\n")
    (code / "train.py").write_text("print(1)\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src"))
    out = tmp_path / "out"
    cloudauto.compile(str(tmp_path / "c.yaml"), "azureml").write(out)
    before = _tree(out)
    (code / "m5.py").write_text("V = 'new'\n")
    (code / "new.py").write_text("N = 1\n")
    job = cloudauto.compile(str(tmp_path / "c.yaml"), "azureml")
    real, calls = bundle.write_file, []

    def cut_short(target, data):
        calls.append(target)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(target, data)

    monkeypatch.setattr(bundle, "write_file", cut_short)
    with pytest.raises(KeyboardInterrupt):
        job.write(out)
    monkeypatch.setattr(bundle, "write_file", real)
    assert {k: v for k, v in _tree(out).items() if not k.startswith(".cmdj.code.")} == before
    # a snapshot of the folder holding the leftover never ships it
    assert not any(".cloudauto-" in name for name in bundle.code_files(out))
    mine = out / ".backup.2024.cloudauto-old"  # named like a staging copy, but of nothing compile wrote: the user's
    mine.mkdir()
    (mine / "keep.txt").write_text("mine\n")
    (out / ".cloudauto-compiled.mine.tmp").write_text("mine\n")
    job.write(out)
    assert (mine / "keep.txt").is_file() and (out / ".cloudauto-compiled.mine.tmp").is_file()
    assert "code/.backup.2024.cloudauto-old/keep.txt" in bundle.code_files(out)
    after = _tree(out)
    assert after["cmdj.code/m5.py"] == b"V = 'new'\n" and "cmdj.code/new.py" in after
    assert not [p.name for p in out.iterdir() if p.name.startswith(".cmdj.")]


@pytest.mark.parametrize("through", ["nothere/..", "sub/../nothere/.."])
def test_an_output_path_through_a_folder_not_yet_there_gets_the_same_checks(tmp_path, through):
    """`-o OTHER/nothere/..` wrote (and swapped out, then deleted) the user's own OTHER/snap.code/, and
    `-o ./sub/../train.py` wrote over the script the trials run, exit 0: the checks looked at a path whose folder was
    not there yet, which stat cannot follow, and saw nothing."""
    code = tmp_path / "src"
    (code / "sub").mkdir(parents=True)
    (code / "train.py").write_text("print(1)\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src"))
    other = tmp_path / "OTHER" / "cmdj.code"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine\n")
    before = _tree(tmp_path)
    refused = run("compile", "-b", "azureml", "-o", f"OTHER/{through}", "c.yaml", cwd=tmp_path)
    assert refused.returncode == 64 and "compile did not write it" in refused.stderr, refused.stdout + refused.stderr
    target = "src/" + through.replace("nothere/..", "") + "train.py"
    plain = COMMAND_SPEC.replace("CODE", "./src").replace("  image: python:3.11\n", "")
    (tmp_path / "c.yaml").write_text(plain)
    over = run("compile", "-b", "sagemaker", "-o", target, "c.yaml", cwd=tmp_path)
    assert over.returncode == 64 and "is a file of command.code" in over.stderr, over.stdout + over.stderr
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src"))
    assert {k: v for k, v in _tree(tmp_path).items()} == before


def test_an_output_name_with_a_newline_is_refused(tmp_path):
    """`-o "out/snap.code<NL>x.json"` wrote a marker line `snap.code`, and the next compile replaced the user's own
    snap.code/ as compile's: a name with a control character is refused, nothing written."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print(1)\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src").replace("  image: python:3.11\n", ""))
    (tmp_path / "out" / "cmdj.code").mkdir(parents=True)
    before = _tree(tmp_path)
    result = run("compile", "-b", "sagemaker", "-o", "out/cmdj.code\nx.json", "c.yaml", cwd=tmp_path)
    assert result.returncode == 64 and "control character" in result.stderr, result.stderr
    assert _tree(tmp_path) == before and not (tmp_path / "out" / ".cloudauto-compiled").exists()
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src"))  # a folder job: -o is its folder
    result = run("compile", "-b", "azureml", "-o", "gone", "c.yaml", cwd=tmp_path)
    assert result.returncode == 64 and "is there and is not a folder" in result.stderr, result.stderr


def test_a_marker_line_naming_a_path_is_no_output_of_compile(tmp_path):
    """A hand-edited (or merged) .cloudauto-compiled listing `/abs/x-<hex>.tuning-job.json` or `../keep/...` made the
    next compile delete those files outside the -o folder as an earlier request of the spec: a line is a bare name."""
    plain = COMMAND_SPEC.replace("CODE", "./src").replace("  image: python:3.11\n", "")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print(1)\n")
    (tmp_path / "c.yaml").write_text(plain)
    out = tmp_path / "out"
    first = run("compile", "-b", "sagemaker", "-o", "out", "c.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (request,) = out.glob("*.tuning-job.json")
    stale = request.name[: -len("0123456789.tuning-job.json")] + "abcdef0123.tuning-job.json"
    for where in (tmp_path / "elsewhere", tmp_path / "keep" / "sub"):
        where.mkdir(parents=True)
        (where / stale).write_text(request.read_text())
    marker = out / ".cloudauto-compiled"
    marker.write_text(marker.read_text() + f"{tmp_path / 'elsewhere' / stale}\n../keep/sub/{stale}\n")
    (tmp_path / "c.yaml").write_text(plain.replace("0.2]", "0.3]"))
    again = run("compile", "-b", "sagemaker", "-o", "out", "c.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "elsewhere" / stale).is_file() and (tmp_path / "keep" / "sub" / stale).is_file()


def test_compile_replaces_only_a_job_folder_it_wrote(tmp_path):
    """A <name>.code/ folder not listed in the output folder's .cloudauto-compiled is the user's: refused, named;
    the one compile wrote (listed) is replaced on the next compile, no stale file left."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print(1)\n")
    (tmp_path / "c.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src"))
    mine = tmp_path / "cmdj.code"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    result = run("compile", "-b", "azureml", "-o", ".", "c.yaml", cwd=tmp_path)
    assert result.returncode == 64, result.stdout + result.stderr
    assert f"{mine}" in result.stderr and ".cloudauto-compiled" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "cmdj.code", "src"]
    assert (mine / "notes.txt").read_text() == "mine\n"
    (mine / "notes.txt").unlink()
    mine.rmdir()
    out = tmp_path / "out"
    for _ in range(2):  # the second compile replaces the folder the first wrote
        result = run("compile", "-b", "azureml", "-o", "out", "c.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        (out / "cmdj.code" / "stale.txt").write_text("old\n")
    assert "cmdj.code" in (out / ".cloudauto-compiled").read_text()
    result = run("compile", "-b", "azureml", "-o", "out", "c.yaml", cwd=tmp_path)
    assert result.returncode == 0 and not (out / "cmdj.code" / "stale.txt").exists(), result.stderr
    # a spec reading data from inside a folder compile wrote (and would replace) is refused too
    (out / "cmdj.code" / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "d.yaml").write_text(COMMAND_SPEC.replace("CODE", "./src") + "data: {train: ./out/cmdj.code/train.csv}\n")
    result = run("compile", "-b", "azureml", "-o", "out", "d.yaml", cwd=tmp_path)
    assert result.returncode == 64 and "data.train" in result.stderr, result.stdout + result.stderr
    assert (out / "cmdj.code" / "train.csv").is_file()


def test_compile_of_two_specs_of_one_name_names_their_folders_cleanly(own_spec):
    """`-o out s1.yaml sub/s1.yaml` wrote out/-s1/ (a spec in the current folder has an empty parent name)."""
    folder = own_spec.parent
    for place in ["sub", "a/sub", "b/sub"]:
        (folder / place).mkdir(parents=True, exist_ok=True)
        (folder / place / "self.yaml").write_text(own_spec.read_text())
    result = run("compile", "-b", "local", "-o", "out", "self.yaml", "sub/self.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (folder / "out").iterdir()) == sorted([f"{folder.name}-self", "sub-self"])
    # two parents of one name too: the folders above them tell them apart
    result = run("compile", "-b", "local", "-o", "out2", "a/sub/self.yaml", "b/sub/self.yaml", "self.yaml", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (folder / "out2").iterdir()) == sorted(["a-sub-self", "b-sub-self", f"{folder.name}-self"])


def test_compile_refuses_to_write_a_job_folder_inside_a_weights_folder(own_spec):
    """-o the spec's weights folder: the job's <name>.code/ would be replaced inside it (the weights changed)."""
    folder = own_spec.parent
    (folder / "w").mkdir()
    (folder / "w" / "config.json").write_text("{}")
    (folder / "w" / "model.safetensors").write_bytes(b"\x02\0\0\0\0\0\0\0{}")  # a safetensors file with no tensors
    text = own_spec.read_text().replace("sampling: grid", "sampling: random")
    own_spec.write_text(text.replace("models: {choice: [GBM, XT, RF, CAT]}", "models: {choice: [MITRA, GBM]}\n    MITRA.hf_model: ./w"))
    result = run("compile", "-b", "azureml", "-o", "w", "self.yaml", cwd=folder)
    assert result.returncode == 64, result.stdout + result.stderr
    assert f"sweep.space.MITRA.hf_model ({folder / 'w'}) holds {folder / 'w' / 'iris-classification.code'}" in result.stderr
    assert sorted(p.name for p in (folder / "w").iterdir()) == ["config.json", "model.safetensors"]


def test_deploy_help_names_the_gpu_default_of_foundation_models():
    """`deploy --help` said the instance default is "CPU, or GPU for image tasks"; a trial that fits a foundation
    model serves on a GPU too (runtime.foundation.serves_on_gpu)."""
    result = run("deploy", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "foundation model" in text and "image and text tasks" in text, text


def _requests(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.tuning-job.json"))


def _marked(folder: Path) -> list[str]:
    text = (folder / ".cloudauto-compiled").read_text()
    return sorted(line for line in text.splitlines() if line and not line.startswith("#"))


def test_recompiling_an_edited_spec_leaves_one_sagemaker_request(tmp_path):
    """An edited spec compiled again into the same -o folder left the old <name>-<hash>.tuning-job.json beside the
    new one, both in the marker: a CI submitting the folder saw two requests. The earlier compile's request of the
    same spec goes now; another spec's, and a file the marker does not name, stay."""
    spec = tmp_path / "a.yaml"
    spec.write_text(BASE)
    assert run("compile", "-b", "sagemaker", "-o", "out", "a.yaml", cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    (first,) = _requests(out)
    spec.write_text(BASE + "limits: {max_trials: 3}\n")  # another run identity: another job name
    result = run("compile", "-b", "sagemaker", "-o", "out", "a.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (second,) = _requests(out)
    assert second != first and _marked(out) == [second]
    assert f"removed {Path('out') / first} (an earlier compile of this spec)" in result.stderr, result.stderr
    # another spec (another name) into the same folder: both stay, and stay through its recompiles
    other = tmp_path / "b.yaml"
    other.write_text(BASE.replace("demo-job", "other-job"))
    for _ in range(2):
        result = run("compile", "-b", "sagemaker", "-o", "out", "b.yaml", cwd=tmp_path)
        assert result.returncode == 0 and "removed" not in result.stderr, result.stderr
    (third,) = [n for n in _requests(out) if n.startswith("other-job-")]
    assert _requests(out) == sorted([second, third]) and _marked(out) == sorted([second, third])
    # rerun of the same spec: stable, nothing removed
    for _ in range(2):
        result = run("compile", "-b", "sagemaker", "-o", "out", "a.yaml", cwd=tmp_path)
        assert result.returncode == 0 and "removed" not in result.stderr, result.stderr
        assert _requests(out) == sorted([second, third]) and _marked(out) == sorted([second, third])
    # a request of this spec's name the marker does not name is the user's: kept
    mine = out / "demo-job-0123456789.tuning-job.json"
    mine.write_text((out / second).read_text())
    spec.write_text(BASE + "limits: {max_trials: 2}\n")
    result = run("compile", "-b", "sagemaker", "-o", "out", "a.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (fourth,) = [n for n in _requests(out) if n not in (mine.name, third)]
    assert fourth != second and mine.exists() and _marked(out) == sorted([fourth, third])
