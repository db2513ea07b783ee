"""The spec's data checked before a job starts: files that exist, columns that are there, a label that fits the task.

Also: the validation and test files have every feature column of the training file (else
every trial trains and then cannot score them), a classification label holds classes (not
measurements AutoGluon would take for a regression), and a forecast's `freq` is the data's.

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
from .data import DataError, read_table, resolve, twice_named

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


def twice_message(name: str) -> str:
    return f"the column '{name}' is named twice in the header; name each column once"


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
    continuous = _continuous_issue(spec, values, shown)
    if continuous:
        return continuous
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
    train: Optional[tuple[str, pd.DataFrame]] = None  # (as the spec names it, the table) once read
    static: Optional[tuple[str, pd.DataFrame]] = None
    tables: dict[str, tuple[str, pd.DataFrame]] = {}
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
        twice = twice_named(path)
        if twice:
            found.append(SpecIssue(f"{shown}:{twice[1]}: {twice_message(twice[0])}", ("data", role)))
            continue
        if role == "static_features":
            static = (shown, frame)
            continue
        needed = [(data.label, ("data", "label")), (data.timestamp, ("data", "timestamp")), (data.item_id, ("data", "item_id"))]
        known = spec.forecasting.known_covariates if spec.forecasting else []
        needed += [(name, ("forecasting", "known_covariates", i)) for i, name in enumerate(known)]
        weight = spec.autogluon.sample_weight if spec.autogluon else None
        if role == "train" and weight not in (None, "auto_weight", "balance_weight"):
            needed.append((weight, ("autogluon", "sample_weight")))
        if role == "train":
            needed += [(name, ("data", "ignore_columns", i)) for i, name in enumerate(data.ignore_columns)]
        missing = [issue for name, field in needed if name for issue in [_column_issue(name, field, frame, shown)] if issue]
        found += missing
        tables[role] = (shown, frame)
        if role == "train":
            train = (shown, frame)
        elif train is not None:
            found += _feature_issue(role, shown, frame, train, skip={data.label, weight})
        if role == "train" and data.label and not any(i.path == ("data", "label") for i in missing):
            issue = _label_issue(spec, frame[data.label], shown)
            if issue:
                found.append(issue)
            else:
                found += _positive_class_issue(spec, frame[data.label], shown)
        if role == "train" and spec.task in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
            found += _no_feature_issue(spec, frame, shown, weight) + _identifier_warnings(spec, frame, shown)
        if data.timestamp and data.timestamp in frame.columns:
            stamps = _timestamp_issue(data.timestamp, frame[data.timestamp], shown)  # every file AutoGluon reads
            found += stamps
            said = any(i.path == ("data", "freq") for i in found)  # once: the files of one job share a frequency
            if not stamps and not said and data.freq and (not data.item_id or data.item_id in frame.columns):
                found += _freq_issue(data.freq, frame, data.timestamp, data.item_id, shown)
    if spec.task is Task.TIME_SERIES_FORECASTING:
        from .covariates_check import covariate_issues
        from .series_check import short_series_issues

        found += short_series_issues(spec, tables) + covariate_issues(spec, tables, static, found)
    return found


def _feature_issue(role: str, shown: str, frame: pd.DataFrame, train: tuple[str, pd.DataFrame], skip: set) -> list[SpecIssue]:
    """The training file's feature columns this file lacks: every trial would train, then fail to score it."""
    train_shown, train_frame = train
    have = {str(c) for c in frame.columns}
    lacking = [str(c) for c in train_frame.columns if str(c) not in have and c not in skip]
    if not lacking:
        return []
    names = ", ".join(repr(c) for c in lacking[:20]) + (" ..." if len(lacking) > 20 else "")
    plural = "s" if len(lacking) > 1 else ""
    return [
        SpecIssue(
            f"{shown} lacks the feature column{plural} {names} of {train_shown}: the models would train on "
            f"{'them' if plural else 'it'} and could not score the {role} file; add {'them' if plural else 'it'} "
            f"to {shown} or drop {'them' if plural else 'it'} from {train_shown}",
            ("data", role),
        )
    ]


def _to_datetime(series: Any) -> Any:
    """pandas' reading of a timestamp column (as AutoGluon's), NaT where a value is not read; without the
    UserWarning pandas prints, source line and all, when it cannot infer one format (the check below says it)."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pd.to_datetime(series, errors="coerce")


def _timestamp_issue(name: str, series: Any, shown: str) -> list[SpecIssue]:
    import pandas as pd

    parsed = _to_datetime(series)
    bad = series[parsed.isna() & series.notna()]
    if len(bad):
        day_first = pd.to_datetime(series.dropna(), errors="coerce", dayfirst=True, format="%d/%m/%Y").notna().all()
        why = (
            f"they are written day first ({bad.iloc[0]!r} is day {str(bad.iloc[0]).split('/')[0]}), which pandas and "
            "AutoGluon read month first where they can; write them as ISO 8601 (YYYY-MM-DD)"
            if day_first
            else f"e.g. {bad.iloc[0]!r}"
        )
        return [
            SpecIssue(f"timestamp '{name}' in {shown}: {len(bad)} values are not dates or times: {why}", ("data", "timestamp"))
        ]
    return []


FREQ_WORDS = {
    "min": "minutely",
    "h": "hourly",
    "D": "daily",
    "B": "business-daily",
    "W": "weekly",
    "MS": "monthly",
    "ME": "monthly",
}
FREQ_WORDS.update({"QS": "quarterly", "QE": "quarterly", "YS": "yearly", "YE": "yearly", "s": "secondly"})


def inferred_freq(frame: pd.DataFrame, timestamp: str, item_id: Optional[str]) -> Optional[str]:
    """The data's frequency as AutoGluon infers it (pandas.infer_freq per item), None where it is irregular or too short.

    Items that disagree, or have too few points to say, make no frequency: a spec `freq` then
    says how to resample, which is what it is for.
    """
    import pandas as pd

    stamps = _to_datetime(frame[timestamp])
    groups = stamps.groupby(frame[item_id]) if item_id else [(None, stamps)]
    found = set()
    for _, series in groups:
        index = pd.DatetimeIndex(series.dropna().sort_values())
        if len(index) < 3:
            continue
        try:
            freq = pd.infer_freq(index)
        except (TypeError, ValueError):
            freq = None
        if freq is None:
            return None
        found.add(freq)
    return found.pop() if len(found) == 1 else None


def _freq_issue(freq: str, frame: pd.DataFrame, timestamp: str, item_id: Optional[str], shown: str) -> list[SpecIssue]:
    import warnings

    from pandas.tseries.frequencies import to_offset

    data_freq = inferred_freq(frame, timestamp, item_id)
    if data_freq is None:
        return []
    with warnings.catch_warnings():  # 'H', 'T' ...: pandas' deprecated aliases still name the same offsets
        warnings.simplefilter("ignore", FutureWarning)
        try:
            spec_offset, data_offset = to_offset(freq), to_offset(data_freq)
        except ValueError:
            return [SpecIssue(f"data.freq is {freq}, which pandas does not know as a frequency", ("data", "freq"))]
    if spec_offset == data_offset:
        return []
    base = data_freq.lstrip("0123456789").split("-")[0]
    word = FREQ_WORDS.get(base)
    described = f"{word} ({data_freq})" if word and data_freq == base else f"at frequency {data_freq}"
    return [
        SpecIssue(
            f"data.freq is {freq} but {shown} is {described}: AutoGluon would resample the series to {freq}, to "
            f"values that are not in the data; set data.freq: {data_freq}, or leave it out (it is inferred)",
            ("data", "freq"),
        )
    ]


def _positive_class_issue(spec: JobSpec, labels: pd.Series, shown: str) -> list[SpecIssue]:
    """`autogluon.positive_class` must be one of two label values (and the metrics: binary ones, two classes)."""
    settings = spec.autogluon
    positive = settings.positive_class if settings else None
    values = labels.dropna().unique()
    listed = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in sorted(values, key=str)[:20])
    listed += " ..." if len(values) > 20 else ""
    found = []
    if positive is not None:
        if len(values) != 2:
            found.append(
                SpecIssue(
                    f"autogluon.positive_class is for a label with two values; '{spec.data.label}' in {shown} has "
                    f"{len(values)}: {listed}",
                    ("autogluon", "positive_class"),
                )
            )
        elif not any(v == positive or str(v) == str(positive) for v in values):
            found.append(
                SpecIssue(
                    f"autogluon.positive_class {positive!r} is not a value of '{spec.data.label}' in {shown}; its values: {listed}",
                    ("autogluon", "positive_class"),
                    hint=_yaml_bool_hint(positive, values),
                )
            )
    if spec.task is Task.TABULAR_CLASSIFICATION and len(values) == 2 and positive is None:
        found += _unnamed_positive_class(spec, values, shown)
    if spec.task is Task.TABULAR_CLASSIFICATION and len(values) > 2:
        from ..spec.metrics import lookup
        from ..spec.rules import BINARY_ONLY_METRICS

        for i, metric in enumerate(spec.metrics):
            resolved = lookup(metric, spec.task)  # the spec validated: every name resolves
            if resolved.autogluon in BINARY_ONLY_METRICS:
                found.append(
                    SpecIssue(
                        f"{resolved.name} takes one positive class, and '{spec.data.label}' in {shown} has {len(values)} classes",
                        ("metrics", i),
                        hint=f"use {resolved.autogluon}_macro or {resolved.autogluon}_weighted"
                        if resolved.autogluon != "roc_auc"
                        else "use log_loss or accuracy",
                    )
                )
    return found




def binary_classes(values: Any) -> tuple[Any, Any]:
    """A two-valued label's values as (the other, the positive class AutoGluon takes): it takes the last in sort order."""
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = sorted(values, key=str)
    first, last = ordered[0], ordered[-1]
    return (first.item() if hasattr(first, "item") else first), (last.item() if hasattr(last, "item") else last)


def _unnamed_positive_class(spec: JobSpec, values: Any, shown: str) -> list[SpecIssue]:
    """A warning: a metric scored for one class, and the spec does not say which (AutoGluon takes the last in sort order)."""
    from ..spec.metrics import POSITIVE_CLASS_METRICS, lookup

    first, chosen = binary_classes(values)
    for resolved in (spec.objective, *(lookup(m, spec.task) for m in spec.metrics)):
        if resolved.autogluon in POSITIVE_CLASS_METRICS:
            return [
                SpecIssue(
                    f"{resolved.name} scores one class as positive and the spec does not name it: AutoGluon takes "
                    f"{chosen!r}, the last of '{spec.data.label}' values in {shown} in sort order",
                    ("autogluon", "positive_class"),
                    level="warning",
                    hint=f"set autogluon.positive_class: {chosen} (or {first}) to say which class {resolved.name} is about",
                )
            ]
    return []


def _no_feature_issue(spec: JobSpec, frame: pd.DataFrame, shown: str, weight: Optional[str]) -> list[SpecIssue]:
    """A table left with no feature column (all ignored, or the label alone): every trial fails "No models were trained"."""
    data = spec.data
    columns = [str(c) for c in frame.columns]
    if data.label not in columns or any(c not in (data.label, weight) and c not in data.ignore_columns for c in columns):
        return []
    ignored = [c for c in columns if c in data.ignore_columns]
    if ignored:
        return [
            SpecIssue(
                f"ignore_columns ignores every feature column of {shown} ({', '.join(ignored)}): no model can train on "
                "the label alone; keep at least one",
                ("data", "ignore_columns"),
            )
        ]
    return [SpecIssue(f"{shown} has no column but the label: a model needs feature columns to learn from", ("data", "train"))]


YAML_BOOLS = {True: ("yes", "true", "on", "y"), False: ("no", "false", "off", "n")}  # what YAML 1.1 reads as a bool


def _yaml_bool_hint(positive: Any, values: Any) -> Optional[str]:
    """`positive_class: yes` unquoted is YAML's True: the label's value it stood for, to quote."""
    if not isinstance(positive, bool):
        return None
    meant = [str(v) for v in values if isinstance(v, str) and v.lower() in YAML_BOOLS[positive]]
    word = meant[0] if meant else YAML_BOOLS[positive][0]
    return f"YAML reads an unquoted {word} as {str(positive).lower()}: quote it: positive_class: '{word}'"


ID_WORDS = ("id", "uuid", "guid", "key", "identifier")


def _looks_like_id(name: str) -> bool:
    """`patient_id`, `PatientID`, `id`, `customer-key`, `uuid`: a name an identifier would have."""
    import re

    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]
    return bool(words) and (words[-1] in ID_WORDS or words[0] in ID_WORDS)


def _identifier_warnings(spec: JobSpec, frame: pd.DataFrame, shown: str) -> list[SpecIssue]:
    """A column named like an identifier with a value unique to each row: a feature that only memorises rows."""
    skip = {spec.data.label, *spec.data.ignore_columns, spec.autogluon.sample_weight if spec.autogluon else None}
    out = []
    for column in frame.columns:
        name = str(column)
        if name in skip or not _looks_like_id(name) or len(frame) < 2:
            continue
        values = frame[column]
        if values.notna().all() and values.nunique() == len(frame):
            out.append(
                SpecIssue(
                    f"column '{name}' in {shown} looks like an identifier (a different value in each of its {len(frame)} rows): "
                    "as a feature it only memorises rows",
                    ("data", "ignore_columns"),
                    level="warning",
                    hint=f"data: {{ignore_columns: [{name}]}}, and predict --keep-columns {name} to join predictions back",
                )
            )
    return out


# AutoGluon's own rule (autogluon.core.utils.infer_problem_type), here so that submit needs no AutoGluon
LARGE_DATA_ROWS, UNIQUE_RATIO_LARGE, UNIQUE_RATIO_SMALL, MULTICLASS_UPPER_LIMIT = 1000, 0.05, 0.1, 1000


def _continuous_issue(spec: JobSpec, values: pd.Series, shown: str) -> Optional[SpecIssue]:
    """A classification label that holds measurements, not classes: every trial would fail on the metric."""
    import numpy as np
    import pandas as pd

    from ..spec.models import Engine

    if spec.task is not Task.TABULAR_CLASSIFICATION or (spec.autogluon and spec.autogluon.problem_type):
        return None
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    values = values.replace([np.inf, -np.inf], np.nan).dropna()
    count, rows = values.nunique(), len(values)
    if count <= 2:
        return None
    threshold = UNIQUE_RATIO_LARGE if rows > LARGE_DATA_ROWS else UNIQUE_RATIO_SMALL
    many = count / rows > threshold or count > MULTICLASS_UPPER_LIMIT
    fractional = pd.api.types.is_float_dtype(values) and not bool((values == values.round()).all())
    autogluon = spec.engine is Engine.AUTOGLUON
    if not ((many or fractional) if autogluon else (many and fractional)):
        return None
    examples = ", ".join(f"{v:g}" for v in values.drop_duplicates().head(3))
    label = spec.data.label
    how = (
        "AutoGluon would train a regression, which no classification metric scores"
        if autogluon
        else "a classifier would take each value as a class"
    )
    classes = " (or, if they are classes, set autogluon.problem_type: multiclass)" if autogluon else ""
    return SpecIssue(
        f"label '{label}' in {shown} holds continuous numbers ({count} distinct values in {rows} rows, e.g. {examples}): "
        f"{how}; to predict a number use task: tabular_regression{classes}",
        ("data", "label"),
    )


__all__ = ["data_issues", "did_you_mean", "twice_message", "inferred_freq", "local_path"]
