"""The handler's fast paths give exactly what the general paths give, and step aside for anything else."""

from __future__ import annotations

import io
import json

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


def test_image_bytes_to_a_tabular_model_are_a_415_that_says_why(model):
    from cloudauto.runtime.inference import BadRequest

    with pytest.raises(BadRequest, match="serves a tabular model, which takes text/csv or application/json, not images") as info:
        model.parse(b"\x89PNG\r\n", "image/png")
    assert info.value.status == 415
