"""Numbers of the tuning fields that mean nothing: NaN and infinity (which no service takes, and JSON cannot
carry), and booleans, strings and floats where a whole number of steps is meant."""

from __future__ import annotations

import json

import pytest

import cloudauto
from cloudauto.spec.errors import SpecError

from .conftest import BASE
from .test_cli import run

SWEEP = BASE + "sweep:\n  space: {models: GBM}\n"


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("limits: {stop_when: {target: VALUE}}\n", "limits.stop_when.target"),
        ("limits: {max_cost: VALUE}\n", "limits.max_cost"),
        ("  early_termination: {policy: bandit, slack_factor: VALUE}\n", "sweep.early_termination.slack_factor"),
        ("  early_termination: {policy: bandit, slack_amount: VALUE}\n", "sweep.early_termination.slack_amount"),
        ("backends: {sagemaker: {price_per_hour: VALUE}}\n", "backends.sagemaker.price_per_hour"),
        ("backends: {azureml: {price_per_hour: VALUE}}\n", "backends.azureml.price_per_hour"),
    ],
)
def test_nan_and_infinity_are_refused_in_every_float_field(tmp_path, extra, field, value):
    path = tmp_path / "spec.yaml"
    path.write_text(SWEEP + extra.replace("VALUE", value))
    result = run("validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}:9:" in result.stderr and f"{field}: " in result.stderr, result.stderr
    assert "finite number" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_nan_that_slips_past_validation_is_a_clear_error_not_invalid_json(tmp_path):
    spec = cloudauto.JobSpec.from_yaml(
        "name: s\ntask: custom\nengine: command\ncommand: {run: python t.py, code: .}\n"
        "metric: {name: score, goal: maximize}\nsweep:\n  space: {lr: {uniform: [0.1, 0.2]}}\n"
        "limits: {stop_when: {target: 0.9}}\n"
    )
    spec.limits.stop_when.target = float("nan")  # what a bug in a later step could do
    with pytest.raises(ValueError, match=r"TargetObjectiveMetricValue.*nan") as info:
        cloudauto.compile(spec, backend="sagemaker").write(tmp_path / "out")
    assert "JSON" in str(info.value)
    assert not list((tmp_path).glob("out/*.json"))  # nothing half-written


def test_compiled_requests_are_strict_json(tmp_path):
    spec = cloudauto.JobSpec.from_yaml(
        "name: s\ntask: custom\nengine: command\ncommand: {run: python t.py, code: .}\n"
        "metric: {name: score, goal: maximize}\nsweep:\n  space: {lr: {uniform: [0.1, 0.2]}}\n"
        "limits: {stop_when: {target: 0.9}}\n"
    )
    job = cloudauto.compile(spec, backend="sagemaker")
    for text in job.files.values():
        json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the request"))


# ---- M3: whole numbers of steps ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [("true", "got true"), ("'8'", "got the string '8'"), ("8.0", "got 8.0"), ("null", "got null")],
)
@pytest.mark.parametrize("name", ["min_resource", "max_resource", "reduction_factor"])
def test_the_multi_fidelity_fields_take_whole_numbers_only(tmp_path, name, value, words):
    fields = {"min_resource": "1", "max_resource": "8", "reduction_factor": "2", name: value}
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    path = tmp_path / "spec.yaml"
    path.write_text(SWEEP + f"  early_termination: {{policy: asha, {body}}}\n")
    result = run("validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}:9:" in result.stderr and f"sweep.early_termination.{name}: " in result.stderr, result.stderr
    assert "a whole number" in result.stderr and words in result.stderr, result.stderr


def test_brackets_take_whole_numbers_only():
    with pytest.raises(SpecError, match="brackets: a whole number"):
        cloudauto.JobSpec.from_yaml(SWEEP + "  early_termination: {policy: hyperband, max_resource: 9, brackets: true}\n")


@pytest.mark.parametrize("policy", ["asha", "hyperband"])
def test_max_resource_is_bounded_on_every_backend_as_sagemaker_bounds_it(policy):
    with pytest.raises(SpecError) as info:
        cloudauto.JobSpec.from_yaml(
            SWEEP + f"  early_termination: {{policy: {policy}, max_resource: 100000000000000000000000000000}}\n"
        )
    (issue,) = info.value.issues
    assert issue.field == "sweep.early_termination.max_resource"
    assert "at most 20,000" in issue.message and "SageMaker" in issue.message
    assert cloudauto.JobSpec.from_yaml(SWEEP + f"  early_termination: {{policy: {policy}, max_resource: 20000}}\n")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("{learning_rate: 0.1, ag_args_fit: {max_memory_usage_ratio: .inf}}", "GBM.ag_args_fit.max_memory_usage_ratio"),
        ("{ag_args: {priority: .nan}}", "GBM.ag_args.priority"),
        ("{ag_args: {weights: [1, [2, -.inf]]}}", "GBM.ag_args.weights[1][1]"),
        ("[{ag_args: {priority: .nan}}]", "GBM[0].ag_args.priority"),
    ],
)
def test_nan_and_infinity_nested_in_hyperparameters_are_refused_at_their_path(tmp_path, value, field):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE + f"autogluon:\n  hyperparameters:\n    GBM: {value}\n")
    result = run("validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}:9:" in result.stderr and f"autogluon.hyperparameters.{field}: must be a finite number" in result.stderr, result.stderr
    assert "Input should be" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    with pytest.raises(SpecError, match="finite number"):
        cloudauto.JobSpec.from_yaml(path.read_text())


def test_nested_nan_in_hyperparameters_by_set_is_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE)
    result = run("validate", str(path), "--set", "autogluon.hyperparameters.GBM.ag_args={x: .inf}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "autogluon.hyperparameters.GBM.ag_args.x: must be a finite number" in result.stderr, result.stderr


def test_nested_hyperparameters_keep_their_values_and_types():
    spec = cloudauto.JobSpec.from_dict(
        {
            "name": "s", "task": "tabular_classification", "data": {"train": "./t.csv", "label": "y"}, "metric": "accuracy",
            "autogluon": {"hyperparameters": {"GBM": {"ag_args_fit": {"r": 0.5, "n": 3, "b": True, "s": "x", "z": None, "l": [1, 2.5, "a"]}}}},
        }
    )
    nested = spec.to_dict()["autogluon"]["hyperparameters"]["GBM"]["ag_args_fit"]
    assert nested == {"r": 0.5, "n": 3, "b": True, "s": "x", "z": None, "l": [1, 2.5, "a"]}
    assert type(nested["n"]) is int and type(nested["b"]) is bool and type(nested["l"][0]) is int


@pytest.mark.parametrize("value", [".inf", "1e400", ".nan"])
def test_an_infinite_duration_is_refused_as_not_finite(tmp_path, value):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE)
    result = run("validate", str(path), "--set", f"limits.timeout={value}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "must be a finite duration" in result.stderr and "must be positive" not in result.stderr, result.stderr
