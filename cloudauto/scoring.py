"""Scoring against an HTTP endpoint: one client behind `Endpoint.score()` everywhere.

Standard library only (http.client, keep-alive), so scoring needs no SDK. Large inputs
are cut into batches under the payload limit (SageMaker's 6 MB by default); 429, 503
and dropped connections are retried with exponential backoff and jitter; any other
error raises `ScoringError` with the endpoint's own message.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from .spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MAX_PAYLOAD = 6 * 1024 * 1024
RETRY_STATUS = {429, 503}


class ScoringError(CloudautoError):
    exit_code = 5

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def as_frame(data: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a list of records, a mapping of columns or a CSV/Parquet path."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise ScoringError(f"{path}: no such file")
        return pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise ScoringError(f"cannot score a {type(data).__name__}: give a DataFrame, records, a mapping of columns or a CSV path")


def batches(frame: pd.DataFrame, max_rows: int, max_bytes: int) -> list[bytes]:
    """CSV bodies of at most `max_rows` rows and `max_bytes` bytes each."""
    bodies: list[bytes] = []
    start = 0
    rows = max_rows
    while start < len(frame):
        chunk = frame.iloc[start : start + rows]
        body = chunk.to_csv(index=False).encode()
        if len(body) > max_bytes and rows > 1:
            rows = max(1, rows // 2)
            continue
        if len(body) > max_bytes:
            raise ScoringError(f"row {start} alone is {len(body):,} bytes; the endpoint takes at most {max_bytes:,}")
        bodies.append(body)
        start += len(chunk)
        rows = max_rows
    return bodies


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
    ):
        parsed = urlparse(url)
        self.host, self.port, self.https = parsed.hostname, parsed.port, parsed.scheme == "https"
        self.path = (parsed.path.rstrip("/") or "") + path
        self.key, self.timeout = key, timeout
        self.max_rows, self.max_bytes, self.retries, self.backoff = max_rows, max_bytes, retries, backoff
        self.headers = headers or {}
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

    def score(self, data: Any, *, probabilities: bool = False, whole: bool = False) -> pd.DataFrame:
        """Predictions for every row (class probabilities too, on request), batched.

        `whole` sends the data in one request (a forecaster needs each series' history
        together) and returns the answer as it comes, one row per series and step.
        """
        import pandas as pd

        frame = as_frame(data)
        query = "?probabilities=true" if probabilities else ""
        if whole:
            body = frame.to_csv(index=False).encode()
            if len(body) > self.max_bytes:
                raise ScoringError(
                    f"the history is {len(body):,} bytes, over the endpoint's {self.max_bytes:,}: send fewer series per call"
                )
            return pd.read_json(io.BytesIO(self.post(body, query=query)), orient="records")
        parts = [
            pd.read_json(io.BytesIO(self.post(body, query=query)), orient="records")
            for body in batches(frame, self.max_rows, self.max_bytes)
        ]
        result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if len(result) != len(frame):
            raise ScoringError(f"the endpoint returned {len(result)} predictions for {len(frame)} rows")
        result.index = frame.index
        return result


def _message(data: bytes) -> str:
    try:
        payload = json.loads(data)
        return str(payload.get("error") or payload.get("message") or payload)
    except (ValueError, AttributeError):
        return data.decode(errors="replace")[:500]


__all__ = ["HTTPScorer", "MAX_PAYLOAD", "ScoringError", "as_frame", "batches"]
