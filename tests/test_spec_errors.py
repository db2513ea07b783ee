"""Every invalid spec fails with the line, the field path and what would be valid."""

from __future__ import annotations

import pytest

from cloudauto.spec import JobSpec, SpecError

from .conftest import BASE

SWEEP = "sweep:\n  space:\n    lr: {uniform: [0.1, 0.2]}\n"

# (spec text, field path, line, words the message or hint must hold)
CASES = [
    ("name: My_Job\ntask: tabular_regression\ndata: {train: a.csv, label: y}\nmetric: r2\n", "name", 1, ["my-job"]),
    (BASE.replace("tabular_classification", "tabular_clasification"), "task", 2, ["tabular_classification"]),
    (BASE.replace("label: target", "lable: target"), "data.lable", 5, ["unknown field", "did you mean 'label'"]),
    (BASE + "limts:\n  max_trials: 3\n", "limts", 7, ["did you mean 'limits'"]),
    (BASE.replace("./train.csv", "gs://bucket/train.csv"), "data.train", 4, ["gs://", "s3://"]),
    (BASE.replace("./train.csv", "s3://A_B/train.csv"), "data.train", 4, ["bucket"]),
    (BASE.replace("accuracy", "acuracy"), "metric", 6, ["unknown metric", "did you mean 'accuracy'", "f1_macro"]),
    (BASE.replace("metric: accuracy", "metric: {name: accuracy, goal: minimize}"), "metric.goal", 6, ["maximize"]),
    (BASE + "sweep:\n  sampling: grd\n  space: {a: 1}\n", "sweep.sampling", 8, ["did you mean 'grid'"]),
    (BASE + "sweep:\n  space:\n    lr: {unifrom: [0.1, 0.2]}\n", "sweep.space.lr", 9, ["did you mean 'uniform'"]),
    (BASE + 'sweep:\n  space:\n    lr: "unifrom(0.1, 0.2)"\n', "sweep.space.lr", 9, ["did you mean 'uniform'"]),
    (BASE + "sweep:\n  space:\n    lr: {uniform: [0.2, 0.1]}\n", "sweep.space.lr", 9, ["upper bound"]),
    (BASE + 'sweep:\n  space:\n    lr: "uniform(0.01,"\n', "sweep.space.lr", 9, ["does not parse", "closing ')'"]),
    (
        BASE + "sweep:\n  space:\n    models: \"choice('GBM', 'RF'\"\n",
        "sweep.space.models",
        9,
        ["opens like an Azure ML expression"],
    ),
    (BASE + "sweep:\n  space:\n    lr: {uniform: [0.1]}\n", "sweep.space.lr", 9, ["2 arguments"]),
    (BASE + "sweep:\n  space:\n    lr: {loguniform: [0, 1]}\n", "sweep.space.lr", 9, ["> 0", "exponents"]),
    (BASE + 'sweep:\n  space:\n    lr: "loguniform(1, 0)"\n', "sweep.space.lr", 9, ["upper bound"]),
    (BASE + "sweep:\n  space:\n    n: {randint: [5, 5]}\n", "sweep.space.n", 9, ["high > low"]),
    (BASE + "sweep:\n  space:\n    n: {randint: [0.5, 5]}\n", "sweep.space.n", 9, ["integer"]),
    (BASE + "sweep:\n  space:\n    n: {normal: [0, -1]}\n", "sweep.space.n", 9, ["sigma"]),
    (BASE + "sweep:\n  space:\n    q: {quniform: [0, 10, 0]}\n", "sweep.space.q", 9, ["q must be > 0"]),
    (BASE + "sweep:\n  space:\n    o: {choice: []}\n", "sweep.space.o", 9, ["non-empty"]),
    (BASE + "sweep:\n  space:\n    o: {choice: [a, a]}\n", "sweep.space.o", 9, ["twice"]),
    (BASE + "sweep:\n  space:\n    o: [sgd, adam]\n", "sweep.space.o", 9, ["choice"]),
    (BASE + "sweep:\n  space:\n    o: \"choice(open('x'))\"\n", "sweep.space.o", 9, ["literal"]),
    (BASE + "sweep:\n  space:\n    - {a: 1}\n    - {b: {uniform: [1, 0]}}\n", "sweep.space[1].b", 10, ["upper bound"]),
    (
        BASE + "sweep:\n  sampling: grid\n  space:\n    lr: {uniform: [0.1, 0.2]}\n",
        "sweep.space.lr",
        10,
        ["grid sampling needs discrete", "choice"],
    ),
    (
        BASE + 'sweep:\n  sampling: grid\n  space:\n    - {a: {choice: [1]}}\n    - {lr: "normal(0, 1)"}\n',
        "sweep.space[1].lr",
        11,
        ["grid"],
    ),
    (BASE + SWEEP + "  early_termination:\n    policy: bandt\n", "sweep.early_termination.policy", 11, ["did you mean 'bandit'"]),
    (
        BASE + SWEEP + "  early_termination:\n    policy: bandit\n",
        "sweep.early_termination",
        10,
        ["slack_factor", "slack_amount"],
    ),
    (
        BASE + SWEEP + "  early_termination: {policy: bandit, slack_factor: 0.1, slack_amount: 1}\n",
        "sweep.early_termination",
        10,
        ["exactly one"],
    ),
    (
        BASE + SWEEP + "  early_termination: {policy: bandit, slack_factor: -0.1}\n",
        "sweep.early_termination.slack_factor",
        10,
        ["greater than 0"],
    ),
    (
        BASE + SWEEP + "  early_termination: {policy: truncation_selection, truncation_percentage: 100}\n",
        "sweep.early_termination.truncation_percentage",
        10,
        ["less than or equal to 99"],
    ),
    (
        BASE + SWEEP + "  early_termination: {policy: truncation_selection}\n",
        "sweep.early_termination.truncation_percentage",
        10,
        ["required"],
    ),
    (
        BASE + SWEEP + "  early_termination:\n    policy: median_stopping\n    evaluation_interval: 0\n",
        "sweep.early_termination.evaluation_interval",
        12,
        ["greater than or equal to 1"],
    ),
    (
        BASE + SWEEP + "  early_termination:\n    policy: median_stopping\n    delay_evaluation: -1\n",
        "sweep.early_termination.delay_evaluation",
        12,
        ["greater than or equal to 0"],
    ),
    (
        BASE + SWEEP + "  early_termination:\n    policy: median_stopping\n    slack_factor: 0.1\n",
        "sweep.early_termination.slack_factor",
        12,
        ["unknown field"],
    ),
    (BASE + "limits:\n  max_trials: 2\n  max_concurrent_trials: 4\n", "limits.max_concurrent_trials", 9, ["exceeds"]),
    (BASE + "limits:\n  max_trials: 0\n", "limits.max_trials", 8, ["greater than or equal to 1"]),
    (BASE + "limits:\n  timeout: forever\n", "limits.timeout", 8, ["90s"]),
    (BASE + "limits:\n  timeout: -5\n", "limits.timeout", 8, ["positive"]),
    (BASE + "limits:\n  max_trials: many\n", "limits.max_trials", 8, ["integer"]),
    (
        "name: ts\ntask: time_series_forecasting\ndata: {train: a.csv, label: y}\nmetric: MASE\n",
        "data.timestamp",
        3,
        ["timestamp"],
    ),
    (
        "name: ts\ntask: time_series_forecasting\ndata: {train: a.csv, label: y, timestamp: t}\nmetric: MASE\n",
        "data.prediction_length",
        3,
        ["prediction_length"],
    ),
    (
        BASE.replace("label: target", "label: target\n  prediction_length: 4"),
        "data.prediction_length",
        6,
        ["only for time_series"],
    ),
    (
        BASE.replace("task: tabular_classification", "task: custom").replace(
            "metric: accuracy", "metric: {name: m, goal: maximize}"
        ),
        "task",
        2,
        ["engine: command"],
    ),
    (BASE + "engine: command\n", "engine", 7, ["command block"]),
    (BASE + "engine: command\ncommand:\n  run: python t.py --lr ${{sweep.lr}}\n", "command.run", 9, ["names no sweep parameter"]),
    (
        BASE + "engine: command\ncommand:\n  run: python t.py --lr ${{inputs.lr}}\n" + SWEEP,
        "command.run",
        9,
        ["not a placeholder"],
    ),
    (BASE + "command:\n  run: python t.py\n", "engine", 1, ["only used with engine: command"]),
    (BASE.replace("./train.csv", "${MISSING_VAR_XYZ}"), "data.train", 4, ["MISSING_VAR_XYZ", "not set"]),
    (BASE.replace("./train.csv", "${1bad}"), "data.train", 4, ["not a variable reference"]),
    (BASE + "backends:\n  azurml: {compute: x}\n", "backends.azurml", 8, ["did you mean 'azureml'"]),
    (BASE + "backends:\n  sagemaker: {rol: x}\n", "backends.sagemaker.rol", 8, ["did you mean 'role'"]),
    (BASE + "backends:\n  local: {mode: dockr}\n", "backends.local.mode", 8, ["did you mean 'docker'"]),
    (BASE + "compute:\n  instance_count: 0\n", "compute.instance_count", 8, ["greater than or equal to 1"]),
    (BASE + "data:\n  train: b.csv\n", "data", 7, ["twice"]),
    ("task: tabular_regression\ndata: {train: a.csv, label: y}\nmetric: r2\n", "name", None, ["required"]),
    (BASE.replace("name: demo-job\n", "name: [a, b]\n"), "name", 1, ["string"]),
]


@pytest.mark.parametrize(("text", "field", "line", "words"), CASES, ids=[f"{i}:{c[1]}" for i, c in enumerate(CASES)])
def test_invalid_spec_names_line_field_and_fix(problems, text, field, line, words):
    issues = problems(text)
    match = [i for i in issues if i.field == field]
    assert match, f"expected an error at {field}, got: {[str(i) for i in issues]}"
    issue = match[0]
    assert issue.file and issue.file.endswith("spec.yaml")
    if line is not None:
        assert issue.line == line, str(issue)
        assert issue.column is not None
    text_of = f"{issue.message} {issue.hint or ''}"
    for word in words:
        assert word in text_of, f"{word!r} not in {text_of!r}"


def test_all_errors_of_one_stage_are_reported_together(problems):
    issues = problems(BASE.replace("accuracy", "acuracy") + "limits:\n  max_trials: 2\n  max_concurrent_trials: 3\n")
    assert {i.field for i in issues} == {"metric", "limits.max_concurrent_trials"}


def test_missing_field_points_at_its_parent(problems):
    (issue,) = problems("name: x\ntask: tabular_regression\ndata:\n  label: y\nmetric: r2\n")
    assert issue.field == "data.train" and issue.line == 3


def test_error_from_python_has_path_without_line():
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict({"name": "x", "task": "tabular_regression", "data": {"train": "a", "label": "y"}, "metric": "acc"})
    (issue,) = info.value.issues
    assert issue.field == "metric" and issue.line is None and issue.file == "<python>"


def test_github_annotation_format(problems):
    (issue,) = problems(BASE.replace("accuracy", "acuracy"))
    line = issue.github()
    assert line.startswith("::error file=") and ",line=6," in line and "unknown metric" in line


# validate refuses what every backend's compile refuses for engine: autogluon (the tables are static: no AutoGluon needed)
AUTOGLUON_CASES = [
    (
        "models: {choice: [GBM, XT, RandomForest]}",
        "sweep.space.models",
        ["'RandomForest' is not an AutoGluon model family", "did you mean"],
    ),
    ("presets: medium_qualty", "sweep.space.presets", ["did you mean 'medium_quality'"]),
    ("time_limit: -5", "sweep.space.time_limit", ["seconds"]),
    ("holdout_frac: 2", "sweep.space.holdout_frac", ["fraction"]),
    ("GMB.num_leaves: {choice: [8, 16]}", "sweep.space.GMB.num_leaves", ["'GMB' is not an AutoGluon model family"]),
    ("learning_rate: {uniform: [0.01, 0.1]}", "sweep.space.learning_rate", ["does not map onto an AutoGluon"]),
]


@pytest.mark.parametrize(("param", "field", "words"), AUTOGLUON_CASES, ids=[c[1].split(".", 2)[2] for c in AUTOGLUON_CASES])
def test_autogluon_names_and_values_fail_validate(problems, param, field, words):
    issues = problems(BASE + f"sweep:\n  space:\n    {param}\n")
    (issue,) = [i for i in issues if i.field == field]
    assert issue.line == 9
    text = issue.message + (issue.hint or "")
    assert all(w in text for w in words), text


def test_autogluon_tables_leave_command_specs_alone(load):
    spec = load(
        BASE.replace("task: tabular_classification", "task: tabular_classification\nengine: command")
        + "command:\n  run: python train.py --lr ${{sweep.lr}}\nsweep:\n  space:\n    lr: {uniform: [0.01, 0.1]}\n"
    )
    assert spec.space.parameter_names() == ["lr"]
