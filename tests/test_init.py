"""`cloudauto init TABLE --label COLUMN` (issue 32 item 6): a spec that validates and runs, what was inferred said."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .test_cli import run


def medical(folder: Path, rows: int = 120) -> Path:
    rng = np.random.default_rng(0)
    size = rng.normal(3, 1, rows).round(2)
    frame = pd.DataFrame({"patient_id": [f"P{i:04d}" for i in range(rows)], "age": rng.integers(20, 80, rows), "size": size})
    frame["diagnosis"] = np.where(size + rng.normal(0, 0.5, rows) > 3, "malignant", "benign")
    path = folder / "medical table.csv"  # a space: the spec names it quoted
    frame.to_csv(path, index=False)
    return path


def weekly(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    weeks = pd.date_range("2023-01-01", periods=30, freq="W-SUN")
    rows = [
        {"week": d.strftime("%Y-%m-%d"), "shop": shop, "units": 50 + 10 * (i % 4) + rng.normal(), "price": 9.5 + (i % 3)}
        for shop in ("north", "south")
        for i, d in enumerate(weeks)
    ]
    path = folder / "sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_binary_table_with_an_id_column(tmp_path: Path):
    (tmp_path / "data").mkdir()
    table = medical(tmp_path / "data")
    out = tmp_path / "specs" / "med.yaml"
    out.parent.mkdir()
    result = run("init", str(table), "--label", "diagnosis", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "init: task tabular_classification: diagnosis holds 2 classes (text: 'benign', 'malignant')" in result.stderr
    assert "init: metric roc_auc" in result.stderr and "init: ID-like columns" in result.stderr
    text = out.read_text()
    assert 'train: "../data/medical table.csv"' in text and "metric: roc_auc" in text
    assert "  ignore_columns: [patient_id]   # ID-like: a different value in every row" in text
    checked = run("validate", "--strict", str(out), cwd=tmp_path)  # from another folder: the path is the spec's
    assert checked.returncode == 0, checked.stderr


def test_a_binary_label_gets_a_commented_positive_class_line(tmp_path: Path):
    """Issue 32: the two values and the one AutoGluon takes (the last in sort order) are named; uncommented, it validates."""
    table = medical(tmp_path)
    result = run("init", str(table), "--label", "diagnosis", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("# autogluon:")
    assert lines[at + 1].startswith("#   positive_class: malignant   # ")
    assert "'benign' or 'malignant'" in lines[at + 1] and "AutoGluon takes 'malignant'" in lines[at + 1]
    chosen = "\n".join([*lines[:at], "autogluon:", "  positive_class: benign", *lines[at + 2 :]])
    (tmp_path / "chosen.yaml").write_text(chosen.replace(str(table), table.name) + "\n")
    checked = run("validate", "--strict", "chosen.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    numbers = tmp_path / "numbers.csv"
    pd.DataFrame({"x": range(40), "y": [0, 1] * 20, "kind": ["a", "b", "c", "d"] * 10}).to_csv(numbers, index=False)
    numeric = run("init", str(numbers), "--label", "y", "-o", "-", cwd=tmp_path)
    assert "#   positive_class: 1   # y has two values, 0 or 1; AutoGluon takes 1" in numeric.stdout, numeric.stdout
    multi = run("init", "numbers.csv", "--label", "kind", "-o", "-", cwd=tmp_path)
    assert multi.returncode == 0 and "positive_class" not in multi.stdout, multi.stdout


def test_a_decimal_binary_label_gets_a_positive_class_line_that_validates_uncommented(tmp_path: Path):
    """Labels 1.5/2.5: the line read `positive_class: 2.5`, which validate refused with three union errors."""
    from cloudauto import JobSpec
    from cloudauto.runtime.autogluon_trial import positive_label
    from cloudauto.runtime.data_check import data_issues

    pd.DataFrame({"x": range(40), "y": [1.5, 2.5] * 20}).to_csv(tmp_path / "bnum.csv", index=False)
    result = run("init", "bnum.csv", "--label", "y", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("# autogluon:")
    assert lines[at + 1].startswith("#   positive_class: 2.5   # "), lines[at + 1]
    for written, fits in (("2.5", True), ("1.5", True), ('"2.5"', True), ("3.5", False)):
        uncommented = "\n".join([*lines[:at], "autogluon:", f"  positive_class: {written}", *lines[at + 2 :]])
        (tmp_path / "bnum.yaml").write_text(uncommented + "\n")
        checked = run("validate", "--strict", "bnum.yaml", cwd=tmp_path)
        assert checked.returncode == 0, (written, checked.stdout + checked.stderr)
        problems = [i.message for i in data_issues(JobSpec.from_file(tmp_path / "bnum.yaml")) if i.level == "error"]
        assert problems == ([] if fits else ["autogluon.positive_class 3.5 is not a value of 'y' in ./bnum.csv; its values: 1.5, 2.5"])
    assert positive_label(2.5, pd.Series([1.5, 2.5]), "bnum.csv") == 2.5  # what the trial gives AutoGluon


def test_a_positive_class_of_another_kind_is_one_clear_message(tmp_path: Path):
    pd.DataFrame({"x": range(4), "y": [0, 1] * 2}).to_csv(tmp_path / "t.csv", index=False)
    for value in ("[1, 2]", "{a: 1}", ".nan"):
        (tmp_path / "s.yaml").write_text(
            f"name: s\ntask: tabular_classification\ndata: {{train: ./t.csv, label: y}}\nmetric: f1\n"
            f"autogluon:\n  positive_class: {value}\n"
        )
        checked = run("validate", "s.yaml", cwd=tmp_path)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        errors = [line for line in checked.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "s.yaml:6:" in errors[0] and "autogluon.positive_class: " in errors[0], checked.stderr
        assert "a label value" in errors[0] and "Input should be" not in errors[0], errors


def test_regression_and_multiclass(tmp_path: Path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"house_id": range(100), "rooms": rng.integers(1, 6, 100), "area": rng.normal(80, 20, 100)})
    frame["price"] = frame["area"] * 1000 + rng.normal(0, 500, 100)
    frame["grade"] = np.repeat([1, 2, 3, 4], [70, 10, 10, 10])
    frame.to_csv(tmp_path / "houses.csv", index=False)
    reg = run("init", "houses.csv", "--label", "price", cwd=tmp_path)
    assert reg.returncode == 0, reg.stderr
    written = (tmp_path / "houses.yaml").read_text()  # the default -o: <table>.yaml here
    assert "task: tabular_regression" in written and "metric: root_mean_squared_error" in written
    assert "house_id" in written and "train: ./houses.csv" in written
    multi = run("init", "houses.csv", "--label", "grade", "-o", "-", cwd=tmp_path)
    assert multi.returncode == 0, multi.stderr
    assert "task: tabular_classification" in multi.stdout and "metric: balanced_accuracy" in multi.stdout
    assert "4 classes (few distinct whole numbers" in multi.stderr


def test_weekly_series_give_a_forecast_with_the_frequency_inferred(tmp_path: Path):
    weekly(tmp_path)
    result = run("init", "sales.csv", "--label", "units", "-o", "sales.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "sales.yaml").read_text()
    for line in ("task: time_series_forecasting", "timestamp: week", "item_id: shop", "freq: W-SUN", "metric: MASE"):
        assert line in text
    assert "prediction_length: 4   # 4 weeks ahead" in text
    assert "(pandas.infer_freq: W-SUN)" in result.stderr and "the other columns (price) are past covariates" in result.stderr
    as_tabular = run("init", "sales.csv", "--label", "units", "--task", "regression", "-o", "-", cwd=tmp_path)
    assert "task: tabular_regression" in as_tabular.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.csv", "--label", "y"], "nope.csv: no such file"),
        (["t.csv", "--label", "diagnosys"], "--label diagnosys: no such column in t.csv; did you mean 'diagnosis'?"),
        (["one.csv", "--label", "diagnosis"], "one.csv: 1 data row: a model needs a table of many rows"),
        (["bin.csv", "--label", "diagnosis"], "bin.csv: holds binary bytes (NUL), not a CSV table"),
        (["latin.csv", "--label", "diagnosis"], "latin.csv: line 3 is not UTF-8 text"),
        (["t.csv", "--label", "a", "--task", "forecasting"], "no column of dates"),
        (["t.csv", "--label", "diagnosis", "--task", "forecasting"], "a forecast predicts numbers, and diagnosis holds text"),
    ],
)
def test_refusals_write_nothing(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "t.csv").write_text("a,diagnosis\n1,x\n2,y\n3,x\n")
    (tmp_path / "one.csv").write_text("a,diagnosis\n1,x\n")
    (tmp_path / "bin.csv").write_bytes(b"a,diagnosis\n1,\x00x\n")
    (tmp_path / "latin.csv").write_bytes("a,diagnosis\n1,x\n2,caf\u00e9\n".encode("latin-1"))
    result = run("init", *args, "-o", "out.yaml", cwd=tmp_path)
    assert result.returncode == 64, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.yaml").exists() and not list(tmp_path.glob(".*tmp"))


def test_an_existing_spec_is_kept_unless_force(tmp_path: Path):
    (tmp_path / "t.csv").write_text("a,diagnosis\n1,x\n2,y\n3,x\n4,y\n")
    (tmp_path / "t.yaml").write_text("mine\n")
    kept = run("init", "t.csv", "--label", "diagnosis", cwd=tmp_path)
    assert kept.returncode == 64 and "t.yaml exists; give --force" in kept.stderr
    assert (tmp_path / "t.yaml").read_text() == "mine\n"
    forced = run("init", "t.csv", "--label", "diagnosis", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "task: tabular_classification" in (tmp_path / "t.yaml").read_text()


@pytest.mark.parametrize("kind", ["classification", "forecast"])
def test_the_written_spec_runs_on_the_local_backend(tmp_path: Path, kind: str):
    if kind == "classification":
        table, label = medical(tmp_path), "diagnosis"
    else:
        table, label = weekly(tmp_path), "units"
    spec = tmp_path / "spec.yaml"
    assert run("init", str(table), "--label", label, "-o", str(spec)).returncode == 0
    env = {"CLOUDAUTO_HOME": str(tmp_path / "home")}
    result = run("run", str(spec), "--set", "limits.max_trials=1", "--set", "sweep.space.time_limit=30", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    best = json.loads(run("best", "latest", env=env).stdout)
    assert best["metric"] == ("roc_auc" if kind == "classification" else "MASE") and best["objective"] is not None


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink"])
def test_the_output_may_not_be_the_input_table(tmp_path: Path, how: str):
    """-o naming the table (also by another path, a symlink or a hard link) would overwrite the data with the spec."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "work").mkdir()
    table = data / "train.csv"
    original = "a,target\n1,x\n2,y\n3,x\n4,y\n"
    table.write_text(original)
    out = {"same": "../data/train.csv", "relative": "../data/../data/train.csv"}.get(how, "../data/other.csv")
    if how == "symlink":
        (data / "other.csv").symlink_to(table)
    elif how == "hardlink":
        (data / "other.csv").hardlink_to(table)
    result = run("init", "../data/train.csv", "--label", "target", "-o", out, "--force", cwd=tmp_path / "work")
    assert result.returncode == 64, result.stderr
    assert "is the table" in result.stderr and "Traceback" not in result.stderr
    assert table.read_text() == original


@pytest.mark.parametrize(
    "header, twice",
    [("a,label,label", "label"), ("a,a,label", "a")],
)
def test_a_column_named_twice_is_refused_by_init(tmp_path: Path, header: str, twice: str):
    """pandas renames the copy (`label.1`): init would infer from one and predict refuse the same file later."""
    (tmp_path / "t.csv").write_text(header + "\n" + "".join(f"{i},{i % 2},{i * 3}\n" for i in range(20)))
    result = run("init", "t.csv", "--label", "label", "-o", "out.yaml", cwd=tmp_path)
    assert result.returncode == 64, result.stderr
    assert f"t.csv:1: the column '{twice}' is named twice in the header" in result.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_class_values_are_written_as_plain_values_not_numpy_reprs(tmp_path: Path):
    frame = pd.DataFrame({"x": range(60), "visits": np.repeat([3, 9, 1], [50, 5, 5])})
    frame.to_csv(tmp_path / "visits.csv", index=False)
    multi = run("init", "visits.csv", "--label", "visits", "-o", "-", cwd=tmp_path)
    assert multi.returncode == 0, multi.stderr
    assert "classes of unequal sizes (3: 50 rows, " in multi.stdout
    assert "np." not in multi.stdout + multi.stderr
    frame.assign(visits=7).to_csv(tmp_path / "one.csv", index=False)
    one = run("init", "one.csv", "--label", "visits", "--task", "tabular_classification", "-o", "-", cwd=tmp_path)
    assert one.returncode != 0 and "one class only (7)" in one.stderr, one.stderr
