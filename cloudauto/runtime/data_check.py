"""The spec's data checked before a job starts: files that exist, columns that are there, a label that fits the task.

Without it a missing file or a misspelt label starts the job and fails every trial, each
with AutoGluon's own words (`No models were trained successfully`), after the instances
have been paid for. `submit` runs this on every backend for the data it can read here:
local paths and file:// URLs (remote data is read by the service, where it is). Tabular,
time-series and text tasks: image data is read, and checked, when the job is compiled.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from ..spec.errors import SpecIssue
from ..spec.metrics import Task
from ..spec.types import scheme_of
from .data import DataError, read_table, resolve

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec.models import JobSpec

CHECKED_TASKS = (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING, Task.TEXT_CLASSIFICATION)


def local_path(uri: str, base_dir: Optional[str]) -> Optional[Path]:
    """The file a data URI names on this machine, or None for remote data."""
    scheme = scheme_of(uri)
    if scheme == "file":
        return Path(urlparse(uri).path)
    if scheme is None:
        return Path(resolve(uri, base_dir))
    return None


def did_you_mean(name: str, columns: list[str]) -> str:
    same = [c for c in columns if c.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _column_issue(name: str, field: tuple, frame: pd.DataFrame, shown: str) -> Optional[SpecIssue]:
    columns = [str(c) for c in frame.columns]
    if name in columns:
        return None
    listed = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    return SpecIssue(f"column '{name}' is not in {shown}; {did_you_mean(name, columns)}its columns: {listed}", field)


def _label_issue(spec: JobSpec, series: pd.Series, shown: str) -> Optional[SpecIssue]:
    import pandas as pd

    label = spec.data.label
    values = series.dropna()
    if values.empty:
        return SpecIssue(f"label '{label}' in {shown} has no values (every row is empty)", ("data", "label"))
    if spec.task in (Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING) and not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna()].astype(str).unique()[:3]
        kind = "a regression" if spec.task is Task.TABULAR_REGRESSION else "a forecast"
        hint = "; for categories use task: tabular_classification" if spec.task is Task.TABULAR_REGRESSION else ""
        return SpecIssue(
            f"label '{label}' in {shown} holds text ({', '.join(repr(b) for b in bad)}): {kind} needs numbers{hint}",
            ("data", "label"),
        )
    if spec.task in (Task.TABULAR_CLASSIFICATION, Task.TEXT_CLASSIFICATION) and values.nunique() < 2:
        return SpecIssue(
            f"label '{label}' in {shown} has one class only ({values.iloc[0]!r}): a classification needs two or more",
            ("data", "label"),
        )
    return None


def data_issues(spec: JobSpec) -> list[SpecIssue]:
    """What is wrong with the spec's local data for its task (empty when nothing is)."""
    from ..spec.models import Engine

    if spec.engine is Engine.COMMAND or spec.task not in CHECKED_TASKS:
        return []
    try:
        import pandas  # noqa: F401 - every backend has it; a core-only install has no backend to submit to
    except ImportError:
        return []
    data = spec.data
    found: list[SpecIssue] = []
    for role, uri in data.uris().items():
        path = local_path(uri, spec.base_dir)
        if path is None:
            continue
        if not path.is_file():
            where = " (relative paths are relative to the spec file's folder)" if scheme_of(uri) is None else ""
            found.append(SpecIssue(f"{uri}: no such file: {path}{where}", ("data", role)))
            continue
        try:
            frame = read_table(str(path))
        except DataError as exc:
            found.append(SpecIssue(str(exc), ("data", role)))
            continue
        shown = uri
        needed = [(data.label, ("data", "label")), (data.timestamp, ("data", "timestamp")), (data.item_id, ("data", "item_id"))]
        weight = spec.autogluon.sample_weight if spec.autogluon else None
        if role == "train" and weight not in (None, "auto_weight", "balance_weight"):
            needed.append((weight, ("autogluon", "sample_weight")))
        missing = [issue for name, field in needed if name for issue in [_column_issue(name, field, frame, shown)] if issue]
        found += missing
        if role == "train" and data.label and not any(i.path == ("data", "label") for i in missing):
            issue = _label_issue(spec, frame[data.label], shown)
            if issue:
                found.append(issue)
        if role == "train" and data.timestamp and data.timestamp in frame.columns:
            found += _timestamp_issue(data.timestamp, frame[data.timestamp], shown)
    return found


def _timestamp_issue(name: str, series: Any, shown: str) -> list[SpecIssue]:
    import pandas as pd

    parsed = pd.to_datetime(series, errors="coerce")
    bad = series[parsed.isna() & series.notna()]
    if len(bad):
        return [
            SpecIssue(
                f"timestamp '{name}' in {shown}: {len(bad)} values are not dates or times, e.g. {bad.iloc[0]!r}",
                ("data", "timestamp"),
            )
        ]
    return []


__all__ = ["data_issues", "did_you_mean", "local_path"]
