"""The handler's fast paths give exactly what the general paths give, and step aside for anything else."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from cloudauto.runtime.inference import Model, _records_json


@pytest.fixture
def model() -> Model:
    bare = Model.__new__(Model)  # the parsing and rendering need only the feature types
    bare.features = ["a", "b"]
    bare.dtypes = {"a": "float", "b": "int"}
    bare.kind = "tabular"
    return bare


@pytest.mark.parametrize(
    "body",
    [
        b"a,b\n1.5,2\n-3e-2,4\n",
        b"a,b\r\n1,2\r\n3,4\r\n",
        b"a,b\n1,2",
        b"b,a\n1,2\n3,4\n",
        b"a,b\n1,2\n\n3,4\n\n",  # blank lines are skipped, as pandas skips them
        b"a,b\nnan,inf\n",
        b"a,b\n1.5,2\n" * 1 + b"0.1,7\n" * 999,
    ],
)
def test_numeric_csv_equals_pandas(model, body):
    fast = model._numeric_csv(body)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, pd.read_csv(io.BytesIO(body)).astype(float))
    assert fast._mgr.nblocks == 1  # one float block


@pytest.mark.parametrize(
    "body",
    [b'a,b\n"1",2\n', b"a,b\n1,2,3\n", b"a,b\n1,x\n", b"a,c\n1,2\n", b"a,b\n", b"a,b\n1\n", b"a,b\n1,\n", b"a,b\n1_000,2\n"],
    ids=["quoted", "ragged", "text", "unknown column", "no rows", "short row", "empty cell", "digit separator"],
)
def test_numeric_csv_steps_aside(model, body):
    assert model._numeric_csv(body) is None


def test_bad_values_are_still_named_by_the_general_path(model):
    from cloudauto.runtime.inference import BadRequest

    with pytest.raises(BadRequest, match=r"column 'b' takes numbers; row 0 has 'x'"):
        model.parse(b"a,b\n1,x\n", "text/csv")


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 2, 1]),
        np.array([True, False]),
        np.array([0.5, np.nan, np.inf, 1e-300]),
        np.array(["setosa", 'a "q"\\', "é"], dtype=object),
        np.array([], dtype=int),
        np.array([7]),
    ],
    ids=["int", "bool", "float", "text", "none", "one"],
)
def test_records_json_equals_pandas(values):
    frame = pd.DataFrame({"prediction": values})
    assert json.loads(_records_json(frame)) == json.loads(frame.to_json(orient="records"))


def test_records_json_with_probabilities_uses_pandas():
    frame = pd.DataFrame({"prediction": [1], "proba_0": [0.2], "proba_1": [0.8]})
    assert json.loads(_records_json(frame)) == [{"prediction": 1, "proba_0": 0.2, "proba_1": 0.8}]


_FINE = [3.152746123456789e-07, 1 / 3, 123456.78901234567, 5e-11, -2.5e-12, 1e-300]


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines"])
def test_json_answers_keep_every_digit_of_a_forecast_or_probability(accept):
    """pandas' writer rounds to 10 decimal places: a forecast of 3.152746e-07 came back as 3.153e-07 and one under
    5e-11 as 0. The JSON answers now carry each float as Python writes it (exact), NaN as null, times as ISO 8601."""
    frame = pd.DataFrame(
        {
            "item_id": ["a"] * 6,
            "timestamp": pd.date_range("2025-03-12 11:00", periods=6, freq="h"),
            "mean": _FINE,
            "0.1": [np.nan, *_FINE[1:]],
            "proba_1": np.array(_FINE, dtype=np.float32),
        }
    )
    body, kind = Model.render(Model.__new__(Model), frame, accept)
    records = json.loads(body) if kind == "application/json" else [json.loads(line) for line in body.splitlines()]
    assert [r["mean"] for r in records] == _FINE
    assert records[0]["0.1"] is None and [r["0.1"] for r in records[1:]] == _FINE[1:]
    assert [r["proba_1"] for r in records] == [float(v) for v in np.array(_FINE, dtype=np.float32)]
    assert [r["timestamp"] for r in records][:2] == ["2025-03-12T11:00:00", "2025-03-12T12:00:00"]
    assert [r["item_id"] for r in records] == ["a"] * 6


def test_json_answers_of_odd_columns_are_valid_json_of_plain_values():
    """NaN inside an object column's list was written as `NaN` (invalid JSON), a nullable Float64 NA raised, numpy
    scalars in an object column came back as strings and an object column's time with a space."""
    frame = pd.DataFrame(
        {
            "prediction": [1, 2, 3],
            "o": pd.Series([[1.0, float("nan")], np.int64(3), pd.Timestamp("2024-01-02 03:00")], dtype=object),
            "F": pd.array([0.5, None, 2.0], dtype="Float64"),
            'a "q"\\%s': [np.bool_(True), np.float64(0.25), None],
        }
    )
    records = json.loads(_records_json(frame))
    assert [r["o"] for r in records] == [[1.0, None], 3, "2024-01-02T03:00:00"]
    assert [r["F"] for r in records] == [0.5, None, 2.0]
    assert [r['a "q"\\%s'] for r in records] == [True, 0.25, None]


def test_image_bytes_to_a_tabular_model_are_a_415_that_says_why(model):
    from cloudauto.runtime.inference import BadRequest

    with pytest.raises(
        BadRequest, match="serves a tabular model, which takes text/csv, application/json or application/x-npy, not images"
    ) as info:
        model.parse(b"\x89PNG\r\n", "image/png")
    assert info.value.status == 415


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def test_npy_structured_array_is_read_by_name_into_one_float_block(model):
    from cloudauto.scoring import npy_body

    sent = pd.DataFrame({"b": np.array([2, 4], dtype=np.int64), "a": [1.5, -0.03]})  # any column order
    frame = model.parse(npy_body(sent), "application/x-npy")
    pd.testing.assert_frame_equal(frame, model.parse(sent.to_csv(index=False).encode(), "text/csv"))
    assert list(frame.columns) == ["a", "b"] and frame._mgr.nblocks == 1


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[1.5, 2.0], [3.0, 4.0]]), [[1.5, 2.0], [3.0, 4.0]]),
        (np.array([1.5, 2.0]), [[1.5, 2.0]]),  # 1-D: one row
        (np.array([[1, 2]], dtype=np.int32), [[1, 2]]),
    ],
    ids=["rows", "one-row", "ints"],
)
def test_npy_plain_array_takes_the_features_in_order(model, array, expected):
    frame = model.parse(_npy(array), "application/x-npy")
    assert list(frame.columns) == ["a", "b"] and frame.to_numpy().tolist() == expected


def test_npy_text_fields_are_text(model):
    model.dtypes = {"a": "float", "b": "str"}
    array = np.array([(1.0, b"x"), (2.0, b"y")], dtype=[("a", float), ("b", "S1")])
    frame = model.parse(_npy(array), "application/x-npy")
    assert frame["b"].tolist() == ["x", "y"] and frame["a"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"\x93NUMPY\x01\x00garbage", "cannot read the application/x-npy body"),
        (b"not npy at all", "cannot read the application/x-npy body"),
        (_npy(np.array([[1, "x"]], dtype=object)), "cannot read the application/x-npy body: Object arrays"),
        (_npy(np.array([[1 + 2j, 3j]])), "cannot score application/x-npy values of dtype complex128"),
        (_npy(np.zeros((2, 2, 2))), "one row (1-D) or rows (2-D), not 3-D"),
        (_npy(np.zeros((2, 3))), "the array has 3 columns; this model takes 2, in this order: a, b"),
        (_npy(np.zeros((0, 2))), "no rows to score"),
        (_npy(np.zeros(2, dtype=[("a", float), ("c", float)])), "missing columns: b"),
    ],
    ids=["cut-short", "not-npy", "objects", "complex", "3-d", "columns", "no-rows", "names"],
)
def test_bad_npy_bodies_are_400s_that_say_why(model, body, words):
    from cloudauto.runtime.inference import BadRequest

    with pytest.raises(BadRequest, match=re.escape(words)) as info:
        model.parse(body, "application/x-npy")
    assert info.value.status == 400


@pytest.mark.parametrize(
    "predictions",
    [
        pd.DataFrame({"prediction": [0, 2, 1]}),
        pd.DataFrame({"prediction": np.array(["setosa", "é", ""], dtype=object)}),
        pd.DataFrame({"prediction": [0.5, -1e-300, 3.0]}),
        pd.DataFrame({"prediction": ["a", "b"], "proba_a": [0.75, 0.125], "proba_b": [0.25, 0.875]}),
    ],
    ids=["int", "text", "float", "probabilities"],
)
def test_npy_answers_read_back_as_the_json_answers_do(model, predictions):
    from cloudauto.scoring import predictions_frame

    body, media_type = model.render(predictions, "application/x-npy")
    assert media_type == "application/x-npy"
    from_npy = predictions_frame(body)
    from_json = predictions_frame(model.render(predictions, "application/json")[0])
    pd.testing.assert_frame_equal(from_npy, from_json, check_dtype=False)
    assert from_npy.map(type).equals(from_json.map(type))  # str stays str, int stays int


class _Stub:
    """A predictor that answers `values` for the rows it is given, and counts its calls."""

    can_predict_proba = True

    def __init__(self, values: np.ndarray):
        self.values, self.calls = values, 0

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        self.calls += 1
        return pd.Series(np.resize(self.values, len(frame)), index=frame.index)

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"x": [0.25] * len(frame), "y": [0.75] * len(frame)}, index=frame.index)

    def predict_from_proba(self, proba: pd.DataFrame) -> pd.Series:
        return self.predict(proba)


def _numeric_model(values: np.ndarray) -> Model:
    bare = Model.__new__(Model)
    bare.features, bare.kind = ["a", "b", "c", "d"], "tabular"
    bare.dtypes = dict.fromkeys(bare.features, "float")
    bare.numeric = True  # as Model() finds it for a model of numbers alone
    bare.predictor = _Stub(values)
    return bare


def test_a_one_row_request_to_a_numeric_model_costs_the_handler_few_python_calls():
    """The endpoint's latency over predict: a clean row of numbers is checked from one array, and its
    prediction answered without a frame around it (2,380 calls before, most of them pandas' per-column
    looks for blank rows and infinite values; a November handler made about 1,000)."""
    import cProfile
    import pstats

    model = _numeric_model(np.array(["setosa"], dtype=object))
    body = b"a,b,c,d\n5.1,3.5,1.4,0.2\n"
    assert model.handle(body, "text/csv", "application/json") == (b'[{"prediction":"setosa"}]', "application/json")
    profile = cProfile.Profile()
    profile.runcall(model.handle, body, "text/csv", "application/json")
    calls = sum(entry[1] for entry in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]
    assert calls < 600, f"{calls} Python calls to answer one row"


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 2, 1]),
        np.array([True, False, True]),
        np.array([0.5, np.nan, -1e-300]),
        np.array(["setosa", 'a "q"\\', "é"], dtype=object),
        pd.array([1, None, 3], dtype="Int64"),
        np.array(["2024-01-01", "2024-01-02", "2024-01-03"], dtype="datetime64[ns]"),
    ],
    ids=["int", "bool", "float", "text", "nullable-int", "datetime"],
)
@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "text/csv", "application/x-npy"])
def test_the_handlers_answer_of_predictions_alone_is_what_rendering_predict_gives(values, accept):
    model = _numeric_model(values)
    body = b"a,b,c,d\n" + b"5.1,3.5,1.4,0.2\n" * 3
    expected = model.render(model.predict(model.parse(body, "text/csv")), accept)
    assert model.handle(body, "text/csv", accept) == expected
    assert model.predictor.calls == 2  # one predict each: no second pass through the model
    with_proba = model.render(model.predict(model.parse(body, "text/csv"), probabilities=True), accept)
    assert model.handle(body, "text/csv", accept, probabilities=True) == with_proba


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"a,b,c,d\nnan,nan,nan,nan\n", "row 0 has no values"),
        (b"a,b,c,d\n1,2,3,4\n1,inf,3,4\n", "column 'b' takes finite numbers; row 1 has inf"),
        (b'{"data": [[1, 2, 3, 4], [null, null, null, null]]}', "row 1 has no values"),
    ],
)
def test_the_numeric_models_one_array_check_leaves_blank_and_infinite_rows_to_the_named_refusals(body, words):
    from cloudauto.runtime.inference import BadRequest

    model = _numeric_model(np.array([1]))
    with pytest.raises(BadRequest, match=re.escape(words)):
        model.handle(body, "application/json" if body.startswith(b"{") else "text/csv", "application/json")


def test_a_numeric_model_scores_rows_with_a_missing_value():
    model = _numeric_model(np.array([7]))
    body = b"a,b,c,d\n1,,3,4\nnan,2,3,4\n"
    assert model.handle(body, "text/csv", "application/json") == (b'[{"prediction":7},{"prediction":7}]', "application/json")


def test_a_clean_batch_chunk_costs_score_rows_little_beyond_predict_and_answers_as_the_general_path():
    """A chunk whose every row is good is predicted as it is: no list of 100k positions, no `iloc` of them,
    no index built from them and no join back (the join path cost a worker 0.09 s a 100k-row chunk, 7 % of
    LightGBM's predict on iris)."""
    import cProfile
    import pstats
    import time

    model = _numeric_model(np.array(["setosa", "virginica"], dtype=object))
    rows = 100_000
    frame = pd.DataFrame(np.tile([[5.1, 3.5, 1.4, 0.2]], (rows, 1)), columns=model.features)
    frame.attrs["lines"] = np.arange(2, rows + 2)
    frame.attrs["shape"] = {}
    scored = model.score_rows(frame)
    general = pd.DataFrame(index=range(rows)).join(model.predict(frame)).assign(_line=np.arange(2, rows + 2))
    pd.testing.assert_frame_equal(scored, general)
    assert isinstance(scored.index, pd.RangeIndex)

    def spent(call, *args):  # seconds, the best of 3
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            call(*args)
            best = min(best, time.process_time() - t)
        return best

    profile = cProfile.Profile()
    profile.runcall(model.score_rows, frame)
    calls = sum(entry[1] for entry in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]
    beyond = spent(model.score_rows, frame) - spent(model.predict, frame)
    assert beyond < 0.02, f"score_rows took {beyond:.3f} s beyond predict on {rows} clean rows ({calls} calls)"
