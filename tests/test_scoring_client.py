"""The scoring client's pieces that need no endpoint: CSV bodies, answers, batches in flight."""

from __future__ import annotations

import json
import random
import threading
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cloudauto.scoring import (
    ScoringError,
    as_frame,
    batches,
    body_encoder,
    csv_body,
    npy_body,
    npy_ready,
    predictions_frame,
    score_batches,
)

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=6)
COLUMN = st.one_of(
    hnp.arrays(np.float64, 5, elements=st.floats(allow_nan=True, allow_infinity=True)),
    hnp.arrays(np.float32, 5, elements=st.floats(width=32)),
    hnp.arrays(np.int64, 5),
    hnp.arrays(np.uint8, 5),
    st.just(np.array(["a", "b,c", 'q"', "", "x"], dtype=object)),
    st.just(pd.array([1, None, 3, None, 5], dtype="Int64")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAMES, COLUMN), min_size=1, max_size=4, unique_by=lambda c: c[0]))
def test_csv_body_is_what_pandas_writes(columns):
    frame = pd.DataFrame({name: values for name, values in columns})
    assert csv_body(frame) == frame.to_csv(index=False).encode()


def test_batches_respect_rows_and_bytes():
    frame = pd.DataFrame({"a": np.arange(2500, dtype=float), "b": np.arange(2500)})
    bodies = batches(frame, 1000, 10_000)
    assert all(len(b) <= 10_000 for b in bodies)
    back = pd.concat([pd.read_csv(__import__("io").BytesIO(b)) for b in bodies], ignore_index=True)
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b'[{"prediction": 1}, {"prediction": 0}]', {"prediction": [1, 0]}),
        (b'[{"prediction": "a", "proba_a": 0.1234567890123456789}]', {"prediction": ["a"], "proba_a": [0.12345678901234568]}),
        (b'[{"label": 1}, {"label": 2}]', {"label": [1, 2]}),
        (b'[{"prediction": 1}, {"other": 2}]', {"prediction": [1.0, np.nan], "other": [np.nan, 2.0]}),
        (b"[2, 3]", {"prediction": [2, 3]}),  # a bare list (Azure AutoML's answer)
        (json.dumps(json.dumps([{"prediction": 5}])).encode(), {"prediction": [5]}),  # JSON inside a string
    ],
    ids=["records", "exact-floats", "one-other-key", "ragged-keys", "bare-list", "json-in-string"],
)
def test_predictions_frame(answer, expected):
    pd.testing.assert_frame_equal(predictions_frame(answer), pd.DataFrame(expected))


def test_predictions_frame_refuses_what_is_not_predictions():
    with pytest.raises(ScoringError, match="answered dict, not a list of predictions"):
        predictions_frame(b'{"error": "nope"}')


def echo(delays: dict[int, float], seen: list[str]):
    """A stand-in endpoint: each batch answered after its own delay, its rows' `a` as predictions."""

    def send(body: bytes) -> bytes:
        rows = pd.read_csv(__import__("io").BytesIO(body))
        time.sleep(delays.get(int(rows["a"].iloc[0]), 0.0))
        seen.append(threading.current_thread().name)
        return json.dumps([{"prediction": int(v)} for v in rows["a"]]).encode()

    return send


def test_batches_in_flight_come_back_in_order():
    frame = pd.DataFrame({"a": range(70)}, index=[f"r{i}" for i in range(70)])
    rng = random.Random(7)
    delays = {start: rng.uniform(0, 0.05) for start in range(0, 70, 10)}
    seen: list[str] = []
    result = score_batches(frame, batches(frame, 10, 1 << 20), echo(delays, seen), concurrency=3)
    assert result["prediction"].tolist() == list(range(70))
    assert list(result.index) == list(frame.index)
    assert len(set(seen)) == 3  # three threads did send


def test_a_failing_batch_is_raised_and_a_short_answer_is_an_error():
    frame = pd.DataFrame({"a": range(30)})

    def fails(body: bytes) -> bytes:
        raise ScoringError("the endpoint answered 400: row 3 is bad", 400)

    with pytest.raises(ScoringError, match="row 3 is bad"):
        score_batches(frame, batches(frame, 10, 1 << 20), fails, concurrency=2)
    with pytest.raises(ScoringError, match="returned 3 predictions for 30 rows"):
        score_batches(frame, batches(frame, 10, 1 << 20), lambda body: b"[1]", concurrency=2)
    with pytest.raises(ScoringError, match="concurrency must be at least 1"):
        score_batches(frame, [], lambda body: b"[]", concurrency=0)
    assert score_batches(frame.iloc[:0], [], lambda body: b"[]", concurrency=2).empty


NUMERIC = st.one_of(
    hnp.arrays(np.float64, 5, elements=st.floats(allow_nan=True, allow_infinity=True)),
    hnp.arrays(np.float32, 5, elements=st.floats(width=32, allow_nan=True)),
    hnp.arrays(np.int64, 5),
    hnp.arrays(np.uint8, 5),
    hnp.arrays(np.bool_, 5),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES.filter(bool), NUMERIC), min_size=1, max_size=4, unique_by=lambda c: c[0]))
def test_npy_body_keeps_names_dtypes_and_values_exactly(columns):
    import io

    frame = pd.DataFrame({name: values for name, values in columns})
    assert npy_ready(frame)
    array = np.lib.format.read_array(io.BytesIO(npy_body(frame)), allow_pickle=False)
    back = pd.DataFrame({name: array[name] for name in array.dtype.names})
    pd.testing.assert_frame_equal(back, frame)  # NaN, inf, float32, bool as sent


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1.0], "b": ["x"]}),
        pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"a": pd.to_datetime(["2024-01-01"])}),
        pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]),
        pd.DataFrame([[1.0, 2.0]]),  # integer names
        pd.DataFrame(),
    ],
    ids=["text", "nullable", "times", "duplicate-names", "unnamed", "empty"],
)
def test_frames_npy_cannot_carry_go_as_csv(frame):
    assert not npy_ready(frame)
    assert body_encoder(frame, binary=True) == (csv_body, "text/csv", "application/x-npy")


def test_numeric_frames_go_as_npy_only_to_endpoints_that_take_it():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    assert body_encoder(frame, binary=True) == (npy_body, "application/x-npy", "application/x-npy")
    assert body_encoder(frame, binary=False) == (csv_body, "text/csv", "application/json")
    bodies = batches(frame, 1, 10_000, npy_body)
    assert len(bodies) == 2 and all(b.startswith(b"\x93NUMPY") for b in bodies)


def test_an_unreadable_npy_answer_is_a_scoring_error():
    with pytest.raises(ScoringError, match="npy answer cannot be read"):
        predictions_frame(b"\x93NUMPY\x01\x00broken")


@pytest.mark.parametrize(
    ("binary", "frame", "content_type"),
    [
        (True, pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3]}), "application/x-npy"),
        (True, pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}), "text/csv"),
        (False, pd.DataFrame({"a": [1.0, 2.0, 3.0]}), "text/csv"),
    ],
    ids=["numeric-to-ours", "text-to-ours", "numeric-to-others"],
)
def test_score_picks_the_body_each_endpoint_and_frame_allow(monkeypatch, binary, frame, content_type):
    import io

    from cloudauto.scoring import HTTPScorer

    sent: list[tuple[str, str, int]] = []
    scorer = HTTPScorer("http://127.0.0.1:9", binary=binary, max_rows=2)

    def post(body: bytes, content_type: str, accept: str, *, query: str = "") -> bytes:
        rows = len(np.load(io.BytesIO(body))) if content_type.endswith("npy") else body.count(b"\n") - 1
        sent.append((content_type, accept, rows))
        return json.dumps([{"prediction": 7}] * rows).encode()

    monkeypatch.setattr(scorer, "post", post)
    assert scorer.score(frame)["prediction"].tolist() == [7, 7, 7]
    accept = "application/x-npy" if binary else "application/json"
    assert sent == [(content_type, accept, 2), (content_type, accept, 1)]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("photo.JPG", b"\xff\xd8\xff\xe0 not rows", "photo.JPG is an image: this call scores rows"),
        ("rows.csv", b"\xff\xfe\x00 binary", "rows.csv:1: the header is not UTF-8 text (byte 0xff): save the file as UTF-8"),
        ("rows.csv", b"a,b\n1,2\n3,4,5\n", "rows.csv: row 1 (line 3) has 3 fields; the header has 2"),
        ("rows.csv", b"", "no rows to score in "),
        ("rows.parquet", b"not parquet", "rows.parquet: cannot read it as Parquet"),
        ("missing.csv", None, "missing.csv: no such file"),
    ],
    ids=["image", "binary", "ragged", "empty", "parquet", "missing"],
)
def test_files_that_are_not_rows_are_scoring_errors_that_say_why(tmp_path, name, content, words):
    import re

    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScoringError, match=re.escape(words)):
        as_frame(path)


def test_image_inputs_are_found_and_batched_under_the_size_limit(tmp_path):
    import base64

    from cloudauto.scoring import ScoringError, image_paths, images_bodies

    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i in range(5):
        path = folder / f"{i}.png"
        path.write_bytes(b"\x89PNG" + bytes([i]) * 300)
        paths.append(path)
    (folder / "notes.txt").write_text("not an image")
    assert image_paths(folder) == paths and image_paths(str(paths[0])) == [paths[0]]
    assert image_paths(paths) == paths and image_paths(tmp_path / "rows.csv") is None
    assert image_paths([{"a": 1}]) is None
    with pytest.raises(ScoringError, match="no such image: .*missing.png"):
        image_paths([folder / "missing.png"])
    bodies = list(images_bodies(paths, "image", max_bytes=1000))
    assert [len(batch) for batch, _ in bodies] == [2, 2, 1]  # each body under 1,000 bytes
    for batch, body in bodies:
        assert len(body) <= 1000
        decoded = [base64.b64decode(item["image"]) for item in json.loads(body)["instances"]]
        assert decoded == [p.read_bytes() for p in batch]
    with pytest.raises(ScoringError, match="over the endpoint's 100 per request"):
        list(images_bodies(paths, "image", max_bytes=100))


SHORT_ROWS = [
    (b"cust_id,age,income,plan,tenure\nX,30,40,pro,5\nY,50\n", "row 1 (line 3) has 2 fields; the header has 5"),
    (b"cust_id,age,income,plan,tenure\nX,30,40,pro,5\nY,50\n,,,,\n", "row 1 (line 3) has 2 fields; the header has 5"),
    (b"a,b,c\n1,2,3\n,,\n4,5,6\n", "row 1 (line 3) has no values"),
    (b"a,b,c\n\n1,2,3\n\n4,5,6,7\n", "row 1 (line 5) has 4 fields; the header has 3"),
    (b'a,b,c\n"x\ny",2,3\n4,5\n', "row 1 (line 4) has 2 fields; the header has 3"),
]


@pytest.mark.parametrize(("content", "words"), SHORT_ROWS, ids=["short", "short then empty", "empty", "long", "quoted"])
def test_a_csv_file_with_a_row_of_another_width_or_no_values_is_refused_naming_its_row_and_line(tmp_path, content, words):
    """pandas would pad a short row with NaN and score it: the file is read as the batch reads it, and refused."""
    path = tmp_path / "short2.csv"
    path.write_bytes(content)
    with pytest.raises(ScoringError) as caught:
        as_frame(path)
    assert caught.value.exit_code == 5
    assert str(caught.value).startswith(f"{path}: {words}"), str(caught.value)


def test_a_csv_file_is_read_as_pandas_reads_it_with_its_lines(tmp_path):
    path = tmp_path / "rows.csv"
    pd.DataFrame({"x": [1, 2, 3], "t": ["a,b", 'q"', None], "f": [0.1, None, 1e-300]}).to_csv(path, index=False)
    frame = as_frame(path)
    pd.testing.assert_frame_equal(frame, pd.read_csv(path))
    assert list(frame.attrs["lines"]) == [2, 3, 4]


RECORDS = [{"cust_id": "X", "age": 30, "plan": "pro"}, {"cust_id": "Y", "age": 50, "plan": "free"}]


def test_json_and_jsonl_files_are_read_as_records(tmp_path):
    (tmp_path / "rows.json").write_text(json.dumps(RECORDS))
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    (tmp_path / "table.json").write_text(json.dumps({"columns": ["cust_id", "age", "plan"], "data": [["X", 30, "pro"]]}))
    expected = pd.DataFrame.from_records(RECORDS)
    pd.testing.assert_frame_equal(as_frame(tmp_path / "rows.json"), expected)
    pd.testing.assert_frame_equal(as_frame(tmp_path / "rows.jsonl"), expected)
    pd.testing.assert_frame_equal(as_frame(tmp_path / "table.json"), expected.head(1))


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("rows.json", json.dumps([RECORDS[0], {"cust_id": "Y"}]), "rows.json: row 1 has no 'age', 'plan', which row 0 has"),
        ("rows.jsonl", json.dumps(RECORDS[0]) + "\n\n{}\n", "rows.jsonl: row 1 (line 3) has no values"),
        ("rows.jsonl", json.dumps(RECORDS[0]) + "\n[1, 2\n", "rows.jsonl: line 2 is not JSON"),
        ("rows.json", "[[1, 2], [3, 4]]", "rows.json: JSON rows are records"),
        ("rows.json", '{"a": 1', "rows.json: cannot read it as JSON"),
        ("rows.json", "[]", "no rows to score in "),
        ("rows.jsonl", "\n", "no rows to score in "),
        ("rows.csv", "a,b,c\n", "no rows to score in "),
        ("rows.csv", "a,b,c\n\n\n", "no rows to score in "),
        ("rows.txt", "a,b\n1,2\n", "rows.txt: cannot score a .txt file: give a CSV (.csv), Parquet (.parquet)"),
        ("rows", "a,b\n1,2\n", "rows: cannot score a file without a suffix"),
    ],
    ids=[
        "record short",
        "jsonl empty",
        "jsonl broken",
        "lists",
        "broken",
        "json empty",
        "jsonl empty file",
        "header only",
        "header and blanks",
        "txt",
        "no suffix",
    ],
)
def test_json_files_without_rows_and_unknown_kinds_are_refused_naming_what_is_read(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ScoringError) as caught:
        as_frame(path)
    message = str(caught.value)
    assert words in message, message
    if words == "no rows to score in ":
        assert message == f"no rows to score in {path}"


def test_the_endpoints_row_numbers_are_said_over_the_whole_input_with_the_files_line(tmp_path):
    """The endpoint numbers the rows of one request; the client says the row of the input (and its line in the file)."""
    path = tmp_path / "rows.csv"
    path.write_text("a\n" + "".join(f"{i}\n\n" for i in range(30)))  # a blank line after each row
    frame = as_frame(path)

    def fails_on_the_second_batch(body: bytes) -> bytes:
        if body.startswith(b"a\n10\n"):
            raise ScoringError("the endpoint answered 400: column 'a' takes numbers; row 3 has 'x'", 400)
        return json.dumps([{"prediction": 1}] * (body.count(b"\n") - 1)).encode()

    from cloudauto.scoring import spans

    with pytest.raises(ScoringError) as caught:
        score_batches(frame, spans(frame, 10, 1 << 20), fails_on_the_second_batch)
    assert str(caught.value) == "the endpoint answered 400: column 'a' takes numbers; row 13 (line 28) has 'x'"
    assert caught.value.status == 400
    with pytest.raises(ScoringError, match="row 3 has 'x'$"):  # bodies without their first rows: said as the endpoint said it
        score_batches(frame, batches(frame, 10, 1 << 20), fails_on_the_second_batch)


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "csv-module"])
def test_a_row_not_utf8_keeps_its_kept_columns(tmp_path, quoted):
    """--keep-columns id: the row that fails on a byte not UTF-8 in another column lost its id (blank in the output)."""
    from cloudauto.runtime.batch_io import csv_chunks

    head = b'"id",a,b\n' if quoted else b"id,a,b\n"
    path = tmp_path / "bad.csv"
    path.write_bytes(head + b"4,0.1,0.2\n5,0.5\xff,0.3\n6\xfe,0.2,0.1\n7,0.3,0.4\n")
    (frame,) = list(csv_chunks(path, 10, ["id"]))
    assert frame.attrs["kept"]["id"].tolist() == ["4", "5", "6\ufffd", "7"]
    shape = frame.attrs["shape"]
    assert sorted(shape) == [1, 2]
    assert "byte 0xff in column 'a'" in shape[1] and "kept" not in shape[1]
    assert "byte 0xfe in column 'id'" in shape[2] and "kept column 'id' is written with U+FFFD" in shape[2], shape[2]
