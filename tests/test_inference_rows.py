"""Rows the handler must refuse (or, in a batch, fail alone) and hostile bodies that must stay 4xx.

The handler's parsing needs only the feature names and types, so a bare Model stands in for
a trained one; prediction is a stub that counts the rows it is given.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudauto.runtime.inference import BadRequest, Model


class Counting:
    """A predictor stub: predicts the row's first value, so a test sees which rows reached it."""

    can_predict_proba = False

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(frame.iloc[:, 0].to_numpy(), index=frame.index)


@pytest.fixture
def model() -> Model:
    bare = Model.__new__(Model)
    bare.features = ["a", "b", "c"]
    bare.dtypes = {"a": "float", "b": "int", "c": "float"}
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
