"""Rows the handler must refuse (or, in a batch, fail alone) and hostile bodies that must stay 4xx.

The handler's parsing needs only the feature names and types, so a bare Model stands in for
a trained one; prediction is a stub that counts the rows it is given.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from cloudauto.runtime.inference import BadRequest, Model


class Counting:
    """A predictor stub: predicts the row's first value, so a test sees which rows reached it."""

    can_predict_proba = False

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(frame.iloc[:, 0].to_numpy(), index=frame.index)


@pytest.fixture(params=[True, False], ids=["numeric model", "general path"])
def model(request) -> Model:
    """Every feature a number, as a loaded model of them knows (its one-array check of finite rows), and
    the same model without that knowledge: each refusal must come out the same both ways."""
    bare = Model.__new__(Model)
    bare.features = ["a", "b", "c"]
    bare.dtypes = {"a": "float", "b": "int", "c": "float"}
    bare.numeric = request.param
    bare.kind = "tabular"
    bare.batch_header = None
    bare.batch_probabilities = False
    bare.predictor = Counting()
    return bare


CSV, JSON = "text/csv", "application/json"
SHORT_AND_LONG = [
    (CSV, b"a,b,c\n1,2,3\n14.1,2\n", "row 1 has 2 fields; the header has 3"),
    (CSV, b"a,b,c\n1,2,3\n4,5,6,7\n", "row 1 has 4 fields; the header has 3"),
    (CSV, b"a,b,c\n1,2,3,4\n", "row 0 has 4 fields; the header has 3"),  # pandas would take a column for an index
    (CSV, b'a,b,c\n"1",2,3,4\n5,6,7,8\n', "row 0 has 4 fields; the header has 3"),
    (CSV, b"a,b,c\n1,2,3\n,,\n", "row 1 has no values"),
    (CSV, b"a,b,c\n14.1,2\n", "row 0 has 2 fields; the header has 3"),
    (CSV, b'a,b,c\n"1",2,3\n"x",2\n', "row 1 has 2 fields; the header has 3"),  # the quoted (general) path too
    (CSV, b"a,b,c,d\n1,2,3,x\n,,,\n", "row 1 has no values"),
    (CSV, (b"a,b,c\n" + b"1,2,3\n" * 5000 + b"4,5\n"), "row 5000 has 2 fields; the header has 3"),  # past the small path
    (JSON, b'{"data": [[1, 2, 3], [14.1, 2]]}', "row 1 has 2 fields; the model takes 3"),
    (JSON, b'{"data": [[1, 2, 3, 4]]}', "row 0 has 4 fields; the model takes 3"),
    (JSON, b'{"data": [[1, 2, 3], []]}', "row 1 has no values"),
    (JSON, b'{"data": [[1, 2, 3], [null, null, null]]}', "row 1 has no values"),
    (JSON, b'{"columns": ["a", "b", "c"], "data": [[1, 2, 3], [1]]}', "row 1 has 1 field; the columns are 3"),
    (JSON, b'{"data": [[1, 2, 3], [[1, [2]], 2, 3]]}', "row 1 holds a list or an object"),
    (JSON, b'{"input_data": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [14.1, 2]]}}', "row 1 has 2 fields"),
    (JSON, b'{"input_data": {"columns": ["a", "b", "c"], "data": [[1, 2, 3, 4]]}}', "row 0 has 4 fields; the columns are 3"),
    (JSON, b'{"input_data": {"columns": ["a", "b", "c"], "data": [[]]}}', "row 0 has no values"),
    (JSON, b'[{"a": 1, "b": 2, "c": 3}, {"a": 1}]', "row 1 has no 'b', 'c'"),
    (JSON, b'[{"a": 1, "b": 2, "c": 3}, {}]', "row 1 has no values"),
    (JSON, b'[{"a": 1, "b": 2, "c": 3}, {"a": null, "b": null, "c": null}]', "row 1 has no values"),
    (JSON, b'[{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3, "d": 4}]', "row 1 has 'd', which row 0 has not"),
    (JSON, b'{"instances": [[1, 2, 3], [1, 2]]}', "row 1 has 2 fields; the model takes 3"),
]


@pytest.mark.parametrize(("content_type", "body", "words"), SHORT_AND_LONG)
def test_short_long_and_empty_rows_are_a_400_naming_the_row(model, content_type, body, words):
    with pytest.raises(BadRequest, match="") as caught:
        model.handle(body, content_type, JSON)
    assert caught.value.status == 400
    assert words in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "body",
    [b"a,b,c\n1,2,3\n4,5,6\n", b"a,b,c\n1,,3\n", b"c,a,b\n3,1,2\n", b"a,b,c,target\n1,2,3,x\n", b"a,b,c\n1,2,3\n\n4,5,6\n\n"],
    ids=["plain", "one empty cell", "any order", "an extra column in the header", "blank lines"],
)
def test_complete_rows_still_score(model, body):
    answer, _ = model.handle(body, CSV, JSON)
    assert len(json.loads(answer)) == len([line for line in body.splitlines()[1:] if line])


def test_a_batch_fails_short_long_and_empty_rows_alone(model):
    """A batch transform's lines (no header): the bad rows get their error, the rest their prediction."""
    model.batch_header = b"a,b,c"
    answer, _ = model.handle(b"1,2,3\n14.1,2\n,,\n4,5,6,7\n8,9,10\n", CSV, "application/jsonlines")
    rows = [json.loads(line) for line in answer.decode().splitlines()]
    assert [r["prediction"] for r in rows] == [1.0, None, None, None, 8.0]
    assert "2 fields; the header has 3" in rows[1]["error"]
    assert "no values" in rows[2]["error"]
    assert "4 fields; the header has 3" in rows[3]["error"]


def test_score_rows_fails_a_row_without_values_alone(model):
    """What a batch read from Parquet or CSV hands the handler: an all-empty row fails, the others score."""
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [2, None, 4], "c": [0.5, np.nan, 0.1]})
    scored = model.score_rows(frame)
    assert scored["prediction"].tolist()[0] == 1.0 and scored["prediction"].tolist()[2] == 3.0
    assert pd.isna(scored["prediction"].iloc[1]) and "no values" in scored["error"].iloc[1]


HOSTILE = [
    (JSON, b"[" * 100_000 + b"]" * 100_000, "nested"),
    (JSON, b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    (JSON, json.dumps({"data": [[10**400, 2, 3]]}).encode(), "too large"),
    (JSON, json.dumps([{"a": 10**400, "b": 2, "c": 3}]).encode(), "too large"),
    (JSON, json.dumps({"data": [[-(10**400), 2, 3]]}).encode(), "too large"),
    (JSON, b'{"data": [[1e999, 2, 3]]}', "out of range"),  # a float literal past the range is inf: refused
    (JSON, b'{"data": [[' + b"9" * 5000 + b", 2, 3]]}", "too large"),
    (CSV, b"a,a,b,c\n1,2,3,4\n", "column 'a' appears twice in the header"),
    (CSV, b'a,a,b,c\n"1",2,3,4\n', "column 'a' appears twice in the header"),
    (CSV, b"a,b,c,c\n1,2,3,4\n" * 1 + b"1,2,3,4\n" * 6000, "column 'c' appears twice in the header"),
    (JSON, b'{"columns": ["a", "a", "b", "c"], "data": [[1, 2, 3, 4]]}', "column 'a' appears twice"),
    (CSV, b"a,b,c\n" + b"9" * 400 + b",2,3\n", "out of range"),  # a long number in CSV is past a float's range
]


@pytest.mark.parametrize(("content_type", "body", "words"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_bodies_are_4xx_not_500(model, content_type, body, words):
    try:
        model.handle(body, content_type, JSON)
    except BadRequest as exc:
        assert 400 <= exc.status < 500
        assert words is None or words in str(exc), str(exc)
    else:
        assert words is None, "scored a body that should be refused"


def test_a_batch_csv_keeps_short_long_and_empty_rows_in_place_to_fail_alone(model, tmp_path):
    """The local batch's reader: row positions as in the file, the bad rows failed by score_rows, the rest scored."""
    from cloudauto.runtime.batch_io import csv_chunks

    path = tmp_path / "in.csv"
    path.write_text('a,b,c\n1,2,3\n14.1,2\n\n,,\n4,5,6,7\n8,"9",10\n11,12,13\n')
    chunks = list(csv_chunks(path, 3))
    assert [len(c) for c in chunks] == [3, 3]
    scored = pd.concat([model.score_rows(c[model.features]) for c in chunks], ignore_index=True)
    assert scored["prediction"].tolist()[0] == 1.0 and scored["prediction"].tolist()[4:] == [8.0, 11.0]
    assert scored["prediction"].iloc[1:4].isna().all()
    assert scored["error"].iloc[1] == "the row has 2 fields; the header has 3"
    assert scored["error"].iloc[2] == "the row has no values"
    assert scored["error"].iloc[3] == "the row has 4 fields; the header has 3"
    assert scored["error"].iloc[[0, 4, 5]].isna().all()


def test_a_batch_csv_reads_values_as_pandas_does(tmp_path):
    from cloudauto.runtime.batch_io import csv_chunks

    path = tmp_path / "in.csv"
    pd.DataFrame({"x": [1, 2, 3], "t": ["a,b", 'q"', None], "f": [0.1, None, 1e-300]}).to_csv(path, index=False)
    (chunk,) = list(csv_chunks(path, 10))
    pd.testing.assert_frame_equal(chunk, pd.read_csv(path))
    assert chunk.attrs["shape"] == {}


PLAIN_AND_QUOTED = {
    "plain": "a,b,c\n1,2,3\n4,5,6\n7,8,9\n",
    "no last line break": "a,b,c\n1,2,3\n4,5,6",
    "crlf, short and long rows": "a,b,c\r\n1,2,3\r\n\r\n4,5\r\n7,8,9,10\r\n",
    "blank lines before and between": "\n\na,b,c\n\n1,2,3\n\n\n4,5,6\n,,\n  \n7,x,9\n\n",
    "a quote half-way": 'a,b,c\n1,2,3\n4,5,6\n"7\n7",8,9\n1,2\n3,4,5\n',
    "a quoted header": '"a",b,c\n1,2,3\n4,5\n',
    "a lone carriage return": "a,b,c\n1,2,3\r4,5,6\n7,8,9\n",
    "one column": "a\n1\n\n2\n3,4\n",
    "text and blanks": "a,b,c\nx,y,z\n1,,3\n ,2,3\n",
    "header alone": "a,b,c\n",
    "nothing": "",
}


@pytest.mark.parametrize("text", PLAIN_AND_QUOTED.values(), ids=PLAIN_AND_QUOTED.keys())
@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_the_fast_csv_reader_gives_the_csv_modules_chunks(tmp_path, text, chunk_rows):
    """Plain lines are split with NumPy and read by pandas as they are; the chunks (values, bad rows, lines) are the
    csv module's, row for row, also where a quote half-way hands the rest of the file over to it."""
    from cloudauto.runtime import batch_io

    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    with open(path, "rb") as raw:
        expected = list(batch_io._csv_module_chunks(raw, chunk_rows, 1, None))
    fast = list(batch_io.csv_chunks(path, chunk_rows))
    assert len(fast) == len(expected)
    for got, want in zip(fast, expected, strict=True):
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs["shape"] == want.attrs["shape"]
        assert got.attrs["lines"].tolist() == want.attrs["lines"].tolist()


def test_the_fast_csv_reader_crosses_its_blocks_and_keeps_every_row(tmp_path):
    """A file larger than one read (4 MB) with bad and blank lines spread through it: the same chunks either way."""
    from cloudauto.runtime import batch_io

    rng = np.random.default_rng(0)
    lines = ["a,b,c,d"] + [",".join(map(str, r)) for r in np.round(rng.uniform(0, 9, (300_000, 4)), 3)]
    for i in rng.integers(1, len(lines), 40):
        lines[i] = "1,2"
    for i in rng.integers(1, len(lines), 40):
        lines[i] = ""
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines))
    assert path.stat().st_size > 1 << 22
    with open(path, "rb") as raw:
        expected = list(batch_io._csv_module_chunks(raw, 70_000, 1, None))
    fast = list(batch_io.csv_chunks(path, 70_000))
    rows = sum(1 for line in lines[1:] if line)  # blank lines are no rows
    assert [len(c) for c in fast] == [len(c) for c in expected] and sum(map(len, fast)) == rows
    for got, want in zip(fast, expected, strict=True):
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs["shape"] == want.attrs["shape"] and got.attrs["lines"].tolist() == want.attrs["lines"].tolist()


def test_batch_failures_name_the_line_of_their_row_in_the_csv_file(model, tmp_path):
    """Rows count from 0 after the header; the failures say the file's line too (blank and quoted lines counted)."""
    from cloudauto.runtime.batch_io import csv_chunks, read_failures, write_output

    path = tmp_path / "in.csv"
    path.write_text('a,b,c\n1,2,3\n14.1,2\n\n"4\n",5,6\n7,x,9\n10,11,12\n')
    parts = []
    first = 0
    for chunk in csv_chunks(path, 2):
        scored = model.score_rows(chunk[model.features].reset_index(drop=True))
        parts.append(scored.assign(_row=range(first, first + len(chunk)), _file=str(path)))
        first += len(chunk)
    frame = pd.concat(parts, ignore_index=True)
    assert write_output(frame, tmp_path / "out.csv", 5) == (5, 2)
    assert list(pd.read_csv(tmp_path / "out.csv").columns) == ["prediction", "error"]  # no line column in the output
    failures = read_failures(tmp_path / "out.csv")
    assert [(f.row, f.line) for f in failures] == [(1, 3), (3, 7)]
    assert [f.where for f in failures] == ["row 1 (line 3 of in.csv)", "row 3 (line 7 of in.csv)"]
    assert failures[1].reason == "column 'b' takes numbers, not 'x'"


def test_failures_of_inputs_without_lines_name_the_row_alone(model, tmp_path):
    """Parquet input (or a service's batch): no line to give."""
    from cloudauto.runtime.batch_io import read_failures, write_output

    frame = pd.DataFrame({"a": [1.0, np.nan], "b": [2, None], "c": [3.0, np.nan]})
    scored = model.score_rows(frame).assign(_row=[0, 1], _file="in.parquet")
    write_output(scored, tmp_path / "out.csv", 2)
    (failure,) = read_failures(tmp_path / "out.csv")
    assert failure.line is None and failure.where == "row 1"


class Forecaster:
    """A TimeSeriesPredictor stub: its frequency, as AutoGluon stores it after fit."""

    def __init__(self, freq):
        self.freq = freq


def _series(freq: str, periods: int, items=("s1", "s2")) -> bytes:
    stamps = pd.date_range("2026-01-01", periods=periods, freq=freq)
    frame = pd.concat([pd.DataFrame({"item": i, "ts": stamps, "y": np.arange(periods) * 1.0}) for i in items])
    return frame.to_csv(index=False).encode()


@pytest.fixture
def forecaster() -> Model:
    bare = Model.__new__(Model)
    bare.kind = "timeseries"
    bare.info = {"item_id": "item", "timestamp": "ts", "label": "y", "freq": None}
    bare.features = ["item", "ts", "y"]
    bare.dtypes = {"y": "float"}
    bare.batch_header = None
    bare.predictor = Forecaster("D")
    return bare


def test_a_history_at_another_frequency_than_the_models_is_a_400_naming_both(forecaster):
    with pytest.raises(BadRequest) as caught:
        forecaster.parse(_series("h", 50), CSV)
    assert caught.value.status == 400
    message = str(caught.value)
    assert "daily (D)" in message and "hourly (h)" in message, message
    with pytest.raises(BadRequest, match=r"forecasts daily \(D\) series but the history is at frequency W-SUN"):
        forecaster.parse(_series("W", 20), CSV)


@pytest.mark.parametrize(
    "body",
    [
        _series("D", 30),
        b"item,ts,y\ns1,2026-01-01,1\ns1,2026-01-02,2\ns1,2026-01-04,3\ns1,2026-01-07,4\n",  # irregular
        b"item,ts,y\ns1,2026-01-01,1\ns1,2026-01-02 00:00,2\ns1,2026-01-03,3\n",  # one timestamp with its time of day
    ],
    ids=["daily", "irregular", "mixed-formats"],
)
def test_a_history_at_the_models_frequency_or_irregular_is_left_alone(forecaster, body):
    assert len(forecaster.parse(body, CSV)) > 0


def test_day_first_dates_are_one_format_for_the_column_never_read_value_by_value(forecaster):
    """A history written %d/%m/%Y was parsed value by value: days up to 12 month-first, later days day-first, so the
    series was scrambled (no frequency to refuse) and the forecast came back for December, exit 0. One format is read
    for the whole column, and a value not in it is a 400 naming its row."""
    stamps = pd.date_range("2024-05-01", periods=30, freq="D").strftime("%d/%m/%Y")
    body = pd.DataFrame({"item": "s1", "ts": stamps, "y": np.arange(30.0)}).to_csv(index=False).encode()
    with pytest.raises(BadRequest) as caught:
        forecaster.parse(body, CSV)
    assert caught.value.status == 400 and "row 12" in str(caught.value) and "13/05/2024" in str(caught.value), caught.value


@pytest.mark.parametrize(
    "stamps",
    [["2024-03-29T00:00:00+01:00", "2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+02:00", "2024-04-01T00:00:00+02:00"],
     ["2024-03-29T00:00:00Z", "2024-03-30", "2024-03-31", "2024-04-01"]],
    ids=["dst-switch", "aware-then-naive"],
)
def test_times_of_several_offsets_are_a_400_not_a_failed_forecast(forecaster, stamps):
    """A daily history across a DST switch (+01:00 then +02:00) passed the checks as an object column and failed in
    TimeSeriesDataFrame (a 500): a 400 that says to send one offset."""
    body = pd.DataFrame({"item": "s1", "ts": stamps, "y": [1.0, 2.0, 3.0, 4.0]}).to_csv(index=False).encode()
    with pytest.raises(BadRequest, match="mixes time zones or UTC offsets"):
        forecaster.parse(body, CSV)


def test_the_model_frequency_comes_from_the_predictor_or_the_spec(forecaster):
    forecaster.predictor = Forecaster(None)
    forecaster.info["freq"] = "H"  # the spec's, in pandas' old alias: the same frequency as 'h'
    assert len(forecaster.parse(_series("h", 30), CSV)) == 60
    with pytest.raises(BadRequest, match=r"hourly \(H\)|\(H\)"):
        forecaster.parse(_series("D", 30), CSV)


def test_a_trained_daily_forecaster_refuses_an_hourly_history(tmp_path):
    """A real TimeSeriesPredictor (its freq inferred at fit, as a spec without freq leaves it): 50 hourly rows are a 400."""
    pytest.importorskip("autogluon.timeseries")
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    from cloudauto.runtime.inference import write_model_info

    stamps = pd.date_range("2026-01-01", periods=40, freq="D")
    train = pd.DataFrame({"item_id": "s", "ts": stamps, "y": np.sin(np.arange(40)) + 5})
    predictor = TimeSeriesPredictor(prediction_length=14, target="y", path=str(tmp_path / "model"), verbosity=0)
    predictor.fit(TimeSeriesDataFrame.from_data_frame(train, timestamp_column="ts"), hyperparameters={"Naive": {}})
    write_model_info(
        tmp_path / "model", kind="timeseries", label="y", timestamp="ts", item_id=None, prediction_length=14, freq=None
    )
    served = Model(tmp_path / "model")
    hourly = pd.DataFrame({"ts": pd.date_range("2026-03-01", periods=50, freq="h"), "y": np.arange(50.0)})
    with pytest.raises(BadRequest, match=r"forecasts daily \(D\) series but the history is hourly \(h\)"):
        served.handle(hourly.to_csv(index=False).encode(), CSV, JSON)
    daily = train.drop(columns=["item_id"]).to_csv(index=False).encode()
    assert len(json.loads(served.handle(daily, CSV, JSON)[0])) == 14


def _npy(array: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


_STRUCTURED = np.array([(1.0, 2, 3.0), (-np.inf, 2, 3.0)], dtype=[("a", "f8"), ("b", "i8"), ("c", "f8")])
NOT_FINITE = [
    (CSV, b"a,b,c\n1,2,3\n1e400,2,3\n", "column 'a'", "row 1"),  # NumPy's fast path
    (CSV, b"a,b,c\n1,2,3\n1,2," + b"9" * 401 + b"\n", "column 'c'", "row 1"),  # a 401-digit integer
    (CSV, b"a,b,c\n" + b"1,2,3\n" * 3 + b"1," + b"9" * 5000 + b".5,3\n", "column 'b'", "row 3"),  # 5,000 digits
    (CSV, b'a,b,c\n"1",2,3\n2,2,inf\n', "column 'c'", "row 1"),  # quoted: pandas' path
    (CSV, b"a,b,c\n1,2,3\n-Infinity,2,3\n", "column 'a'", "row 1"),
    (CSV, b"a,b,c\n" + b"1,2,3\n" * 6000 + b"1,2,1e400\n", "column 'c'", "row 6000"),  # past the small path
    (JSON, b'{"data": [[1, 2, 3], [-1e400, 2, 3]]}', "column 'a'", "row 1"),
    (JSON, b'{"data": [[1, 2, 3], [1, 2, Infinity]]}', "column 'c'", "row 1"),
    (JSON, b'[{"a": 1, "b": 2, "c": 3}, {"a": Infinity, "b": 2, "c": 3}]', "column 'a'", "row 1"),
    (JSON, b'{"input_data": {"columns": ["a", "b", "c"], "data": [[1, 2, -Infinity]]}}', "column 'c'", "row 0"),
    ("application/x-npy", _npy(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, np.inf]])), "column 'c'", "row 1"),
    ("application/x-npy", _npy(_STRUCTURED), "column 'a'", "row 1"),
]


@pytest.mark.parametrize(("content_type", "body", "column", "row"), NOT_FINITE, ids=range(len(NOT_FINITE)))
def test_infinite_values_are_a_400_naming_row_and_column_in_every_content_type(model, content_type, body, column, row):
    """RF and XT models (sklearn) fail on inf with a 500: a model trained on finite data is never handed one."""
    with pytest.raises(BadRequest) as caught:
        model.handle(body, content_type, JSON)
    message = str(caught.value)
    assert caught.value.status == 400
    assert column in message and row in message and "out of range" in message, message
    assert len(message) < 300, message  # a 5,000-digit value is not echoed whole


def test_a_batch_fails_infinite_values_alone_with_the_same_words_as_text_or_a_float(model, tmp_path):
    """`1e400` and `inf` in a file are the same number, whether pandas reads them as floats or as text."""
    from cloudauto.runtime.batch_io import csv_chunks

    path = tmp_path / "in.csv"
    path.write_text("a,b,c\n1,2,3\n1e400,2,3\n4,5,-inf\n6,x,7\n8," + "9" * 401 + ",9\n10,11,12\n")
    (chunk,) = list(csv_chunks(path, 100))
    scored = model.score_rows(chunk[model.features])
    assert scored["prediction"].tolist()[0] == 1.0 and scored["prediction"].tolist()[5] == 10.0
    assert scored["prediction"].iloc[1:5].isna().all()
    errors = scored["error"].tolist()
    assert errors[1] == "column 'a' takes finite numbers; '1e400' is out of range", errors
    assert errors[2] == "column 'c' takes finite numbers; -inf is out of range", errors
    assert errors[3] == "column 'b' takes numbers, not 'x'", errors
    assert errors[4].startswith("column 'b' takes finite numbers; '999999999999") and "401 characters" in errors[4], errors
    # a float block (Parquet, or CSV read as numbers) holding inf fails those rows alone too
    frame = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [1, 2, 3], "c": [0.5, 0.5, -np.inf]})
    scored = model.score_rows(frame)
    assert scored["prediction"].isna().tolist() == [False, True, True]
    assert scored["error"].tolist()[1:] == [
        "column 'a' takes finite numbers; inf is out of range",
        "column 'c' takes finite numbers; -inf is out of range",
    ]


class IntClasses:
    """A predictor stub whose classes are integers (column b), as iris' are."""

    can_predict_proba = False

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(frame["b"].to_numpy(dtype="int64"), index=frame.index)


def test_a_batch_keeps_integer_classes_where_rows_fail(model):
    """A failed row is a blank (null), not a reason to write every class as a float."""
    model.predictor = IntClasses()
    scored = model.score_rows(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["2", "x", "5"], "c": [1.0, 1.0, 1.0]}))
    assert str(scored["prediction"].dtype) == "Int64" and scored["prediction"].isna().tolist() == [False, True, False]
    assert scored.to_csv(index=False).splitlines()[1:] == ["2,", ",\"column 'b' takes numbers, not 'x'\"", "5,"]
    model.batch_header = b"a,b,c"
    answer, _ = model.handle(b"1,2,3\n1,x,3\n4,5,6\n", CSV, JSON)
    assert [r["prediction"] for r in json.loads(answer)] == [2, None, 5]
    lines, _ = model.handle(b"1,2,3\n1,x,3\n4,5,6\n", CSV, "application/jsonlines")
    assert [json.loads(line)["prediction"] for line in lines.decode().splitlines()] == [2, None, 5]
    array, _ = model.handle(b"1,2,3\n1,x,3\n4,5,6\n", CSV, "application/x-npy")
    import io

    values = np.lib.format.read_array(io.BytesIO(array), allow_pickle=False)["prediction"]
    assert values[0] == 2 and np.isnan(values[1]) and values[2] == 5
    from cloudauto.runtime.inference import _records_json

    assert json.loads(_records_json(scored[["prediction"]])) == [{"prediction": 2}, {"prediction": None}, {"prediction": 5}]


def test_a_forecast_history_with_an_infinite_value_is_a_400(model):
    model.kind, model.info, model.features = "timeseries", {"timestamp": "t", "label": "y", "item_id": None}, ["t", "y"]
    body = b"t,y\n2024-01-01,1\n2024-01-02,1e400\n2024-01-03,3\n"
    with pytest.raises(BadRequest, match=r"column 'y' takes finite numbers; row 1 has .* out of range"):
        model.parse(body, CSV)


class RefusesNegatives:
    """A predictor stub that, like a model meeting a value it cannot take, fails a whole frame holding one bad row."""

    can_predict_proba = False

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        frame = pd.concat([frame.iloc[:1], frame.iloc[1:]])  # as AutoGluon's feature generators join their parts
        if (frame.iloc[:, 0] < 0).any():
            raise ValueError("a negative value")
        return pd.Series(frame.iloc[:, 0].to_numpy(), index=frame.index)


def test_a_model_error_on_one_row_of_a_csv_chunk_fails_that_row_alone(model, tmp_path):
    """The chunk carries its lines in attrs; joining the rows scored one at a time must not trip on them."""
    from cloudauto.runtime.batch_io import csv_chunks

    model.predictor = RefusesNegatives()
    path = tmp_path / "in.csv"
    path.write_text("a,b,c\n1,2,3\n-4,5,6\n7,8,9\n")
    (chunk,) = list(csv_chunks(path, 10))
    scored = model.score_rows(chunk[model.features])
    assert scored["prediction"].tolist()[::2] == [1, 7] and pd.isna(scored["prediction"].iloc[1])
    assert scored["error"].tolist()[1] == "ValueError: a negative value"
    assert scored["_line"].tolist() == [2, 3, 4]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"item,ts,y\na,2024-05-01 00:00,1\na,2024-05-01 01:00,2\n", "item 'a': two points 0 days 01:00:00 apart"),
        (b"item,ts,y\na,2024-05-01,1\na,2024-05-02,2\na,2024-05-02,3\na,2024-05-03,4\n", "item 'a': the timestamp 2024-05-02"),
        (b"item,ts,y\na,2024-05-01,1\na,2024-05-02,2\na,2024-05-03,3\nb,2024-05-01 00:00,1\nb,2024-05-01 01:00,2\n", "item 'b'"),
    ],
    ids=["two-hourly-points", "a-timestamp-twice", "one-item-of-two"],
)
def test_a_history_too_short_to_infer_is_still_refused_off_the_models_steps(forecaster, body, words):
    """Two hourly points or a duplicated day would be averaged into one daily step without a word: a 400."""
    with pytest.raises(BadRequest, match=re.escape(words)):
        forecaster.parse(body, CSV)


def test_a_daily_history_with_gaps_is_on_the_models_steps(forecaster):
    frame = forecaster.parse(b"item,ts,y\na,2024-05-01,1\na,2024-05-03,2\nb,2024-05-01,1\n", CSV)
    assert len(frame) == 3
