"""Local batch inference: a real iris model scores files in chunks over worker processes; a kill mid-way and
the same command again carry on from the chunks written; the result equals in-process predictions row by row."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus, NotSupportedError

from .conftest import finished_iris_job, wait_until

EXE = str(Path(sys.executable).with_name("cloudauto"))
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris_job(tmp_path_factory):
    """One finished iris trial (GBM), in a home of this module's own."""
    root = tmp_path_factory.mktemp("batch")
    with finished_iris_job(root) as job:
        yield job, root


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Iris-shaped rows around the data set's range, so every class is predicted somewhere."""
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return pd.DataFrame(np.round(rng.uniform(low, high, size=(n, 4)), 1), columns=FEATURES)


def in_process(job, frame: pd.DataFrame, probabilities: bool = False) -> pd.DataFrame:
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor.load(str(Path(job.best_trial().artifacts["dir"]) / "model"))
    if not probabilities:
        return pd.DataFrame({"prediction": predictor.predict(frame).to_numpy()})
    proba = predictor.predict_proba(frame)
    return pd.DataFrame({"prediction": predictor.predict_from_proba(proba).to_numpy(), **{f"proba_{c}": proba[c] for c in proba}})


def test_a_folder_of_csv_and_parquet_is_scored_in_input_order_like_in_process_predict(iris_job, tmp_path):
    job, _ = iris_job
    folder = tmp_path / "in"
    folder.mkdir()
    first, second = rows(2500, 1), rows(1700, 2)
    first.to_csv(folder / "a.csv", index=False)
    second.to_parquet(folder / "b.parquet", index=False)
    batch = job.predict_batch(folder, tmp_path / "out.parquet", probabilities=True, chunk_rows=1000, workers=2)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    result = batch.result()
    expected = in_process(job, pd.concat([first, second], ignore_index=True), probabilities=True)
    assert len(result) == 4200 and list(result.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)
    assert batch.failures() == []
    assert "chunk 2: 500 rows" in batch.logs() and "chunk 4: 700 rows" in batch.logs()  # a.csv 1000+1000+500, b 1000+700
    assert not (batch.dir / "parts").exists()  # working state, gone once the output is in place
    again = job.predict_batch(folder, tmp_path / "out.parquet", probabilities=True, chunk_rows=1000, workers=2)
    assert again.id == batch.id and again.status() is JobStatus.COMPLETED  # the same command: nothing to do


def test_rows_that_cannot_be_scored_are_listed_and_keep_their_place(iris_job, tmp_path):
    job, _ = iris_job
    frame = rows(30).astype(object)
    frame.loc[7, "petal width (cm)"] = "wide"
    frame.loc[21, "sepal length (cm)"] = "n/a?"
    frame.to_csv(tmp_path / "in.csv", index=False)
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=10)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    failures = batch.failures()
    assert [(f.row, f.reason) for f in failures] == [
        (7, "column 'petal width (cm)' takes numbers, not 'wide'"),
        (21, "column 'sepal length (cm)' takes numbers, not 'n/a?'"),
    ]
    result = batch.result()
    assert len(result) == 30 and result["prediction"].isna().tolist() == [i in (7, 21) for i in range(30)]
    good = [i for i in range(30) if i not in (7, 21)]
    expected = in_process(job, rows(30).iloc[good])["prediction"].tolist()
    assert result["prediction"].iloc[good].tolist() == expected
    # the counts are of rows: 28 scored and 2 failed make the input's 30
    assert batch.status_reason().startswith(f"28 rows scored into {tmp_path / 'out.csv'}; 2 rows failed (see ")


def test_bad_inputs_are_clear_errors_before_anything_runs(iris_job, tmp_path):
    job, _ = iris_job
    with pytest.raises(cloudauto.CloudautoError, match="no such file or folder"):
        job.predict_batch(tmp_path / "nowhere.csv", tmp_path / "out.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(cloudauto.CloudautoError, match="reads CSV or Parquet files"):
        job.predict_batch(tmp_path / "x.json", tmp_path / "out.csv")
    rows(5).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(cloudauto.CloudautoError, match="the output is a .csv or .parquet file"):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "out.txt")
    with pytest.raises(cloudauto.CloudautoError, match="is also an input"):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "in.csv")
    with pytest.raises(cloudauto.CloudautoError, match="its trials are 0 to 0"):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", trial=5)
    rows(5).drop(columns=[FEATURES[0]]).to_csv(tmp_path / "short.csv", index=False)
    batch = job.predict_batch(tmp_path / "short.csv", tmp_path / "out.csv")
    assert batch.wait(progress=False) is JobStatus.FAILED
    assert "missing columns: sepal length (cm)" in batch.status_reason()
    assert not (tmp_path / "out.csv").exists()  # nothing half-written


@pytest.mark.slow
def test_a_killed_batch_carries_on_from_its_chunks_when_the_command_runs_again(iris_job, tmp_path):
    job, root = iris_job
    frame = rows(60_000, 3)
    frame.to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "scored.csv"
    env = {**os.environ, "CLOUDAUTO_HOME": str(root / "home")}
    argv = [EXE, "predict", job.id, str(tmp_path / "big.csv"), "-o", str(out), "--chunk-rows", "2000", "--no-wait"]
    started = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert started.returncode == 0, started.stderr
    batch_id = started.stdout.strip()
    folder = root / "home" / "batches" / batch_id
    wait_until(lambda: len(list((folder / "parts").glob("*.parquet"))) >= 3, timeout=180, poll=0.05)
    runner = json.loads((folder / "pid.json").read_text())["pid"]
    os.killpg(runner, signal.SIGKILL)  # the runner and its workers, mid-way
    wait_until(lambda: not Path(f"/proc/{runner}").exists() or "Z" in Path(f"/proc/{runner}/stat").read_text().split()[2])
    written = len(list((folder / "parts").glob("*.parquet")))
    assert 3 <= written < 30 and not out.exists()
    status = subprocess.run(
        [EXE, "predict", job.id, str(tmp_path / "big.csv"), "-o", str(out), "--chunk-rows", "2000", "--no-wait"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert status.returncode == 0 and status.stdout.strip() == batch_id  # the same batch, carried on
    again = subprocess.run(argv[:-1], capture_output=True, text=True, timeout=600, env=env)  # the same command, waiting
    assert again.returncode == 0, again.stderr
    log = (folder / "batch.log").read_text()
    assert f"resumed: {written} chunk(s) already written are skipped" in log
    result = pd.read_csv(out)
    assert len(result) == 60_000
    assert result["prediction"].tolist() == in_process(job, frame)["prediction"].tolist()


def test_the_cli_prints_failed_rows_and_exits_4_and_refuses_options_of_other_backends(iris_job, tmp_path):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    job, _ = iris_job
    frame = rows(12).astype(object)
    frame.loc[4, FEATURES[1]] = "??"
    frame.to_csv(tmp_path / "in.csv", index=False)
    runner = CliRunner()
    done = runner.invoke(cli, ["predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv")])
    assert done.exit_code == 4, done.output
    assert "row 4 (line 6 of in.csv): column 'sepal width (cm)' takes numbers, not '??'" in done.output
    assert len(pd.read_csv(tmp_path / "out.csv")) == 12
    # one line of counts, each the real number and in its own number: 11 scored, 1 failed, of the 12 rows
    (summary,) = [line for line in done.output.splitlines() if line.startswith("batch ") and "completed" in line]
    assert f"(11 rows scored into {tmp_path / 'out.csv'}; 1 row failed (see {tmp_path / 'out.csv'}.failures.csv))" in summary
    assert not re.search(r"\b1 rows\b", done.output)
    for args, message in (
        (["--backend", "sagemaker", "--workers", "2"], "--workers does not apply to the sagemaker backend"),
        (["--backend", "azureml", "--no-wait"], "read back by the command that started it"),
        (["--instance-type", "ml.m5.large"], "--instance-type does not apply to the local backend"),
    ):
        refused = runner.invoke(cli, ["predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"), *args])
        assert refused.exit_code == 64 and message in refused.output, refused.output


def test_short_long_and_empty_rows_fail_alone(iris_job, tmp_path):
    """As a non-number does: the row keeps its place with its reason, the others are scored."""
    job, _ = iris_job
    good = rows(6)
    lines = good.to_csv(index=False).splitlines()
    lines[2] = "14.1,2"  # row 1: short
    lines[4] = ",,,"  # row 3: no values
    lines[5] = lines[5] + ",9"  # row 4: long
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=4)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert [(f.row, f.reason) for f in batch.failures()] == [
        (1, "the row has 2 fields; the header has 4"),
        (3, "the row has no values"),
        (4, "the row has 5 fields; the header has 4"),
    ]
    result = batch.result()
    assert result["prediction"].isna().tolist() == [False, True, False, True, True, False]
    kept = [0, 2, 5]
    assert result["prediction"].iloc[kept].tolist() == in_process(job, good.iloc[kept])["prediction"].tolist()
    assert batch.status_reason().startswith("3 rows scored into ") and "; 3 rows failed (see " in batch.status_reason()


def test_a_rerun_reuses_a_finished_batch_only_when_its_output_and_input_are_as_they_were(iris_job, tmp_path):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    job, _ = iris_job
    a, b, out = tmp_path / "A.csv", tmp_path / "B.csv", tmp_path / "out.csv"
    rows(5, 1).to_csv(a, index=False)
    rows(12, 2).to_csv(b, index=False)
    runner = CliRunner()

    def predict(source: Path) -> str:
        done = runner.invoke(cli, ["predict", job.id, str(source), "-o", str(out)])
        assert done.exit_code == 0, done.output
        return done.output

    expected_a = in_process(job, rows(5, 1))["prediction"].tolist()
    assert "5 rows scored" in predict(a)
    assert "12 rows scored" in predict(b) and len(pd.read_csv(out)) == 12
    assert "5 rows scored" in predict(a)  # the batch of A is found again, but out.csv holds B's rows: written again
    assert pd.read_csv(out)["prediction"].tolist() == expected_a
    written = out.read_bytes()
    assert "5 rows scored" in predict(a) and out.read_bytes() == written  # unchanged: reused as it is
    lines = out.read_text().splitlines()
    out.write_text("\n".join([lines[0], "edited", *lines[2:]]) + "\n")  # a hand edit: not what the batch wrote
    assert "5 rows scored" in predict(a) and out.read_bytes() == written
    out.unlink()
    assert "5 rows scored" in predict(a) and out.read_bytes() == written

    # the input changed in place (same path, size and modification time): the old answers are not trusted
    changed = rows(5, 1)
    changed.iloc[:, 2] = changed.iloc[::-1, 2].to_numpy()  # the petal lengths reversed: same bytes, another order
    stat = a.stat()
    changed.to_csv(a, index=False)
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert a.stat().st_size == stat.st_size and in_process(job, changed)["prediction"].tolist() != expected_a
    assert "5 rows scored" in predict(a)
    assert pd.read_csv(out)["prediction"].tolist() == in_process(job, changed)["prediction"].tolist()


def test_predict_on_a_forecasting_job_refuses_before_it_creates_anything(tmp_path, monkeypatch):
    """A forecaster answers each series' next steps from its history, not a row per row: predict says so, exit 2."""
    pytest.importorskip("autogluon.timeseries", reason="the cloudauto-local[timeseries] extra is not installed")
    from click.testing import CliRunner

    from cloudauto.cli import main as cli
    from job_specs import make_data

    from ..conftest import ROOT

    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    make_data.bike(tmp_path, stations=2, days=10)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "bike_forecast.yaml",
        overrides=[
            f"data.train={tmp_path}/bike/train.csv",
            f"data.test={tmp_path}/bike/test.csv",
            "sweep.space={models: Naive, time_limit: 20}",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    history, out = tmp_path / "bike" / "train.csv", tmp_path / "forecast.csv"
    batches = tmp_path / "home" / "batches"
    for extra in ([], ["--no-wait"], ["--probabilities", "--chunk-rows", "10"]):
        refused = CliRunner().invoke(cli, ["predict", job.id, str(history), "-o", str(out), *extra])
        assert refused.exit_code == 2, refused.output  # README: the backend does not offer the operation
        assert f"job {job.id} is a time_series_forecasting job" in refused.output
        assert f"cloudauto deploy {job.id}" in refused.output and "cloudauto score" in refused.output
        assert "Traceback" not in refused.output and "batch " not in refused.output
        assert not out.exists() and not (batches.exists() and any(batches.iterdir()))
    with pytest.raises(NotSupportedError, match="time_series_forecasting job"):  # the Python API refuses as the CLI does
        job.predict_batch(history, out)
    assert not out.exists() and not (batches.exists() and any(batches.iterdir()))


def test_integer_classes_stay_integers_when_rows_fail(iris_job, tmp_path):
    """A failed row leaves a blank, not a float column: the class is `0`, never `0.0`, in CSV and Parquet."""
    job, _ = iris_job
    frame = rows(12, 4).astype(object)
    frame.loc[2, FEATURES[0]] = "x"
    frame.loc[8:11, FEATURES[1]] = "?"  # chunk 2 (rows 8-11) fails whole
    frame.to_csv(tmp_path / "in.csv", index=False)
    expected = in_process(job, rows(12, 4).iloc[[0, 1, 3, 4, 5, 6, 7]])["prediction"].tolist()
    for name in ("out.csv", "out.parquet"):
        batch = job.predict_batch(tmp_path / "in.csv", tmp_path / name, chunk_rows=4)
        assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
        assert len(batch.failures()) == 5
    written = [line.split(",")[0] for line in (tmp_path / "out.csv").read_text().splitlines()[1:]]
    assert written[2] == "" and written[8:] == [""] * 4
    assert [written[i] for i in (0, 1, 3, 4, 5, 6, 7)] == [str(c) for c in expected], written
    table = pd.read_parquet(tmp_path / "out.parquet")["prediction"]
    assert table.dtype.kind == "i", table.dtype
    assert table.isna().tolist() == [i == 2 or i >= 8 for i in range(12)]


def test_a_duplicated_column_refuses_the_batch_before_scoring(iris_job, tmp_path):
    """The endpoint refuses a column named twice; a batch did not (it scored the first copy): exit 4, nothing written."""
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    job, root = iris_job
    lines = rows(5).to_csv(index=False).splitlines()
    lines = [lines[0] + "," + FEATURES[1]] + [line + ",9.9" for line in lines[1:]]  # 'sepal width (cm)' twice
    (tmp_path / "dup.csv").write_text("\n".join(lines) + "\n")
    batches = root / "home" / "batches"
    before = set(batches.iterdir()) if batches.exists() else set()
    done = CliRunner().invoke(cli, ["predict", job.id, str(tmp_path / "dup.csv"), "-o", str(tmp_path / "out.csv")])
    assert done.exit_code == 4, done.output
    assert f"{tmp_path / 'dup.csv'}: column 'sepal width (cm)' appears twice in the header" in done.output
    assert "Traceback" not in done.output
    assert not (tmp_path / "out.csv").exists() and (set(batches.iterdir()) if batches.exists() else set()) == before


def test_a_second_batch_into_the_output_of_a_running_one_is_refused_naming_it(iris_job, tmp_path):
    """Two predicts of different inputs into one file both said completed; the file held one of them."""
    from cloudauto.backend import BatchError

    job, _ = iris_job
    a, b, out = tmp_path / "A.csv", tmp_path / "B.csv", tmp_path / "race.csv"
    rows(300, 5).to_csv(a, index=False)
    rows(200, 6).to_csv(b, index=False)
    first = job.predict_batch(a, out, workers=1)
    assert job.predict_batch(a, out, workers=1).id == first.id  # the same command again follows it
    made = set(first.dir.parent.iterdir())
    with pytest.raises(BatchError, match=rf"batch {first.id} is writing {re.escape(str(out))}"):
        job.predict_batch(b, out, workers=1)
    assert set(first.dir.parent.iterdir()) == made  # the refused batch made nothing
    assert first.wait(progress=False) is JobStatus.COMPLETED, first.logs()
    assert len(pd.read_csv(out)) == 300
    second = job.predict_batch(b, out, workers=1)  # the first has finished: its lock went with it
    assert second.wait(progress=False) is JobStatus.COMPLETED, second.logs()
    assert len(pd.read_csv(out)) == 200 and second.status_reason().startswith("200 rows scored")
    # the first batch's summary no longer claims rows the file does not hold
    assert "300 rows scored" in first.status_reason() and "has changed since" in first.status_reason()


def _bad_rows(n: int, seed: int, bad: dict[int, str]) -> pd.DataFrame:
    frame = rows(n, seed).astype(object)
    for row, value in bad.items():
        frame.loc[row, FEATURES[row % 4]] = value
    return frame


def test_the_streamed_output_is_what_writing_the_parts_at_once_gives_byte_for_byte(iris_job, tmp_path):
    """Parts go into the output as they come; a column first seen late (`error`, a chunk failed whole, with and
    without probabilities) rewrites the lines before it: the bytes are the old one-table write's."""
    job, _ = iris_job
    frame = _bad_rows(40, 7, {13: "x", 30: "?"})
    frame.loc[20:29, FEATURES[0]] = "none"  # chunk 2 fails whole
    frame.to_csv(tmp_path / "in.csv", index=False)
    for probabilities in (False, True):
        out = tmp_path / f"out_{probabilities}.csv"
        batch = job.predict_batch(tmp_path / "in.csv", out, chunk_rows=10, probabilities=probabilities)
        assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
        assert "workers: forked from the model loaded once" in batch.logs()
        table = tmp_path / f"at_once_{probabilities}.parquet"  # assembled from the parts at once, as one table
        whole = job.predict_batch(tmp_path / "in.csv", table, chunk_rows=10, probabilities=probabilities)
        assert whole.wait(progress=False) is JobStatus.COMPLETED and whole.status_reason().startswith("28 rows scored")
        at_once = tmp_path / f"at_once_{probabilities}.csv"
        pd.read_parquet(table).to_csv(at_once, index=False)
        Path(f"{table}.failures.csv").rename(f"{at_once}.failures.csv")
        assert out.read_bytes() == at_once.read_bytes()
        assert Path(f"{out}.failures.csv").read_bytes() == Path(f"{at_once}.failures.csv").read_bytes()
        assert [f.row for f in batch.failures()] == [13, *range(20, 31)]
        assert not list(tmp_path.glob(".*.tmp"))  # nothing left beside the output


def kill_midway(argv: list[str], env: dict[str, str], root: Path, parts: int) -> Path:
    """Start `argv` (a predict) with --no-wait, kill its runner and workers once `parts` chunks are written: its folder."""
    started = subprocess.run([*argv, "--no-wait"], capture_output=True, text=True, timeout=120, env=env)
    assert started.returncode == 0, started.stderr
    folder = root / "home" / "batches" / started.stdout.strip()
    wait_until(lambda: len(list((folder / "parts").glob("*.parquet"))) >= parts, timeout=180, poll=0.05)
    runner = json.loads((folder / "pid.json").read_text())["pid"]
    os.killpg(runner, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{runner}").exists() or "Z" in Path(f"/proc/{runner}/stat").read_text().split()[2])
    return folder


@pytest.mark.slow
def test_a_killed_forked_batch_resumes_to_the_bytes_of_one_run_at_once_by_spawned_workers(iris_job, tmp_path, monkeypatch):
    """Kill the runner and its forked workers mid-way, lose some parts' rendered lines, run again: the output and the
    failures file are byte for byte those of an uninterrupted batch whose workers each loaded the model (spawn)."""
    job, root = iris_job
    frame = _bad_rows(40_000, 8, {5: "x", 21_007: "wide", 39_999: "?"})
    frame.to_csv(tmp_path / "big.csv", index=False)
    out, reference = tmp_path / "scored.csv", tmp_path / "reference.csv"
    env = {**os.environ, "CLOUDAUTO_HOME": str(root / "home")}
    argv = [EXE, "predict", job.id, str(tmp_path / "big.csv"), "-o", str(out), "--chunk-rows", "1000"]
    folder = kill_midway(argv, env, root, 4)
    written = sorted((folder / "parts").glob("*.parquet"))
    assert 4 <= len(written) < 40 and not out.exists()
    for part in written[:2]:  # parts whose lines were not rendered (a kill between the two files): rendered again
        part.with_suffix(".csv").unlink(missing_ok=True)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 4, again.stderr  # rows failed: README's exit 4, with the output written
    assert f"resumed: {len(written)} chunk(s) already written are skipped" in (folder / "batch.log").read_text()
    assert not list(tmp_path.glob(".*.tmp"))

    monkeypatch.setenv("CLOUDAUTO_BATCH_START", "spawn")
    batch = job.predict_batch(tmp_path / "big.csv", reference, chunk_rows=1000)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert "workers: spawned, each loads the model (CLOUDAUTO_BATCH_START=spawn)" in batch.logs()
    assert out.read_bytes() == reference.read_bytes()
    failures = pd.read_csv(f"{out}.failures.csv")
    assert pd.read_csv(f"{reference}.failures.csv").equals(failures)
    assert failures["row"].tolist() == [5, 21_007, 39_999] and failures["line"].tolist() == [7, 21_009, 40_001]
    assert failures["reason"].tolist() == [
        f"column {FEATURES[1]!r} takes numbers, not 'x'",
        f"column {FEATURES[3]!r} takes numbers, not 'wide'",
        f"column {FEATURES[3]!r} takes numbers, not '?'",
    ]
    result = pd.read_csv(out)
    good = [i for i in range(40_000) if i not in (5, 21_007, 39_999)]
    assert result["prediction"].isna().sum() == 3 and result["error"].notna().sum() == 3
    assert (
        result["prediction"].iloc[good].astype(int).tolist() == in_process(job, rows(40_000, 8).iloc[good])["prediction"].tolist()
    )


def test_a_model_is_persisted_as_autogluon_persists_it_without_weighing_it_when_its_files_fit(iris_job, monkeypatch):
    """The same models in memory as `predictor.persist()`; AutoGluon's weighing (a pickle of each model) is skipped
    where the files are far below its limit, and decides where they are not (here: no memory free, nothing persisted)."""
    from autogluon.common.utils.resource_utils import ResourceManager
    from autogluon.tabular import TabularPredictor

    from cloudauto.runtime.inference import Model

    job, _ = iris_job
    model_dir = Path(job.best_trial().artifacts["dir"]) / "model"
    plain = TabularPredictor.load(str(model_dir), require_py_version_match=False)
    plain.persist()
    fast = Model(model_dir)
    assert sorted(fast.predictor._trainer.models) == sorted(plain._trainer.models) and fast.predictor._trainer.models
    monkeypatch.setattr(ResourceManager, "get_available_virtual_mem", staticmethod(lambda format="B": 1.0))
    assert Model(model_dir).predictor._trainer.models == {}  # AutoGluon's own check refused


# ---- kept columns, input read as it is (at1) ---------------------------------------------------------------
def _cli(*args: str):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    return CliRunner().invoke(cli, list(args))


def _batch_folders(root: Path) -> set[Path]:
    batches = root / "home" / "batches"
    return {p for p in batches.iterdir() if p.name != "locks"} if batches.exists() else set()


@pytest.mark.parametrize(
    "keep, clash",
    [
        (["id,prediction"], "prediction"),
        (["id", "_row"], "_row"),
        (["_file"], "_file"),
        (["error"], "error"),
        (["proba_setosa"], "proba_setosa"),
        (["id", "id"], "id"),
    ],
)
def test_kept_columns_that_clash_with_the_answer_or_each_other_are_a_usage_error(iris_job, tmp_path, keep, clash):
    """`--keep-columns id,prediction` put the input's `prediction` in place of the model's (exit 0); `_row` vanished;
    a column named twice started a batch that failed on pandas' duplicate columns."""
    job, root = iris_job
    frame = rows(6).assign(id=range(6), prediction="x", _row=1, _file="f", error="e", proba_setosa=0.5)
    frame.to_csv(tmp_path / "in.csv", index=False)
    before = _batch_folders(root)
    args = [a for k in keep for a in ("--keep-columns", k)]
    done = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), *args)
    assert done.exit_code == 64, done.output
    assert f"--keep-columns: {clash!r}" in done.output and "Traceback" not in done.output
    assert _batch_folders(root) == before and not (tmp_path / "out.csv").exists()
    with pytest.raises(cloudauto.CloudautoError, match=re.escape(repr(clash))):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", keep_columns=",".join(keep).split(","))


def test_score_refuses_kept_columns_that_clash_with_the_answer():
    from cloudauto.scoring import ScoringError, checked_kept

    frame = pd.DataFrame({"id": [1], "prediction": ["x"], "_row": [0]})
    assert checked_kept(frame, ["id"]) == ["id"]
    for keep, clash in ((["id", "prediction"], "prediction"), (["_row"], "_row"), (["id", "id"], "id")):
        with pytest.raises(ScoringError, match=re.escape(f"keep_columns: {clash!r}")):
            checked_kept(frame, keep)


def test_kept_ids_pass_through_exactly_as_the_csv_has_them_whatever_the_chunking(iris_job, tmp_path):
    """ids 007 came out 7, and 1.0 where a row of the chunk failed; the output depended on the chunk size."""
    job, _ = iris_job
    lines = rows(8).to_csv(index=False).splitlines()
    ids = ["007", "0042", "3", "NA", "1e5", "4", "", "x9"]
    lines = ["id," + lines[0]] + [f"{i},{line}" for i, line in zip(ids, lines[1:], strict=True)]
    lines[4] = "4,1.0,2.0"  # row 3: short, fails alone
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    outputs = []
    for chunk in (3, 100):
        out = tmp_path / f"out{chunk}.csv"
        batch = job.predict_batch(tmp_path / "in.csv", out, chunk_rows=chunk, keep_columns=["id"])
        assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
        got = [line.split(",")[0] for line in out.read_text().splitlines()]
        assert got == ["id", "007", "0042", "3", "", "1e5", "4", "", "x9"]  # row 3 failed whole: no values at all
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    pq_out = tmp_path / "out.parquet"
    batch = job.predict_batch(tmp_path / "in.csv", pq_out, chunk_rows=3, keep_columns=["id"])
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert pd.read_parquet(pq_out)["id"].tolist()[:3] == ["007", "0042", "3"]


def test_an_output_inside_the_input_folder_is_refused_first_time_and_every_time(iris_job, tmp_path):
    """It worked once; the rerun said 'is also an input' and later predicts of the folder read out.csv as input."""
    job, root = iris_job
    folder = tmp_path / "fold"
    folder.mkdir()
    rows(5).to_csv(folder / "a.csv", index=False)
    before = _batch_folders(root)
    for _ in range(2):
        done = _cli("predict", job.id, str(folder), "-o", str(folder / "out.csv"))
        assert done.exit_code == 64 and "inside the input folder" in done.output, done.output
    with pytest.raises(cloudauto.CloudautoError, match="inside the input folder"):
        job.predict_batch(folder, folder / "out.parquet")
    assert _batch_folders(root) == before and sorted(p.name for p in folder.iterdir()) == ["a.csv"]
    sub = folder / "sub"
    sub.mkdir()  # a folder's inputs are its own files, not its subfolders': an output there is no input
    assert _cli("predict", job.id, str(folder), "-o", str(sub / "out.csv")).exit_code == 0
    assert _cli("predict", job.id, str(folder), "-o", str(sub / "out.csv")).exit_code == 0


def test_an_input_changed_while_read_fails_the_batch_and_a_rerun_does_not_trust_its_parts(iris_job, tmp_path):
    """Edited in place mid-batch (same size), the batch mixed two inputs and completed; a rerun trusted the parts."""
    job, root = iris_job
    source = tmp_path / "in.csv"
    frame = rows(300_000, 9)
    frame.to_csv(source, index=False)
    original = source.read_bytes()
    assert len(original) > (1 << 22) + 100_000  # the tail is read after the first part is written
    clean = job.predict_batch(source, tmp_path / "clean.csv", chunk_rows=20_000, workers=1)
    assert clean.wait(progress=False) is JobStatus.COMPLETED, clean.logs()
    out = tmp_path / "out.csv"
    batch = job.predict_batch(source, out, chunk_rows=20_000, workers=1)
    wait_until(lambda: (batch.dir / "parts" / "000000.parquet").exists(), timeout=120, poll=0.01)
    tail = original[-60_000:]
    swapped = tail.translate(bytes.maketrans(b"1234567", b"7654321"))
    with source.open("r+b") as fh:  # in place, same size
        fh.seek(len(original) - len(tail))
        fh.write(swapped)
    assert batch.wait(progress=False) is JobStatus.FAILED, batch.logs()
    assert f"{source} changed while it was read" in batch.status_reason()
    assert not out.exists()
    source.write_bytes(original)
    again = job.predict_batch(source, out, chunk_rows=20_000, workers=1)
    assert again.id == batch.id
    assert again.wait(progress=False) is JobStatus.COMPLETED, again.logs()
    assert out.read_bytes() == (tmp_path / "clean.csv").read_bytes()


def test_a_parquet_input_is_hashed_from_its_open_file_in_chunks_and_a_write_meanwhile_spoils_it(tmp_path):
    """Parquet was read whole into memory to be hashed; now one chunk at a time, and a write while it is read shows."""
    import hashlib
    import time

    import pandas as pd
    from cloudauto_local.batch import _parquet_chunks

    path = tmp_path / "in.parquet"
    pd.DataFrame({"x": range(5000)}).to_parquet(path, row_group_size=1000)
    whole = hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    assert sum(len(f) for f in _parquet_chunks(str(path), 1000, digest)) == 5000
    assert digest.hexdigest() == whole
    digest = hashlib.sha256()
    pieces = _parquet_chunks(str(path), 1000, digest)
    next(pieces)
    time.sleep(0.01)
    with open(path, "r+b") as fh:  # the same bytes written again in place: its modification time moves
        fh.write(fh.read(16))
    list(pieces)
    assert digest.hexdigest() != whole


def test_a_damaged_part_left_by_a_killed_batch_is_scored_again(iris_job, tmp_path):
    """A truncated parts/000000.parquet (a disk fault, a hand edit) failed every rerun with ArrowInvalid."""
    job, _ = iris_job
    frame = rows(30, 4)
    frame.to_csv(tmp_path / "in.csv", index=False)
    for out in (tmp_path / "out.csv", tmp_path / "out.parquet"):
        batch = job.predict_batch(tmp_path / "in.csv", out, chunk_rows=10)
        assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
        out.unlink()  # the output gone: the same command scores again in the batch's folder
        (batch.dir / "parts").mkdir()
        (batch.dir / "parts" / "000001.parquet").write_bytes(b"PAR1\0\0\0\0\0\0")  # what a killed batch left, damaged
        again = job.predict_batch(tmp_path / "in.csv", out, chunk_rows=10)
        assert again.id == batch.id
        assert again.wait(progress=False) is JobStatus.COMPLETED, again.status_reason()
        assert "chunk 1: its saved part parts/000001.parquet cannot be read" in again.logs(), again.logs()
        result = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
        assert result["prediction"].tolist() == in_process(job, frame)["prediction"].tolist()


def test_a_header_only_input_is_checked_against_the_model_and_an_empty_one_refused(iris_job, tmp_path):
    """`id,a` with no row completed with a prediction-only header; a 0-byte or BOM-only file completed too."""
    job, root = iris_job
    (tmp_path / "hdr.csv").write_text("id," + ",".join(FEATURES[:3]) + "\n")
    batch = job.predict_batch(tmp_path / "hdr.csv", tmp_path / "hdr.out.csv")
    assert batch.wait(progress=False) is JobStatus.FAILED
    assert f"{tmp_path / 'hdr.csv'}: missing columns: {FEATURES[3]}; the model takes " in batch.status_reason()
    assert not (tmp_path / "hdr.out.csv").exists()
    env = {**os.environ, "CLOUDAUTO_HOME": str(root / "home")}
    for name, content in (("empty.csv", b""), ("bom.csv", b"\xef\xbb\xbf"), ("blank.csv", b"\n\r\n")):
        (tmp_path / name).write_bytes(content)
        done = subprocess.run([EXE, "predict", job.id, str(tmp_path / name), "-o", str(tmp_path / "e.out.csv")],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 4, (name, done.stdout, done.stderr)
        assert f"{tmp_path / name}: no header" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / "e.out.csv").exists()
    (tmp_path / "ok.csv").write_text("id," + ",".join(FEATURES) + "\n")
    batch = job.predict_batch(tmp_path / "ok.csv", tmp_path / "ok.parquet", probabilities=True, keep_columns=["id"])
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.status_reason()
    empty = pd.read_parquet(tmp_path / "ok.parquet")
    scored = job.predict_batch(_one(tmp_path), tmp_path / "one.parquet", probabilities=True, keep_columns=["id"])
    assert scored.wait(progress=False) is JobStatus.COMPLETED
    full = pd.read_parquet(tmp_path / "one.parquet")
    assert len(empty) == 0 and list(empty.columns) == list(full.columns)
    proba = [c for c in full.columns if c.startswith("proba_")]
    assert proba and all(empty[c].dtype == full[c].dtype and empty[c].dtype.kind == "f" for c in proba), (empty.dtypes, full.dtypes)
    assert empty["prediction"].dtype == full["prediction"].dtype


def _one(tmp_path: Path) -> Path:
    frame = rows(3, 5)
    frame.insert(0, "id", [1, 2, 3])
    frame.to_csv(tmp_path / "in.csv", index=False)
    return tmp_path / "in.csv"
