"""Issue 32 items 1, 2, 4, 5 in the spec and the data check: positive_class, ignore_columns, metrics, feature_importance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cloudauto.runtime.data_check import data_issues

from .conftest import BASE


def _table(folder: Path, rows: int = 40, label=("benign", "malignant")) -> None:
    pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(rows)],
            "age": [30 + i % 40 for i in range(rows)],
            "ward": ["a", "b"] * (rows // 2),
            "diagnosis": [label[i % len(label)] for i in range(rows)],
        }
    ).to_csv(folder / "train.csv", index=False)


SPEC = """\
name: med
task: tabular_classification
data: {train: ./train.csv, label: diagnosis}
metric: accuracy
"""


def test_the_new_fields_validate_and_resolve_metrics(load):
    spec = load(SPEC + "metrics: [f1, AUC_weighted, logloss, accuracy, f1]\nautogluon: {positive_class: benign, feature_importance: true}\n")
    assert [m.name for m in spec.extra_metrics] == ["f1", "roc_auc", "log_loss"]  # the primary one and repeats left out
    assert spec.autogluon.positive_class == "benign" and spec.autogluon.feature_importance
    assert spec.to_dict()["metrics"] == ["f1", "AUC_weighted", "logloss", "accuracy", "f1"]


def test_unknown_metric_is_refused_at_its_line_with_did_you_mean(problems):
    found = problems(SPEC + "metrics: [f1, f1_scroe, norm_macro_recall]\n")
    assert [(i.field, i.line) for i in found] == [("metrics[1]", 5), ("metrics[2]", 5)]
    assert "did you mean 'f1_score'?" == found[0].hint
    assert "AutoGluon has no such metric" in found[1].message


def test_binary_only_metric_with_multiclass_and_misplaced_settings_are_refused(problems):
    found = problems(SPEC + "metrics: [f1]\nautogluon: {problem_type: multiclass, positive_class: benign}\n")
    assert {i.field for i in found} == {"metrics[0]", "autogluon.positive_class"}
    regression = BASE.replace("tabular_classification", "tabular_regression").replace("accuracy", "rmse")
    found = problems(regression + "metrics: [f1]\nautogluon: {positive_class: 1}\n")
    assert {i.field for i in found} == {"metrics[0]", "autogluon.positive_class"}
    found = problems(SPEC.replace("label: diagnosis", "label: diagnosis, ignore_columns: [diagnosis, pid, pid]"))
    assert [(i.field, "label" in i.message or "twice" in i.message) for i in found] == [
        ("data.ignore_columns[0]", True),
        ("data.ignore_columns[2]", True),
    ]


def test_ignore_columns_and_metrics_are_for_tabular_tasks(problems):
    ts = """\
    name: ts
    task: time_series_forecasting
    data: {train: ./t.csv, label: y, timestamp: ts, prediction_length: 2, ignore_columns: [a]}
    metric: MASE
    metrics: [WQL]
    """
    assert {i.field for i in problems(ts)} == {"data.ignore_columns", "metrics"}


def test_data_check_names_the_label_values_for_a_wrong_positive_class(load, tmp_path):
    _table(tmp_path)
    spec = load(SPEC + "autogluon: {positive_class: Benign}\n")
    [issue] = [i for i in data_issues(spec) if i.level == "error"]
    assert issue.path == ("autogluon", "positive_class")
    assert "'Benign' is not a value of 'diagnosis'" in issue.message and "'benign', 'malignant'" in issue.message
    assert not [i for i in data_issues(load(SPEC + "autogluon: {positive_class: benign}\n")) if i.level == "error"]


def test_data_check_refuses_positive_class_and_f1_on_three_classes(load, tmp_path):
    _table(tmp_path, label=("a", "b", "c"))
    found = [i for i in data_issues(load(SPEC + "metrics: [f1]\nautogluon: {positive_class: a}\n")) if i.level == "error"]
    assert {i.path for i in found} == {("autogluon", "positive_class"), ("metrics", 0)}
    assert "has 3: 'a', 'b', 'c'" in next(i.message for i in found if i.path[0] == "autogluon")


def test_numeric_positive_class_matches_the_data(load, tmp_path):
    _table(tmp_path, label=(0, 1))
    assert not [i for i in data_issues(load(SPEC + "autogluon: {positive_class: 0}\n")) if i.level == "error"]
    [issue] = [i for i in data_issues(load(SPEC + "autogluon: {positive_class: 2}\n")) if i.level == "error"]
    assert "its values: 0, 1" in issue.message


def test_data_check_finds_a_missing_ignored_column_and_warns_of_an_identifier(load, tmp_path):
    _table(tmp_path)
    spec = load(SPEC.replace("label: diagnosis", "label: diagnosis, ignore_columns: [patient_idd]"))
    found = data_issues(spec)
    [error] = [i for i in found if i.level == "error"]
    assert error.path == ("data", "ignore_columns", 0) and "did you mean 'patient_id'?" in error.message
    [warning] = [i for i in found if i.level == "warning"]  # still unignored: patient_id is unique per row
    assert "'patient_id'" in warning.message and "ignore_columns: [patient_id]" in warning.hint
    ignored = load(SPEC.replace("label: diagnosis", "label: diagnosis, ignore_columns: [patient_id]"))
    assert data_issues(ignored) == []


def test_a_repeated_id_or_an_unlike_name_is_no_identifier(load, tmp_path):
    frame = pd.DataFrame({"ward_id": ["a", "b"] * 10, "serial": range(20), "diagnosis": ["x", "y"] * 10})
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert data_issues(load(SPEC)) == []


def test_submit_prints_the_identifier_warning_and_fails_on_the_positive_class(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cloudauto.cli import main

    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    _table(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC + "autogluon: {positive_class: yes_it_is}\n")
    result = CliRunner().invoke(main, ["submit", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 1, result.output
    assert "spec.yaml:5" in result.output and "'benign', 'malignant'" in result.output
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


def test_an_empty_ignored_column_name_is_refused_at_its_line(problems):
    """AutoGluon's trial failed on it (`ParameterError: '' not in ...`) after the job had started."""
    found = problems(SPEC.replace("label: diagnosis", 'label: diagnosis, ignore_columns: [patient_id, "", " "]'))
    assert [(i.field, i.line) for i in found] == [("data.ignore_columns[1]", 3), ("data.ignore_columns[2]", 3)]
    assert "an empty column name" in found[0].message


def test_ignoring_every_feature_is_refused_before_the_job_starts(load, tmp_path):
    """Else every trial fails "No models were trained"."""
    _table(tmp_path)
    spec = load(SPEC.replace("label: diagnosis", "label: diagnosis, ignore_columns: [patient_id, age, ward]"))
    [error] = [i for i in data_issues(spec) if i.level == "error"]
    assert error.path == ("data", "ignore_columns")
    assert "ignores every feature column of ./train.csv (patient_id, age, ward)" in error.message
    kept = load(SPEC.replace("label: diagnosis", "label: diagnosis, ignore_columns: [patient_id, age]"))
    assert [i for i in data_issues(kept) if i.level == "error"] == []


def test_many_bad_metrics_are_said_twenty_and_counted(problems):
    """10,000 unknown names made 10,001 lines (3.3 MB) of errors."""
    names = ", ".join(f"nope{i}" for i in range(10_000))
    found = problems(SPEC + f"metrics: [f1, {names}]\n")
    assert len(found) == 21
    assert [i.field for i in found[:20]] == [f"metrics[{i}]" for i in range(1, 21)]
    assert found[20].field == "metrics" and "and 9980 more problems in metrics" in found[20].message


def test_an_unquoted_yes_positive_class_is_told_to_be_quoted(load, tmp_path):
    """YAML reads `positive_class: yes` as True."""
    _table(tmp_path, label=("no", "yes"))
    [issue] = [i for i in data_issues(load(SPEC + "autogluon: {positive_class: yes}\n")) if i.level == "error"]
    assert issue.hint == "YAML reads an unquoted yes as true: quote it: positive_class: 'yes'"
