"""Valid specs in every input form land in one exact internal form."""

from __future__ import annotations

import json
import math

import pytest

from cloudauto.spec import JobSpec, SpecError, Task
from cloudauto.spec.metrics import Goal
from cloudauto.spec.space import Choice, Fixed, LogNormal, LogUniform, Normal, QLogUniform, QUniform, RandInt, Uniform

from .conftest import BASE, EXAMPLES

# a script of one's own takes any parameter name; engine: autogluon takes AutoGluon's (tests/test_spec_errors.py)
COMMAND = "engine: command\ncommand:\n  run: python train.py\n"


def _space(load, space_yaml: str, sampling: str = "random"):
    spec = load(BASE + COMMAND + f"sweep:\n  sampling: {sampling}\n  space:\n" + space_yaml)
    return spec.sweep.space.subspaces


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(path):
    spec = JobSpec.from_file(path)
    assert spec.name and spec.objective.name
    assert [w for w in spec.warnings if w.level == "error"] == []


@pytest.mark.parametrize(
    ("mapping", "expression", "expected"),
    [
        ("{uniform: [0.001, 0.1]}", "uniform(0.001, 0.1)", Uniform(low=0.001, high=0.1)),
        ("{quniform: [8, 64, 8]}", "quniform(8, 64, 8)", QUniform(low=8, high=64, q=8)),
        ("{normal: [0, 1.5]}", "normal(0, 1.5)", Normal(mu=0, sigma=1.5)),
        ("{lognormal: [0, 1]}", "lognormal(0, 1)", LogNormal(mu=0, sigma=1)),
        ("{choice: [sgd, adam]}", "choice('sgd', 'adam')", Choice(values=("sgd", "adam"))),
        ("{choice: [600, 800]}", "choice(600, 800)", Choice(values=(600, 800))),
        ("{randint: [0, 10]}", "randint(10)", RandInt(low=0, high=10)),
    ],
)
def test_both_forms_give_the_same_distribution(load, mapping, expression, expected):
    (sub,) = _space(load, f'    a: {mapping}\n    b: "{expression}"\n')
    assert sub["a"] == expected
    assert sub["b"] == expected


def test_loguniform_mapping_bounds_are_values_and_azure_bounds_are_exponents(load):
    (sub,) = _space(load, '    a: {loguniform: [0.0001, 0.1]}\n    b: "loguniform(-9.2103, -2.3026)"\n')
    a, b = sub["a"], sub["b"]
    assert isinstance(a, LogUniform) and isinstance(b, LogUniform)
    assert (a.low, a.high) == (0.0001, 0.1)  # exact as written
    assert a.log_low == pytest.approx(math.log(0.0001)) and a.log_high == pytest.approx(math.log(0.1))
    assert (b.log_low, b.log_high) == (-9.2103, -2.3026)  # exact as written
    assert b.low == pytest.approx(0.0001, rel=1e-4) and b.high == pytest.approx(0.1, rel=1e-4)


def test_qloguniform_both_forms(load):
    (sub,) = _space(load, '    a: {qloguniform: [1, 1000, 1]}\n    b: "qloguniform(0, 6.907755, 1)"\n')
    assert isinstance(sub["a"], QLogUniform) and sub["a"].low == 1 and sub["a"].q == 1
    assert sub["b"].high == pytest.approx(1000, rel=1e-6) and sub["b"].log_low == 0


def test_randint_mapping_counts_low_in_high_out(load):
    (sub,) = _space(load, "    n: {randint: [2, 5]}\n    m: {randint: 4}\n", sampling="grid")
    assert sub["n"].grid_values() == [2, 3, 4]
    assert sub["m"] == RandInt(low=0, high=4)


def test_keyword_mapping_form(load):
    (sub,) = _space(load, "    lr: {uniform: {low: 0.1, high: 0.2}}\n    q: {quniform: {low: 0, high: 10, q: 5}}\n")
    assert sub["lr"] == Uniform(low=0.1, high=0.2)
    assert sub["q"].grid_values() == [0, 5, 10]


def test_scalars_are_fixed_and_yaml_exponents_are_numbers(load):
    (sub,) = _space(load, "    lr: 1e-3\n    name: yolov5\n    flag: true\n    n: 3\n    text: 'uniform'\n")
    assert sub["lr"] == Fixed(value=0.001)
    assert sub["name"] == Fixed(value="yolov5")
    assert sub["flag"] == Fixed(value=True)
    assert sub["n"] == Fixed(value=3)
    assert sub["text"] == Fixed(value="uniform")


def test_choice_of_range_in_azure_form(load):
    (sub,) = _space(load, '    k: "choice(range(1, 4))"\n')
    assert sub["k"] == Choice(values=(1, 2, 3))


def test_alternative_subspaces(load):
    spec = JobSpec.from_file(next(p for p in EXAMPLES if p.name == "fridge_objects_od.yaml"))
    space = spec.sweep.space
    assert space.is_conditional and len(space.subspaces) == 2
    yolo, rcnn = space.subspaces
    assert yolo["model_name"] == Fixed(value="yolov5")
    assert yolo["learning_rate"] == Uniform(low=0.0001, high=0.01)
    assert rcnn["optimizer"] == Choice(values=("sgd", "adam", "adamw"))
    assert rcnn["min_size"] == Choice(values=(600, 800))
    assert spec.policy.policy == "bandit" and spec.policy.slack_factor == 0.2
    assert (spec.policy.evaluation_interval, spec.policy.delay_evaluation) == (2, 6)
    assert (spec.limits.max_trials, spec.limits.max_concurrent_trials) == (20, 4)


def test_grid_enumerates_exactly_across_subspaces(load):
    spec = load(
        BASE
        + COMMAND
        + """\
sweep:
  sampling: grid
  space:
    - {model: a, depth: {choice: [1, 2]}, lr: {quniform: [0.1, 0.3, 0.1]}}
    - {model: b, k: {randint: [0, 2]}}
"""
    )
    points = list(spec.sweep.space.grid())
    assert spec.sweep.space.grid_size() == len(points) == 8
    assert points[0] == {"model": "a", "depth": 1, "lr": 0.1}
    assert {"model": "a", "depth": 2, "lr": 0.3} in points
    assert points[-2:] == [{"model": "b", "k": 0}, {"model": "b", "k": 1}]
    assert spec.max_trials == 8  # grid size when max_trials is not given


def test_interpolation_and_defaults(load):
    spec = load(
        BASE.replace("./train.csv", "s3://${BUCKET}/iris/train.csv")
        + "limits:\n  max_trials: ${TRIALS:-3}\n  timeout: ${TIMEOUT:-2h}\ntags:\n  literal: $${NOT_A_VAR}\n",
        env={"BUCKET": "my-bucket"},
    )
    assert spec.data.train == "s3://my-bucket/iris/train.csv"
    assert spec.limits.max_trials == 3
    assert spec.limits.timeout == 7200
    assert spec.tags["literal"] == "${NOT_A_VAR}"


def test_command_placeholders_survive_interpolation(load):
    spec = load(
        """\
name: script
task: custom
engine: command
command:
  run: python train.py --lr ${{sweep.lr}} --home ${HOME_DIR}
metric: {name: loss, goal: minimize}
sweep:
  space:
    lr: {loguniform: [0.001, 0.1]}
""",
        env={"HOME_DIR": "/h"},
    )
    assert spec.command.run == "python train.py --lr ${{sweep.lr}} --home /h"
    assert spec.objective.goal is Goal.MINIMIZE


def test_overrides(load):
    spec = load(
        BASE + "limits:\n  max_trials: 4\n",
        overrides=["limits.max_trials=9", "compute.instance_type=ml.m5.xlarge", "metric=log_loss"],
    )
    assert spec.limits.max_trials == 9
    assert spec.compute.instance_type == "ml.m5.xlarge"
    assert spec.objective.name == "log_loss" and spec.objective.goal is Goal.MINIMIZE


def test_override_error_names_the_override(spec_file):
    with pytest.raises(SpecError) as info:
        JobSpec.from_file(spec_file(BASE), overrides=["limits.max_trials=zero"])
    (issue,) = info.value.issues
    assert issue.file == "--set limits.max_trials=zero" and issue.field == "limits.max_trials"


def test_durations(load):
    spec = load(BASE + "limits:\n  timeout: 90s\n  trial_timeout: 30m\n")
    assert (spec.limits.timeout, spec.limits.trial_timeout) == (90, 1800)
    assert load(BASE + "limits:\n  timeout: 3600\n").limits.timeout == 3600


@pytest.mark.parametrize(
    "uri",
    [
        "s3://my-bucket/a.csv",
        "azureml://datastores/ws/paths/x/",
        "azureml:fridge-train:1",
        "https://example.org/a.csv",
        "http://localhost:8000/a.csv",
        "file:///tmp/a.csv",
        "wasbs://c@acct.blob.core.windows.net/a.csv",
        "abfss://c@acct.dfs.core.windows.net/a",
        "./data/train.csv",
        "/abs/train.parquet",
        "C:\\data\\train.csv",
    ],
)
def test_data_uri_schemes(load, uri):
    assert load(BASE.replace("./train.csv", json.dumps(uri))).data.train == uri


def test_time_series_spec(load):
    spec = load("""\
name: ts
task: time_series_forecasting
data: {train: ts.csv, label: count, timestamp: ts, item_id: id, prediction_length: 48, freq: h}
metric: mase
""")
    assert spec.objective.name == "MASE" and spec.objective.goal is Goal.MINIMIZE


def test_metric_aliases_and_goal(load):
    spec = load(BASE.replace("metric: accuracy", "metric: {name: AUC_weighted, goal: maximize}"))
    assert spec.objective.name == "roc_auc" and spec.objective.azureml == "AUC_weighted"
    reg = load(
        BASE.replace("tabular_classification", "tabular_regression").replace("accuracy", "normalized_root_mean_squared_error")
    )
    assert reg.objective.autogluon == "root_mean_squared_error" and reg.objective.goal is Goal.MINIMIZE


def test_json_spec_file(spec_file):
    path = spec_file(
        json.dumps(
            {
                "name": "j",
                "task": "tabular_regression",
                "data": {"train": "a.csv", "label": "y"},
                "metric": "r2",
                "engine": "command",
                "command": {"run": "python train.py"},
                "sweep": {"space": {"lr": "uniform(0.1, 0.2)"}},
            }
        ),
        name="spec.json",
    )
    assert JobSpec.from_file(path).sweep.space.subspaces[0]["lr"] == Uniform(low=0.1, high=0.2)


def test_python_construction_and_roundtrip():
    spec = JobSpec.from_dict(
        {
            "name": "py",
            "task": Task.TABULAR_CLASSIFICATION,
            "data": {"train": "a.csv", "label": "y"},
            "metric": "f1_macro",
            "engine": "command",
            "command": {"run": "python train.py"},
            "sweep": {"space": [{"m": "a", "x": {"uniform": [0, 1]}}, {"m": "b"}]},
        }
    )
    again = JobSpec.from_dict(spec.to_dict())
    assert again == spec
    direct = JobSpec(name="py", task="tabular_regression", data={"train": "a.csv", "label": "y"}, metric="mae")
    assert direct.objective.name == "mean_absolute_error"


def test_bayesian_with_policy_validates_with_a_warning(load):
    spec = load(
        BASE
        + COMMAND
        + """\
sweep:
  sampling: bayesian
  space: {lr: {uniform: [0.1, 0.2]}}
  early_termination: {policy: median_stopping}
"""
    )
    assert any("bayesian" in w.message and w.field == "sweep.early_termination" for w in spec.warnings)
