"""Scoring against an HTTP endpoint: one client behind `Endpoint.score()` everywhere.

Standard library only (http.client, keep-alive), so scoring needs no SDK. Large inputs
are cut into batches under the payload limit (SageMaker's 6 MB by default) and sent
`concurrency` at a time, so the next batch is written while the endpoint predicts the last
one; 429, 503 and dropped connections are retried with exponential backoff and jitter; any
other error raises `ScoringError` with the endpoint's own message.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from .spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MAX_PAYLOAD = 6 * 1024 * 1024
RETRY_STATUS = {429, 503}
CSV, JSON, NPY = "text/csv", "application/json", "application/x-npy"
NPY_MAGIC = b"\x93NUMPY"
# a cloudauto endpoint's server names itself on every answer (endpoint, job, trial, model digest, deployment)
IDENTITY_HEADER = "X-Cloudauto-Endpoint"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ScoringError(CloudautoError):
    exit_code = 5

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def identity_header(identity: dict[str, Any]) -> str:
    """The X-Cloudauto-Endpoint value for an endpoint's identity (the same text on the server and the client)."""
    return "; ".join(f"{k}={identity.get(k)}" for k in ("name", "job", "trial", "model", "instance"))


def as_frame(data: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a list of records, a mapping of columns or a file (see `read_rows`)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return read_rows(Path(data))
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise ScoringError(f"cannot score a {type(data).__name__}: give a DataFrame, records, a mapping of columns or a CSV path")


ROW_FILES = {
    ".csv": "CSV",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".json": "JSON",
    ".jsonl": "JSON lines",
    ".ndjson": "JSON lines",
}


def read_rows(path: Path) -> pd.DataFrame:
    """A file's rows, read as the endpoint and the batch read them: a row of another width, or without values, is refused.

    CSV through the batch's reader (pandas alone pads a short row with NaN, and it would be
    scored); JSON (.json: records or {columns, data}; .jsonl: a record a line) through the
    endpoint's. The frame's `attrs["lines"]` holds each row's line in the file, where it has
    one, so that a row the endpoint refuses is named there too. No rows is an error.
    """
    import pandas as pd

    if not path.is_file():
        raise ScoringError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise ScoringError(
            f"{path} is an image: this call scores rows (a CSV or Parquet file, a DataFrame, records); "
            "an endpoint of an image model takes image files in its score()"
        )
    kind = ROW_FILES.get(suffix)
    if kind is None:
        raise ScoringError(
            f"{path}: cannot score {f'a {suffix} file' if suffix else 'a file without a suffix'}: give a CSV (.csv), "
            "Parquet (.parquet), JSON records (.json) or JSON lines (.jsonl) file, named so"
        )
    from .backend import BatchError as BatchErrorType

    try:
        if kind == "CSV":
            frame = _csv_rows(path)
        elif kind == "Parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _json_rows(path, lines=kind == "JSON lines")
    except ScoringError:
        raise
    except BatchErrorType as exc:  # the CSV reader's own words: a header that is not UTF-8, with its line
        raise ScoringError(str(exc)) from None
    except OSError as exc:
        raise ScoringError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, csv.Error) as exc:  # pandas' parser errors, undecodable bytes, not Parquet
        raise ScoringError(f"{path}: cannot read it as {kind}: {exc}") from None
    if len(frame) == 0:
        raise ScoringError(f"no rows to score in {path}")
    return frame


def _csv_rows(path: Path) -> pd.DataFrame:
    import pandas as pd

    from .runtime.batch_io import csv_chunks
    from .runtime.inference import _empty_rows

    frame = next(csv_chunks(path, sys.maxsize), None)
    if frame is None:
        return pd.DataFrame()
    _refuse_rows(path, {**dict.fromkeys(_empty_rows(frame), "has no values"), **frame.attrs["shape"]}, frame.attrs["lines"])
    return frame


def _json_rows(path: Path, lines: bool) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    from .runtime.inference import BadRequest, _empty_rows, _json_loads, json_rows

    numbers: Optional[list[int]] = None
    try:
        if lines:  # a record a line, blank lines skipped
            data, numbers = [], []
            for number, text in enumerate(path.read_bytes().splitlines(), 1):
                if not text.strip():
                    continue
                try:
                    data.append(_json_loads(text))
                except ValueError as exc:
                    raise ScoringError(f"{path}: line {number} is not JSON: {exc}") from None
                numbers.append(number)
            if not all(isinstance(r, dict) for r in data):
                number = next(n for n, r in zip(numbers, data, strict=True) if not isinstance(r, dict))
                raise ScoringError(
                    f"{path}: line {number} is not a record ({{column: value, ...}}); a .jsonl file holds one a line"
                )
        else:
            data = _json_loads(path.read_bytes())
        if lines and not data:
            return pd.DataFrame()
        frame, shape = json_rows(data)
    except BadRequest as exc:
        raise ScoringError(f"{path}: {exc}") from None
    located = np.array(numbers) if numbers is not None else None
    _refuse_rows(path, {**dict.fromkeys(_empty_rows(frame), "has no values"), **shape}, located)
    if located is not None:
        frame.attrs["lines"] = located
    return frame


def _refuse_rows(path: Path, bad: dict[int, str], lines: Any) -> None:
    """The first row of another width (or without values), named with its line; nothing of the file is sent."""
    from .runtime.batch_io import row_where

    if not bad:
        return
    row, reason = min(bad.items())
    more = f"; {len(bad) - 1} more row{'s' if len(bad) > 2 else ''} like it" if len(bad) > 1 else ""
    raise ScoringError(f"{path}: {row_where(row, lines)} {reason}{more}; fix or remove it, nothing was scored")


def image_paths(data: Any) -> Optional[list[Path]]:
    """The image files `data` names (one path, a list of paths, a folder of images), or None when it is no image input."""
    items = data if isinstance(data, (list, tuple)) else [data]
    if not items or not all(isinstance(i, (str, Path)) for i in items):
        return None
    paths = [Path(i) for i in items]
    if len(paths) == 1 and paths[0].is_dir():
        found = sorted(p for p in paths[0].rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ScoringError(f"{paths[0]}: no images in this folder")
        return found
    if not all(p.suffix.lower() in IMAGE_SUFFIXES for p in paths):
        return None
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ScoringError(
            f"no such image: {', '.join(missing[:3])}" + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        )
    return paths


def images_bodies(paths: list[Path], column: str, max_bytes: int, max_rows: int = 32) -> Iterator[tuple[list[Path], bytes]]:
    """JSON bodies of base64 images ({"instances": [{column: ...}]}), each under `max_bytes` and `max_rows`."""
    import base64

    batch: list[Path] = []
    encoded: list[str] = []
    size = 20
    for path in paths:
        item = base64.b64encode(path.read_bytes()).decode()
        if len(item) + 20 > max_bytes:
            raise ScoringError(f"{path}: {len(item):,} bytes as base64, over the endpoint's {max_bytes:,} per request")
        if batch and (size + len(item) + 20 > max_bytes or len(batch) >= max_rows):
            yield batch, _instances(column, encoded)
            batch, encoded, size = [], [], 20
        batch.append(path)
        encoded.append(item)
        size += len(item) + 20
    if batch:
        yield batch, _instances(column, encoded)


def score_images(paths: list[Path], post: Callable[[bytes], bytes], max_bytes: int, column: str = "image") -> pd.DataFrame:
    """Images as base64 JSON `instances`, batched under `max_bytes`: one row per image (its path, class, probabilities)."""
    import pandas as pd

    frames = []
    for batch, body in images_bodies(paths, column, max_bytes):
        # dtype=False: a class named "5" stays the string the model predicts
        answer = pd.read_json(io.BytesIO(post(body)), orient="records", dtype=False)
        if len(answer) != len(batch):
            raise ScoringError(f"the endpoint answered {len(answer)} rows for {len(batch)} images")
        frames.append(answer.assign(**{column: [str(p) for p in batch]}))
    out = pd.concat(frames, ignore_index=True)
    return out[[column, *[c for c in out.columns if c != column]]]


def _instances(column: str, encoded: list[str]) -> bytes:
    return json.dumps({"instances": [{column: item} for item in encoded]}).encode()


def csv_body(frame: pd.DataFrame) -> bytes:
    """The frame as CSV, as `to_csv(index=False)` writes it (numeric frames to cloudauto's own endpoints go as npy)."""
    return frame.to_csv(index=False).encode()


def npy_ready(frame: pd.DataFrame) -> bool:
    """Whether the frame can go as npy: every column numeric (NumPy dtypes), names unique strings."""
    import numpy as np

    names = list(frame.columns)
    return (
        bool(names)
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
        and all(isinstance(d, np.dtype) and d.kind in "biuf" for d in frame.dtypes)
    )


def npy_body(frame: pd.DataFrame) -> bytes:
    """The frame as a structured NumPy array (`application/x-npy`), names and dtypes kept (see npy_ready).

    Cheaper than CSV to write and for the endpoint to read (no parser, no number text),
    and exact. Text, times and pandas' nullable types go as CSV, which carries them as is.
    """
    import numpy as np

    array = np.empty(len(frame), dtype=[(str(n), d) for n, d in zip(frame.columns, frame.dtypes, strict=True)])
    for i, name in enumerate(array.dtype.names or ()):
        array[name] = frame.iloc[:, i].to_numpy()
    out = io.BytesIO()
    with warnings.catch_warnings():  # names beyond Latin-1 need format 3.0, which NumPy >= 1.17 reads: said once here
        warnings.filterwarnings("ignore", "Stored array in format 3.0", UserWarning)
        np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


def body_encoder(frame: pd.DataFrame, binary: bool) -> tuple[Callable[[pd.DataFrame], bytes], str, str]:
    """How to write this frame's batches, their content type and the answer to ask for.

    npy where the endpoint runs cloudauto's handler (`binary`) and the frame allows, answered
    in npy; otherwise CSV, answered in JSON (npy answers from cloudauto's handler either way).
    """
    accept = NPY if binary else JSON
    return (npy_body, NPY, accept) if binary and npy_ready(frame) else (csv_body, CSV, accept)


def batches(
    frame: pd.DataFrame, max_rows: int, max_bytes: int, encode: Callable[[pd.DataFrame], bytes] = csv_body
) -> list[bytes]:
    """Bodies (CSV unless `encode` says otherwise) of at most `max_rows` rows and `max_bytes` bytes each."""
    return [body for _, body in spans(frame, max_rows, max_bytes, encode)]


def spans(
    frame: pd.DataFrame, max_rows: int, max_bytes: int, encode: Callable[[pd.DataFrame], bytes] = csv_body
) -> list[tuple[int, bytes]]:
    """The bodies of `batches`, each with the position of its first row (to say the endpoint's row numbers over the input)."""
    bodies: list[tuple[int, bytes]] = []
    start = 0
    rows = max_rows
    while start < len(frame):
        chunk = frame.iloc[start : start + rows]
        body = encode(chunk)
        if len(body) > max_bytes and rows > 1:
            rows = max(1, rows // 2)
            continue
        if len(body) > max_bytes:
            raise ScoringError(f"row {start} alone is {len(body):,} bytes; the endpoint takes at most {max_bytes:,}")
        bodies.append((start, body))
        start += len(chunk)
        rows = max_rows
    return bodies


ROW_NUMBER = re.compile(r"\brow (\d+)\b")


def renumbered(exc: ScoringError, start: int, lines: Any = None) -> ScoringError:
    """The endpoint's 400 with its row numbers (of one request) said over the whole input, and the file's line."""
    from .runtime.batch_io import row_where

    if exc.status != 400:
        return exc
    said = ROW_NUMBER.sub(lambda m: row_where(start + int(m.group(1)), lines), str(exc))
    return exc if said == str(exc) else ScoringError(said, exc.status)


def predictions_frame(answer: bytes | str | list) -> pd.DataFrame:
    """An endpoint's answer as a frame: JSON records, a bare JSON list of predictions, or npy.

    `json` rather than `pd.read_json`: floats exact (pandas' reader rounds them unless
    asked not to). An npy answer is known by its magic bytes, which no JSON starts with.
    """
    import pandas as pd

    if isinstance(answer, bytes) and answer.startswith(NPY_MAGIC):
        return _npy_frame(answer)
    records = json.loads(answer) if isinstance(answer, (bytes, str)) else answer
    if isinstance(records, str):  # some scoring scripts return their JSON as a string
        records = json.loads(records)
    if not isinstance(records, list):
        raise ScoringError(f"the endpoint answered {type(records).__name__}, not a list of predictions: {str(records)[:200]}")
    if records and all(isinstance(r, dict) for r in records):
        if all(len(r) == 1 for r in records):  # predictions alone, the common answer: one column, built directly
            try:
                return pd.DataFrame({"prediction": [r["prediction"] for r in records]})
            except KeyError:
                pass
        return pd.DataFrame.from_records(records)
    return pd.DataFrame({"prediction": records})


def _npy_frame(answer: bytes) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    try:
        array = np.lib.format.read_array(io.BytesIO(answer), allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ScoringError(f"the endpoint's npy answer cannot be read: {exc}") from None
    if array.dtype.names:
        return pd.DataFrame({name: array[name] for name in array.dtype.names})
    return pd.DataFrame({"prediction": array.reshape(-1)})


def score_batches(
    frame: pd.DataFrame,
    bodies: list[bytes] | list[tuple[int, bytes]],
    send: Callable[[bytes], bytes],
    *,
    concurrency: int = 1,
    who: str = "the endpoint",
) -> pd.DataFrame:
    """Send each batch (`concurrency` at a time, answers kept in order), one frame of predictions indexed like `frame`.

    Bodies from `spans` (with their first row) get the endpoint's row numbers in a refusal
    said over the whole input, with the line of the file the frame was read from.
    """
    import pandas as pd

    if concurrency < 1:
        raise ScoringError(f"concurrency must be at least 1, not {concurrency}")
    lines = frame.attrs.get("lines")
    items = [item if isinstance(item, tuple) else (None, item) for item in bodies]

    def one(item: tuple[Optional[int], bytes]) -> bytes:
        start, body = item
        try:
            return send(body)
        except ScoringError as exc:
            if start is None:
                raise
            raise renumbered(exc, start, lines) from None

    if concurrency == 1 or len(items) <= 1:
        answers = [one(item) for item in items]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(concurrency, len(items)), thread_name_prefix="cloudauto-score") as pool:
            answers = list(pool.map(one, items))  # the first failure, in order, is raised
    parts = [predictions_frame(answer) for answer in answers]
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(result) != len(frame):
        raise ScoringError(f"{who} returned {len(result)} predictions for {len(frame)} rows")
    result.index = frame.index
    return result


def forecast(frame: pd.DataFrame, keep: Sequence[str], max_bytes: int, send: Callable[[bytes], bytes]) -> pd.DataFrame:
    """A forecaster's answer to the whole history in one CSV request (each series' history must arrive together):
    one row per series and step, the mean and each quantile, as every backend's endpoint gives it."""
    import pandas as pd

    if keep:
        raise ScoringError("keep_columns: a forecast answers per series and step, not per input row")
    body = csv_body(frame)
    if len(body) > max_bytes:
        raise ScoringError(f"the history is {len(body):,} bytes, over the endpoint's {max_bytes:,}: send fewer series per call")
    try:
        answer = send(body)
    except ScoringError as exc:
        raise renumbered(exc, 0, frame.attrs.get("lines")) from None
    return pd.read_json(io.BytesIO(answer), orient="records")


class HTTPScorer:
    def __init__(
        self,
        url: str,
        *,
        path: str = "/invocations",
        key: Optional[str] = None,
        timeout: float = 60.0,
        max_rows: int = 1000,
        max_bytes: int = MAX_PAYLOAD,
        retries: int = 5,
        backoff: float = 0.2,
        headers: Optional[dict[str, str]] = None,
        binary: bool = False,
        identity: Optional[str] = None,
        who: str = "the endpoint",
    ):
        """`binary`: the endpoint runs cloudauto's handler, so numeric batches may go (and come back) as npy.

        `identity`: the X-Cloudauto-Endpoint value every answer must carry; an answer from any
        other server (another endpoint that took the port) is an error, never predictions.
        """
        parsed = urlparse(url)
        self.host, self.port, self.https = parsed.hostname, parsed.port, parsed.scheme == "https"
        self.path = (parsed.path.rstrip("/") or "") + path
        self.key, self.timeout = key, timeout
        self.max_rows, self.max_bytes, self.retries, self.backoff = max_rows, max_bytes, retries, backoff
        self.headers = headers or {}
        self.binary = binary
        self.identity, self.who = identity, who
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = self._local.conn = cls(self.host, self.port, timeout=self.timeout)
        return conn

    def post(self, body: bytes, content_type: str = "text/csv", accept: str = "application/json", *, query: str = "") -> bytes:
        headers = {"Content-Type": content_type, "Accept": accept, **self.headers}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        attempt, fresh_retry = 0, True
        while True:
            reused = getattr(self._local, "conn", None) is not None
            try:
                conn = self._connection()
                conn.request("POST", self.path + query, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as exc:
                self._local.conn = None
                if reused and fresh_retry:  # the server closed an idle keep-alive connection: not a failure
                    fresh_retry = False
                    continue
                if attempt >= self.retries:
                    raise ScoringError(f"cannot reach {self.host}:{self.port}{self.path}: {exc}") from None
                self._sleep(attempt)
                attempt += 1
                continue
            if self.identity is not None and response.getheader(IDENTITY_HEADER) != self.identity:
                said = response.getheader(IDENTITY_HEADER)
                raise ScoringError(
                    f"{self.host}:{self.port} answered as {said or 'a server that is no cloudauto endpoint'}, not as "
                    f"{self.who} ({self.identity}): its server stopped and another took the port; deploy it again"
                )
            if response.status < 300:
                return data
            if response.status in RETRY_STATUS and attempt < self.retries:
                self._sleep(attempt, response.getheader("Retry-After"))
                attempt += 1
                continue
            raise ScoringError(f"the endpoint answered {response.status}: {_message(data)}", response.status)

    def _sleep(self, attempt: int, retry_after: Optional[str] = None) -> None:
        delay = self.backoff * (2**attempt) * (0.5 + random.random())  # exponential, with jitter
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 30.0))

    def score_images(self, paths: list[Path], column: str = "image") -> pd.DataFrame:
        """One row per image: its path, the predicted class and each class's probability (a MultiModal model's answer)."""
        return score_images(paths, lambda body: self.post(body, "application/json"), self.max_bytes, column)

    def score(
        self,
        data: Any,
        *,
        probabilities: bool = False,
        whole: bool = False,
        concurrency: int = 2,
        keep_columns: Optional[Sequence[str]] = None,
    ) -> pd.DataFrame:
        """Predictions for every row (class probabilities too, on request), batched; `keep_columns` of the input in front.

        `whole` sends the data in one request (a forecaster needs each series' history
        together) and returns the answer as it comes, one row per series and step.
        `concurrency` batches are in flight at once (each thread keeps its own connection).
        """

        frame = as_frame(data)
        keep = checked_kept(frame, keep_columns)
        query = "?probabilities=true" if probabilities else ""
        if whole:
            return forecast(frame, keep, self.max_bytes, lambda body: self.post(body, query=query))
        encode, content_type, accept = body_encoder(frame, self.binary)
        bodies = spans(frame, self.max_rows, self.max_bytes, encode)
        scored = score_batches(frame, bodies, lambda body: self.post(body, content_type, accept, query=query), concurrency=concurrency)
        return with_kept(frame, scored, keep)


ANSWER_COLUMNS = ("prediction", "error", "mean", "_row", "_file", "_line")  # what scoring adds beside the kept columns


def kept_problem(keep: Sequence[str]) -> Optional[str]:
    """Why these kept columns cannot be kept (None: they can): one named twice, or one that an answer column
    (`prediction`, `proba_*`, `error`, a forecast's mean and quantiles) or an internal one would replace or drop."""
    seen: set[str] = set()
    for name in keep:
        if name in seen:
            return f"{name!r} is named twice; name each column once"
        seen.add(name)
        if name in ANSWER_COLUMNS or name.startswith("proba_") or _quantile(name):
            return f"{name!r} is also a column of the answer, which would replace it; keep an ID column of another name"
    return None


def _quantile(name: str) -> bool:
    try:
        return 0.0 < float(name) < 1.0
    except ValueError:
        return False


def checked_kept(frame: pd.DataFrame, keep_columns: Optional[Sequence[str]]) -> list[str]:
    """The columns `keep_columns` names, refused (before anything is sent) where the data lacks one or one clashes."""
    keep = [str(c) for c in (keep_columns or [])]
    problem = kept_problem(keep)
    if problem:
        raise ScoringError(f"keep_columns: {problem}")
    missing = [c for c in keep if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:30]))
        raise ScoringError(f"keep_columns: the data has no column {', '.join(map(repr, missing))}; its columns: {shown}")
    return keep


def with_kept(frame: pd.DataFrame, predictions: Any, keep: list[str]) -> Any:
    """The kept input columns in front of the predictions, row for row, so scored rows join back to the input."""
    if not keep:
        return predictions
    import pandas as pd

    if not isinstance(predictions, pd.DataFrame) or len(predictions) != len(frame):
        raise ScoringError("keep_columns: the answer is not one row per input row (a forecast or images), so no column can be kept")
    answer = predictions.drop(columns=[c for c in keep if c in predictions.columns]).reset_index(drop=True)
    return pd.concat([frame[keep].reset_index(drop=True), answer], axis=1)


def _message(data: bytes) -> str:
    try:
        payload = json.loads(data)
        return str(payload.get("error") or payload.get("message") or payload)
    except (ValueError, AttributeError):
        return data.decode(errors="replace")[:500]


__all__ = [
    "HTTPScorer",
    "IDENTITY_HEADER",
    "identity_header",
    "MAX_PAYLOAD",
    "ScoringError",
    "ANSWER_COLUMNS",
    "as_frame",
    "batches",
    "body_encoder",
    "csv_body",
    "image_paths",
    "kept_problem",
    "images_bodies",
    "score_images",
    "npy_body",
    "npy_ready",
    "predictions_frame",
    "read_rows",
    "renumbered",
    "score_batches",
    "spans",
]
