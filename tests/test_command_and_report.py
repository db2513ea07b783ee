"""Placeholder filling and the report format: one place, used by every backend."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from cloudauto.command import command_argv, command_line
from cloudauto.reporting import LINE_FORMAT, metric_regex, parse_line

NASTY = ["$(touch PWNED)", "a; touch PWNED", "`touch PWNED`", "'\"", "--flag=1 --other", "x\ny", "$HOME", "*", ""]


@pytest.mark.parametrize("value", NASTY)
def test_values_stay_inside_their_argument(value):
    argv = command_argv("python train.py --opt ${{sweep.opt}} --name=run-${{sweep.opt}}", {"opt": value})
    assert argv == ["python", "train.py", "--opt", value, f"--name=run-{value}"]
    # the shell form quotes every value: a shell splits it back into exactly these arguments
    assert shlex.split(command_line("python train.py --opt ${{sweep.opt}}", {"opt": value})) == [
        "python",
        "train.py",
        "--opt",
        value,
    ]


def test_shell_form_runs_nothing_from_a_value(tmp_path):
    line = command_line("printf %s ${{sweep.v}}", {"v": "$(touch PWNED); `touch PWNED2`"})
    out = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout == "$(touch PWNED); `touch PWNED2`" and not list(tmp_path.iterdir())


def test_numbers_and_booleans_are_written_plainly():
    assert command_argv("t ${{sweep.a}} ${{sweep.b}} ${{sweep.c}}", {"a": 0.001, "b": True, "c": 32}) == [
        "t",
        "0.001",
        "true",
        "32",
    ]


@pytest.mark.parametrize("value", [0.9583, -1.5e-7, 3.0, float("nan"), float("inf")])
def test_report_line_matches_the_metric_definition_regex(value):
    text = repr(value) if value == value and abs(value) != float("inf") else str(value)
    line = LINE_FORMAT.format(name="val_accuracy", value=text, step=7)
    match = re.search(metric_regex("val_accuracy"), line)
    assert match and (float(match.group(1)) == value or value != value)
    name, parsed, step = parse_line(line)
    assert (name, step) == ("val_accuracy", 7)
    assert re.search(metric_regex("val_acc"), line) is None  # a prefix of another name does not match


def test_report_outside_any_backend_prints_and_continues(tmp_path):
    script = "import cloudauto; v = cloudauto.report(val_loss=0.5); v2 = cloudauto.report(val_loss=0.4, acc=0.9); print(v.should_stop, v2.should_stop)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "[cloudauto-metric] name=val_loss value=0.5 step=1"
    assert lines[1] == "[cloudauto-metric] name=val_loss value=0.4 step=2"
    assert lines[2] == "[cloudauto-metric] name=acc value=0.9 step=2"
    assert lines[3] == "False False"


def test_report_rejects_nonsense():
    from cloudauto.reporting import report

    with pytest.raises(ValueError, match="at least one metric"):
        report()
    with pytest.raises(ValueError, match="must be a number"):
        report(acc="high")


def test_report_logs_to_mlflow_under_azure_ml(tmp_path):
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {"AZUREML_RUN_ID": "run-1", "MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"}
    script = "import cloudauto; cloudauto.report(val_accuracy=0.5, step=1); cloudauto.report(val_accuracy=0.75, step=2)"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs(experiment_ids=["0"])
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.75)]


def test_report_under_azure_ml_without_mlflow_fails_the_trial_with_the_fix():
    """Silence would leave the sweep blind: an Azure ML trial whose environment lacks mlflow must fail, saying why."""
    import subprocess
    import sys

    code = "import sys; sys.modules['mlflow'] = None\nimport cloudauto\ncloudauto.report(val_accuracy=0.5)\n"
    env = {"PATH": "/usr/bin:/bin", "AZUREML_RUN_ID": "run-1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "MetricsUnreachable" in done.stderr and "add mlflow and azureml-mlflow" in done.stderr
    elsewhere = subprocess.run(
        [sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    assert elsewhere.returncode == 0 and "[cloudauto-metric] name=val_accuracy" in elsewhere.stdout
