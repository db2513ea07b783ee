"""The data is checked at submit, on every backend, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import cloudauto
from cloudauto.backend import DataCheckError
from cloudauto.cli import main as cli
from cloudauto.runtime.data_check import data_issues

SPEC = """\
name: check
task: {task}
data:
  train: {train}
  label: {label}
metric: {metric}
"""


def write(tmp_path: Path, csv: str, *, task="tabular_classification", label="diagnosis", metric="accuracy", train="train.csv"):
    (tmp_path / "train.csv").write_text(csv)
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(task=task, train=train, label=label, metric=metric))
    return path


def issues(path: Path) -> list[str]:
    return [f"{i.field}: {i.message}" for i in data_issues(cloudauto.JobSpec.from_file(path))]


def test_good_data_passes(tmp_path):
    assert issues(write(tmp_path, "age,diagnosis\n1,a\n2,b\n3,a\n")) == []


def test_a_missing_file_is_named_with_the_rule_for_relative_paths(tmp_path):
    path = write(tmp_path, "x\n", train="data/nope.csv")
    (found,) = issues(path)
    assert found.startswith("data.train: data/nope.csv: no such file: ")
    assert str(tmp_path / "data" / "nope.csv") in found and "relative to the spec file's folder" in found


def test_a_misspelt_label_gets_a_did_you_mean(tmp_path):
    (found,) = issues(write(tmp_path, "age,Diagnosis\n1,a\n2,b\n", label="diagnosis"))
    assert found == "data.label: column 'diagnosis' is not in train.csv; did you mean 'Diagnosis'? its columns: age, Diagnosis"


def test_a_label_that_does_not_fit_the_task_is_refused_with_the_reason(tmp_path):
    text = write(tmp_path, "age,diagnosis\n1,benign\n2,malignant\n3,benign\n", task="tabular_regression", metric="rmse")
    (found,) = issues(text)
    assert "label 'diagnosis' in train.csv holds text ('benign', 'malignant'): a regression needs numbers" in found
    assert "task: tabular_classification" in found
    (one,) = issues(write(tmp_path, "age,diagnosis\n1,a\n2,a\n"))
    assert "one class only ('a')" in one


def test_time_series_columns_are_checked(tmp_path):
    (tmp_path / "train.csv").write_text("ts,station,rides\n2026-01-01 00:00,a,3\nnot a date,a,4\n")
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: ts\ntask: time_series_forecasting\nmetric: MASE\n"
        "data: {train: train.csv, label: rides, timestamp: ts, item_id: Station, prediction_length: 2}\n"
    )
    found = issues(path)
    assert any(f.startswith("data.item_id: column 'Station' is not in train.csv; did you mean 'station'?") for f in found)
    assert any(f.startswith("data.timestamp: timestamp 'ts' in train.csv: 1 values are not dates") for f in found)


def test_submit_refuses_at_the_spec_line_and_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    path = write(tmp_path, "age,Diagnosis\n1,a\n2,b\n")
    with pytest.raises(DataCheckError, match="did you mean 'Diagnosis'"):
        cloudauto.submit(cloudauto.JobSpec.from_file(path), backend="local")
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:5:10: error: data.label: column 'diagnosis' is not in train.csv" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "home" / "runs").exists()  # no job was written


def test_remote_data_is_left_to_the_service(tmp_path):
    path = write(tmp_path, "x\n", train="s3://bucket/train.csv")
    assert issues(path) == []
