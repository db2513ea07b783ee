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


def issues(path: Path, level: str = "error") -> list[str]:
    return [f"{i.field}: {i.message}" for i in data_issues(cloudauto.JobSpec.from_file(path)) if i.level == level]


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


def test_day_first_dates_are_named_as_such_without_pandas_warning(tmp_path, recwarn):
    """dd/mm/yyyy dates: a pandas UserWarning (with its source line) was printed, then '249 values are not dates or
    times, e.g. 13/01/2024', a valid day-first date; the other values were silently read month first."""
    import pandas as pd

    stamps = pd.date_range("2024-01-01", periods=40, freq="D").strftime("%d/%m/%Y")
    pd.DataFrame({"ts": stamps, "station": "a", "rides": range(40)}).to_csv(tmp_path / "train.csv", index=False)
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: ts\ntask: time_series_forecasting\nmetric: MASE\n"
        "data: {train: train.csv, label: rides, timestamp: ts, item_id: station, prediction_length: 2}\n"
    )
    (found,) = [f for f in issues(path) if f.startswith("data.timestamp")]
    assert "written day first ('13/01/2024' is day 13)" in found and "ISO 8601 (YYYY-MM-DD)" in found, found
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [str(w.message) for w in recwarn]


def test_a_forecast_test_file_shorter_than_training_and_horizon_is_warned_of(tmp_path):
    """A test file of each series' last 8 rows (prediction_length 7, 143 rows in training) passed and scored MASE 5e-9
    where the forecast's real figure was 0.5: the test score forecasts from the test file's rows alone."""
    import pandas as pd

    path = series_spec(tmp_path, "D", periods=12)
    path.write_text(path.read_text().replace("  label:", "  test: job_specs/bikes/test.csv\n  label:"))
    whole = pd.read_csv(tmp_path / "job_specs" / "bikes" / "train.csv")
    whole.groupby("station").tail(4).to_csv(tmp_path / "job_specs" / "bikes" / "test.csv", index=False)
    assert issues(path) == []
    (warned,) = issues(path, "warning")
    assert "series 's0' has 4 rows there, 12 in training (1 more series alike)" in warned, warned
    stamps = pd.to_datetime(whole["ts"])
    ahead = [whole.assign(ts=(stamps + pd.Timedelta(days=d)).astype(str)).groupby("station").tail(1) for d in (1, 2)]
    pd.concat([whole, *ahead]).to_csv(tmp_path / "job_specs" / "bikes" / "test.csv", index=False)
    assert issues(path) == [] and issues(path, "warning") == []  # the whole series and the next steps


def test_a_sparse_series_is_counted_in_steps_of_the_specs_freq(tmp_path):
    """5 rows spread over 24 days with freq D are 24 steps once AutoGluon resamples them: not refused as 5 rows."""
    import pandas as pd

    path = series_spec(tmp_path, "D", periods=12)
    path.write_text(path.read_text().replace("  label:", "  test: job_specs/bikes/test.csv\n  label:"))
    text = path.read_text()
    assert "prediction_length: 2" in text
    path.write_text(text.replace("prediction_length: 2", "prediction_length: 5"))
    days = pd.to_datetime(["2026-01-01", "2026-01-06", "2026-01-12", "2026-01-18", "2026-01-24"])
    pd.DataFrame({"ts": days, "station": "s0", "rides": range(5)}).to_csv(
        tmp_path / "job_specs" / "bikes" / "test.csv", index=False
    )
    assert not [f for f in issues(path) if f.startswith("data.test")]


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


def test_a_test_or_validation_file_missing_a_feature_is_refused_naming_file_and_column(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    path = write(tmp_path, "age,size,diagnosis\n1,3,a\n2,4,b\n3,5,a\n")
    (tmp_path / "test.csv").write_text("age,diagnosis\n1,a\n2,b\n")
    (tmp_path / "valid.csv").write_text("size,diagnosis\n1,a\n2,b\n")
    path.write_text(path.read_text().replace("  label:", "  validation: valid.csv\n  test: test.csv\n  label:"))
    found = issues(path)
    assert any(f.startswith("data.test: test.csv lacks the feature column 'size' of train.csv") for f in found), found
    assert any(f.startswith("data.validation: valid.csv lacks the feature column 'age' of train.csv") for f in found), found
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:6:9: error: data.test: test.csv lacks the feature column 'size'" in result.output
    assert f"{path}:5:15: error: data.validation: valid.csv lacks the feature column 'age'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "home" / "runs").exists()  # no job was written
    (tmp_path / "test.csv").write_text("size,age,diagnosis,extra\n1,2,a,x\n")  # order and extra columns do not matter
    (tmp_path / "valid.csv").write_text("age,size,diagnosis\n1,2,a\n")
    assert issues(path) == []


def series_spec(tmp_path: Path, freq: str, *, periods: int = 10, step: str = "D", items: int = 2) -> Path:
    import pandas as pd

    stamps = pd.date_range("2026-01-01", periods=periods, freq=step)
    frame = pd.concat([pd.DataFrame({"ts": stamps, "station": f"s{i}", "rides": range(periods)}) for i in range(items)])
    folder = tmp_path / "job_specs" / "bikes"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "train.csv", index=False)
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: ts\ntask: time_series_forecasting\nmetric: MASE\n"
        "data:\n  train: job_specs/bikes/train.csv\n  label: rides\n  timestamp: ts\n  item_id: station\n"
        f"  prediction_length: 2\n  freq: {freq}\n"
    )
    return path


def test_a_forecast_freq_that_contradicts_the_data_is_refused_naming_both(tmp_path, monkeypatch):
    (found,) = issues(series_spec(tmp_path, "H"))
    assert found.startswith("data.freq: data.freq is H but job_specs/bikes/train.csv is daily (D)"), found
    assert "set data.freq: D" in found
    assert issues(series_spec(tmp_path, "D")) == []
    assert issues(series_spec(tmp_path, "h", step="h")) == []
    assert issues(series_spec(tmp_path, "H", step="h")) == []  # pandas' old alias names the same frequency
    assert issues(series_spec(tmp_path, "15min", step="15min")) == []
    (weekly,) = issues(series_spec(tmp_path, "D", step="W-SUN"))
    assert "is at frequency W-SUN" in weekly
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["run", str(series_spec(tmp_path, "H"))])
    assert result.exit_code == 1 and ":10:9: error: data.freq: data.freq is H but" in result.output, result.output
    assert not (tmp_path / "home" / "runs").exists()


def test_irregular_series_leave_freq_to_say_how_to_resample(tmp_path):
    path = series_spec(tmp_path, "D")
    train = tmp_path / "job_specs" / "bikes" / "train.csv"
    lines = train.read_text().splitlines()
    train.write_text("\n".join([lines[0], *lines[1:4], *lines[6:]]) + "\n")  # a gap: no frequency to infer
    assert issues(path) == []


def test_a_classification_on_a_continuous_label_is_refused_with_the_regression_hint(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    csv = "age,diagnosis\n" + "".join(f"{i},{v:.3f}\n" for i, v in enumerate(rng.normal(50, 10, 200)))
    (found,) = issues(write(tmp_path, csv))
    assert found.startswith(
        "data.label: label 'diagnosis' in train.csv holds continuous numbers (199 distinct values in 200 rows"
    )
    assert "use task: tabular_regression" in found
    # classes written as numbers are classes: ints, and floats that are whole numbers
    assert issues(write(tmp_path, "age,diagnosis\n" + "".join(f"{i},{i % 3}\n" for i in range(60)))) == []
    assert issues(write(tmp_path, "age,diagnosis\n" + "".join(f"{i},{i % 3}.0\n" for i in range(60)))) == []
    many_ints = "age,diagnosis\n" + "".join(f"{i},{i * 7}\n" for i in range(60))  # AutoGluon would infer regression
    (ints,) = issues(write(tmp_path, many_ints))
    assert "60 distinct values in 60 rows" in ints
    path = write(tmp_path, csv)
    path.write_text(path.read_text() + "autogluon:\n  problem_type: multiclass\n")  # said outright: the user's call
    assert issues(path) == []


def test_failure_groups_keep_the_first_meaningful_line_of_an_error():
    from cloudauto.backend import Trial, TrialStatus
    from cloudauto.report import failure_groups

    metric = (  # AutoGluon's words when it took the label for a regression
        "ValueError: eval_metric='accuracy' is not a valid metric for problem_type='regression'. Valid problem_types "
        "for this metric: ['binary', 'multiclass']\nValid metrics for problem_type='regression':\n['r2', 'rmse']"
    )
    tail = "the worker process died (exit code 1); log ends: Traceback (most recent call last): | File x.py | KeyError: 'b' | [cloudauto] exit"
    trials = [
        Trial("0", 0, {}, TrialStatus.FAILED, error=metric),
        Trial("1", 1, {}, TrialStatus.FAILED, error=metric),
        Trial("2", 2, {}, TrialStatus.FAILED, error=tail),
    ]
    assert failure_groups(trials) == [
        "2 trials failed (0, 1): ValueError: eval_metric='accuracy' is not a valid metric for problem_type='regression'. "
        "Valid problem_types for this metric: ['binary', 'multiclass']",
        "trial 2 failed: KeyError: 'b'",
    ]


def test_a_binary_metric_that_depends_on_the_positive_class_warns_when_none_is_set(tmp_path):
    csv = "age,diagnosis\n1,benign\n2,malignant\n3,benign\n"
    found = [i for i in data_issues(cloudauto.JobSpec.from_file(write(tmp_path, csv, metric="f1")))]
    (warning,) = [i for i in found if i.path == ("autogluon", "positive_class")]
    assert warning.level == "warning"
    assert "f1 scores one class as positive" in warning.message and "'malignant'" in warning.message
    assert "autogluon.positive_class" in warning.hint
    assert issues(write(tmp_path, csv, metric="roc_auc")) == []  # the same whichever class is positive
    named = write(tmp_path, csv, metric="f1")
    named.write_text(named.read_text() + "autogluon:\n  positive_class: benign\n")
    assert issues(named) == []


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    """pandas would rename the copy (`a.1`): the job trains, then predict refuses the same file."""
    (found,) = issues(write(tmp_path, "a,a,diagnosis\n1,2,x\n3,4,y\n5,6,x\n"))
    assert found == "data.train: train.csv:1: the column 'a' is named twice in the header; name each column once"


def test_a_forecast_test_file_holding_only_the_horizon_is_refused_naming_file_series_and_lengths(tmp_path, monkeypatch):
    """A test file of only each series' last prediction_length rows passed submit, every trial trained, and the job
    ended "test set not scored (ValueError ...)" with exit 0: AutoGluon forecasts the test file's last
    prediction_length steps from the rows before them, so each test series is the whole series plus the horizon."""
    import pandas as pd

    path = series_spec(tmp_path, "D", periods=12)
    path.write_text(path.read_text().replace("  label:", "  test: job_specs/bikes/test.csv\n  label:"))
    whole = pd.read_csv(tmp_path / "job_specs" / "bikes" / "train.csv")
    tail = whole.groupby("station").tail(2)  # the horizon only (prediction_length 2)
    tail.to_csv(tmp_path / "job_specs" / "bikes" / "test.csv", index=False)
    (found,) = issues(path)
    assert found.startswith("data.test: job_specs/bikes/test.csv: series 's0' has 2 rows ('s1' 2);"), found
    assert "longer than prediction_length (2)" in found and "at least 3" in found
    assert "the whole series (its training rows too) and the next 2 steps after it" in found
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1 and ":6:9: error: data.test: job_specs/bikes/test.csv: series 's0'" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "home" / "runs").exists()

    one_short = pd.concat([whole[whole.station == "s0"], whole[whole.station == "s1"].tail(3)])
    one_short.to_csv(tmp_path / "job_specs" / "bikes" / "test.csv", index=False)
    assert issues(path) == []  # 3 rows: one step of history before the horizon, what AutoGluon needs
    pd.concat([one_short, whole[whole.station == "s1"].head(1).assign(station="s2")]).to_csv(
        tmp_path / "job_specs" / "bikes" / "test.csv", index=False
    )
    (found,) = issues(path)
    assert found.startswith("data.test: job_specs/bikes/test.csv: series 's2' has 1 row;"), found
    (tmp_path / "job_specs" / "bikes" / "valid.csv").write_text(whole.head(2).to_csv(index=False))
    path.write_text(path.read_text().replace("  label:", "  validation: job_specs/bikes/valid.csv\n  label:"))
    assert any(f.startswith("data.validation: job_specs/bikes/valid.csv: series 's0' has 2 rows;") for f in issues(path))
