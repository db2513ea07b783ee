"""Reading a table from wherever the spec says it is: a path, file://, http(s):// or s3://."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlparse

from ..spec.types import scheme_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


class DataError(Exception):
    """The data named by the spec cannot be read; the message says which and why."""


def resolve(uri: str, base_dir: Optional[str]) -> str:
    """A relative path is relative to the spec file's folder; everything else stays as is."""
    if scheme_of(uri) is not None or base_dir is None or Path(uri).is_absolute():
        return uri
    return str((Path(base_dir) / uri).resolve())


def _read_bytes(uri: str) -> tuple[bytes, str]:
    scheme = scheme_of(uri)
    if scheme == "s3":
        import boto3  # honours AWS_ENDPOINT_URL, so a moto server works in tests

        parts = urlparse(uri)
        body = boto3.client("s3").get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
        return body, parts.path
    if scheme in ("http", "https"):
        from urllib.request import urlopen

        with urlopen(uri, timeout=60) as response:  # noqa: S310 - the scheme is checked above
            return response.read(), urlparse(uri).path
    path = Path(urlparse(uri).path) if scheme == "file" else Path(uri)
    return path.read_bytes(), str(path)


def read_table(uri: str, base_dir: Optional[str] = None) -> pd.DataFrame:
    import pandas as pd

    uri = resolve(uri, base_dir)
    scheme = scheme_of(uri)
    if scheme not in (None, "file", "s3", "http", "https"):
        raise DataError(f"{uri}: the local runtime reads paths, file://, http(s):// and s3:// data, not {scheme}://")
    try:
        data, name = _read_bytes(uri)
    except FileNotFoundError:
        raise DataError(f"{uri}: no such file") from None
    except Exception as exc:  # network, S3, permissions: all end in one clear message
        raise DataError(f"{uri}: cannot read: {exc}") from None
    suffix = Path(name).suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(io.BytesIO(data))
        if suffix in (".jsonl", ".json"):
            return pd.read_json(io.BytesIO(data), lines=suffix == ".jsonl")
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        raise DataError(f"{uri}: not a readable table ({type(exc).__name__}: {exc})") from None


def twice_named(path: Path) -> Optional[tuple[str, int]]:
    """A column a local CSV file's header names twice, with the header's line; None when each is named once.

    pandas renames the copy (`a.1`) without a word, so the header is read as written (csv module):
    a job would train on both, then `predict` and the endpoint refuse the very same file.
    """
    import csv

    if path.suffix.lower() in (".parquet", ".pq", ".json", ".jsonl"):
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if any(cell.strip() for cell in row):  # pandas skips blank lines before the header too
                    seen: set[str] = set()
                    for name in row:
                        if name in seen:
                            return name, line
                        seen.add(name)
                    return None
    except (OSError, csv.Error):  # read_table says what is wrong with such a file
        return None
    return None


__all__ = ["DataError", "read_table", "resolve", "twice_named"]
