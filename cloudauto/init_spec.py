"""`cloudauto init`: a first spec written from a table, every choice said and commented.

What is inferred, and why (each reason goes to stderr and into the spec as a comment):
- the task: a label of classes or of numbers (AutoGluon's own rule, the one `submit`'s data check
  applies: data_check.py); a column of dates with, per series, one row per date and a regular
  frequency (pandas.infer_freq, as AutoGluon infers it) makes a forecast, with the series' id column;
- a metric that fits the task and the label's classes;
- ID-like columns (named like an identifier, one value per row): said, since a model learns nothing
  from them;
- a small sweep (one trial per model family, a minute each) and limits, so the first run is quick.

The spec is validated (and its data checked) before it is written; nothing half-written is left.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TASKS = ("tabular_classification", "tabular_regression", "time_series_forecasting")
TASK_ALIASES = {"classification": TASKS[0], "regression": TASKS[1], "forecasting": TASKS[2], "time_series": TASKS[2]}

ID_NAME = re.compile(
    r"(?i)^(id|uuid|guid|key|identifier|index|unnamed: 0)$|[_\s.-](id|uuid|guid|key)$|^(id|uuid)[_\s.-]|[a-z0-9]I[Dd]$"
)
TIME_NAME = re.compile(r"(?i)(date|time|timestamp|^ds$|day|period|month|week|year)")
SERIES_NAME = re.compile(r"(?i)(id|item|series|store|station|sku|product|key|name|code|region|site|shop|unit)")
SAMPLE_BYTES = 1 << 16

# a forecast's horizon by the data's frequency: a day of hours, a week of days ... (capped by the series' length)
HORIZONS = {"min": 60, "s": 60, "h": 24, "D": 7, "B": 5, "W": 4, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "QE": 4}
TABULAR_MODELS = ["GBM", "CAT", "XGB", "RF"]
FORECAST_MODELS = ["SeasonalNaive", "ETS", "Theta", "RecursiveTabular"]


class InitError(CloudautoError):
    """The table or the command line cannot make a spec: exit 64, as any unusable input path or option."""

    exit_code = 64


@dataclass
class Inferred:
    """What init decided, each with why."""

    task: str
    metric: str
    label: str
    timestamp: Optional[str] = None
    item_id: Optional[str] = None
    freq: Optional[str] = None
    prediction_length: Optional[int] = None
    id_columns: list[str] = field(default_factory=list)
    classes: Optional[tuple[Any, Any]] = None  # a binary label's values: (the other, the one AutoGluon takes as positive)
    reasons: list[str] = field(default_factory=list)


def read(path: Path) -> pd.DataFrame:
    """The table at `path`: refused, saying why, when it is not there, not a table, or holds fewer than two rows."""
    from .runtime.data import DataError, read_table, twice_named
    from .runtime.data_check import twice_message

    if not path.exists():
        raise InitError(f"{path}: no such file")
    if not path.is_file():
        raise InitError(f"{path}: not a file (give a CSV or Parquet table)")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if not parquet:
        with open(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
        if b"\x00" in head:
            raise InitError(f"{path}: holds binary bytes (NUL), not a CSV table; give a CSV (UTF-8) or a .parquet file")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if len(head) < SAMPLE_BYTES or exc.start < len(head) - 4:  # not a character cut at the sample's end
                line = head[: exc.start].count(b"\n") + 1
                raise InitError(f"{path}: line {line} is not UTF-8 text (byte {exc.start}); save the table as UTF-8") from None
    try:
        frame = read_table(str(path))
    except DataError as exc:
        raise InitError(str(exc)) from None
    twice = twice_named(path)
    if twice:
        raise InitError(f"{path}:{twice[1]}: {twice_message(twice[0])}")
    if len(frame) < 2:
        raise InitError(f"{path}: {len(frame)} data row{'' if len(frame) == 1 else 's'}: a model needs a table of many rows")
    return frame


def infer(
    frame: pd.DataFrame,
    label: str,
    *,
    shown: str,
    task: Optional[str] = None,
    timestamp: Optional[str] = None,
    item_id: Optional[str] = None,
) -> Inferred:
    """The task, metric and columns for `label` in `frame` (`task`, `timestamp`, `item_id` as given on the command line)."""
    from .runtime.data_check import did_you_mean

    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    for option, name in (("--label", label), ("--timestamp", timestamp), ("--item-id", item_id)):
        if name is not None and name not in columns:
            listed = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
            raise InitError(f"{option} {name}: no such column in {shown}; {did_you_mean(name, columns)}its columns: {listed}")
    if columns.count(label) > 1:
        raise InitError(f"{shown}: the column '{label}' is there twice")
    values = frame[label].dropna()
    if values.empty:
        raise InitError(f"--label {label}: every row of {shown} leaves it empty")
    if task is not None:
        task = TASK_ALIASES.get(task, task)
    reasons: list[str] = []
    numeric = _numeric(values)
    series = None
    if task in (None, TASKS[2]) and numeric:
        series = _series(frame, label, timestamp, item_id)
        if series is None and (task == TASKS[2] or timestamp):
            raise InitError(
                f"{shown}: no column of dates with one row per date (per series) at a regular frequency; "
                "name them with --timestamp and --item-id"
            )
    if task == TASKS[2] and not numeric:
        raise InitError(f"--label {label}: a forecast predicts numbers, and {label} holds text ({_plain(values.iloc[0])!r})")
    if series is not None and task is None:
        task = TASKS[2]
    if task == TASKS[2]:
        assert series is not None
        return _forecast(frame, label, series, reasons)
    kind = _problem_type(values)
    if task is None:
        task = TASKS[1] if kind == "regression" else TASKS[0]
        reasons.append(_why_kind(label, values, kind))
    elif task == TASKS[1] and not numeric:
        raise InitError(f"--task tabular_regression: the label {label} holds text ({_plain(values.iloc[0])!r}), not numbers")
    elif task == TASKS[0] and values.nunique() < 2:
        raise InitError(f"--label {label}: one class only ({_plain(values.iloc[0])!r}); a classification needs two or more")
    elif task not in TASKS:
        raise InitError(f"--task {task}: init writes specs for {', '.join(TASKS)}")
    else:
        reasons.append(f"task {task}: as --task says ({_why_kind(label, values, kind)})")
    if task == TASKS[0]:
        metric = _classification_metric(values, reasons)
    else:
        metric = "root_mean_squared_error"
        reasons.append("metric root_mean_squared_error (rmse): in the label's own units; large misses count most")
    found = Inferred(task=task, metric=metric, label=label, reasons=reasons)
    if task == TASKS[0] and values.nunique() == 2:
        from .runtime.data_check import binary_classes

        found.classes = binary_classes(values.unique())
    found.id_columns = [c for c in columns if c != label and _id_like(c, frame[c])]
    if found.id_columns:
        reasons.append(f"ID-like columns (named like an id, a different value in every row): {', '.join(found.id_columns)}")
    return found


def _numeric(values: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _problem_type(values: pd.Series) -> str:
    """binary, multiclass or regression: AutoGluon's infer_problem_type, with the data check's thresholds."""
    import pandas as pd

    from .runtime.data_check import LARGE_DATA_ROWS, MULTICLASS_UPPER_LIMIT, UNIQUE_RATIO_LARGE, UNIQUE_RATIO_SMALL

    count = values.nunique()
    if count == 2:
        return "binary"
    if not _numeric(values):
        return "multiclass"
    if pd.api.types.is_float_dtype(values) and not bool((values == values.round()).all()):
        return "regression"
    threshold = UNIQUE_RATIO_LARGE if len(values) > LARGE_DATA_ROWS else UNIQUE_RATIO_SMALL
    return "multiclass" if count / len(values) <= threshold and count <= MULTICLASS_UPPER_LIMIT else "regression"


def _why_kind(label: str, values: pd.Series, kind: str) -> str:
    count = values.nunique()
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else repr(v) for v in values.drop_duplicates().head(3).tolist())
    if kind == "regression":
        return f"task tabular_regression: {label} holds numbers ({count} distinct values in {len(values)} rows, e.g. {shown})"
    what = "text" if not _numeric(values) else "few distinct whole numbers"
    shown = ", ".join(repr(v) for v in sorted(values.drop_duplicates().tolist(), key=str)[:3])
    return f"task tabular_classification: {label} holds {count} classes ({what}: {shown}{' ...' if count > 3 else ''})"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds: a comment shows 3, not np.int64(3)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def _classification_metric(values: pd.Series, reasons: list[str]) -> str:
    counts = values.value_counts()
    if len(counts) == 2:
        reasons.append("metric roc_auc: two classes; it ranks by probability, whichever class is positive and at any threshold")
        return "roc_auc"
    if counts.iloc[0] >= 5 * counts.iloc[-1]:
        reasons.append(
            f"metric balanced_accuracy: {len(counts)} classes of unequal sizes ({_plain(counts.index[0])!r}: {counts.iloc[0]} rows, "
            f"{_plain(counts.index[-1])!r}: {counts.iloc[-1]}); each class counts the same"
        )
        return "balanced_accuracy"
    reasons.append(f"metric accuracy: {len(counts)} classes of similar sizes")
    return "accuracy"


def _id_like(name: str, column: pd.Series) -> bool:
    return bool(ID_NAME.search(name)) and column.notna().all() and column.nunique() == len(column)


def _dates(column: pd.Series) -> Optional[pd.Series]:
    """The column as dates, when (nearly) every value is one; None otherwise."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return None
    text = column.dropna().astype(str)
    if text.empty or not text.str.contains(r"\d").all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(column, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return None
    return parsed if parsed.notna().sum() >= 0.99 * column.notna().sum() else None


@dataclass
class _Series:
    timestamp: str
    item_id: Optional[str]
    freq: str
    shortest: int
    count: int


def _series(frame: pd.DataFrame, label: str, timestamp: Optional[str], item_id: Optional[str]) -> Optional[_Series]:
    """The date column and series id of a table of regular series (one row per date in each), or None."""
    from .runtime.data_check import inferred_freq

    others = [c for c in frame.columns if c != label]
    stamps = (
        [timestamp]
        if timestamp
        else sorted((c for c in others if _dates(frame[c]) is not None), key=lambda c: not TIME_NAME.search(c))
    )
    for stamp in stamps:
        dates = _dates(frame[stamp])
        if dates is None:
            continue
        found = sorted((c for c in others if c != stamp and _may_name_series(frame[c])), key=lambda c: not SERIES_NAME.search(c))
        for ident in [item_id] if item_id else [*found, None]:
            probe = frame.assign(**{stamp: dates})
            if probe.duplicated(subset=[ident, stamp] if ident else [stamp]).any():
                continue  # two rows of one date in a series: not a series (or not this id)
            freq = inferred_freq(probe, stamp, ident)
            if freq is None:
                continue
            sizes = probe.groupby(ident).size() if ident else None
            shortest = int(sizes.min()) if sizes is not None else len(frame)
            return _Series(stamp, ident, freq, shortest, int(sizes.size) if sizes is not None else 1)
    return None


def _may_name_series(column: pd.Series) -> bool:
    """Text or whole numbers, never empty, repeated: what a series id column holds."""
    import pandas as pd

    if column.isna().any() or not 1 < column.nunique() < len(column):
        return False
    return not _numeric(column) or pd.api.types.is_integer_dtype(column)


def _forecast(frame: pd.DataFrame, label: str, series: _Series, reasons: list[str]) -> Inferred:
    base = series.freq.lstrip("0123456789").split("-")[0]
    horizon = max(1, min(HORIZONS.get(base, 10), series.shortest // 4))
    per = f"per {series.item_id}" if series.item_id else "in the one series"
    reasons.append(
        f"task time_series_forecasting: {series.timestamp} holds dates, one row per date {per}"
        + (f" ({series.count} series)" if series.item_id else "")
        + f", at a regular frequency (pandas.infer_freq: {series.freq})"
    )
    capped = (
        " (a quarter of the shortest series, so each keeps history to learn from)" if horizon < HORIZONS.get(base, 10) else ""
    )
    reasons.append(f"prediction_length {horizon}: {_horizon_words(base, horizon)}{capped}; change it to the horizon you need")
    reasons.append("metric MASE: scale-free across series; 1.0 is the error of a seasonal naive forecast")
    others = [c for c in frame.columns if c not in (label, series.timestamp, series.item_id)]
    if others:
        reasons.append(f"the other columns ({', '.join(others)}) are past covariates, as AutoGluon takes them")
    return Inferred(
        task=TASKS[2],
        metric="MASE",
        label=label,
        timestamp=series.timestamp,
        item_id=series.item_id,
        freq=series.freq,
        prediction_length=horizon,
        reasons=reasons,
    )


def _horizon_words(base: str, horizon: int) -> str:
    words = {"h": "hours", "D": "days", "B": "business days", "W": "weeks", "min": "minutes", "s": "seconds"}
    return f"{horizon} {words.get(base, 'steps')} ahead"


# ---- the spec's text --------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def q(value: str) -> str:
    """A YAML scalar for `value`: plain where that reads back as the same string, else double-quoted (JSON is YAML)."""
    return value if _PLAIN.match(value) and value.lower() not in _YAML_WORDS else json.dumps(value)


def slug(stem: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:63].strip("-")
    return name if name and name[0].isalpha() else f"job-{name}".strip("-")[:63]


def render(found: Inferred, data_path: str, name: str, source: str) -> str:
    """The spec's YAML, commented with what was inferred and why."""
    from .spec.models import DataSpec

    lines = [
        f"# Written by `cloudauto init {source}`: what it inferred, and why, is in the comments.",
        "# Check it with `cloudauto validate`, run it with `cloudauto run` (docs/spec.md has every field).",
        f"name: {name}",
        f"task: {found.task}",
        f"# {found.reasons[0]}",
        "data:",
        f"  train: {q(data_path)}",
        f"  label: {q(found.label)}",
    ]
    if found.task == TASKS[2]:
        lines += [f"  timestamp: {q(found.timestamp or '')}"]
        if found.item_id:
            lines += [f"  item_id: {q(found.item_id)}"]
        lines += [
            f"  prediction_length: {found.prediction_length}   # {found.reasons[1].split(': ', 1)[1]}",
            f"  freq: {q(found.freq or '')}   # inferred from the data (pandas.infer_freq)",
        ]
    if found.id_columns:
        listed = ", ".join(found.id_columns)
        if "ignore_columns" in DataSpec.model_fields:
            lines += [
                f"  ignore_columns: [{', '.join(q(c) for c in found.id_columns)}]   # ID-like: a different value in every row"
            ]
        else:
            lines += [
                f"  # ID-like columns (named like an id, a different value in every row): {listed}.",
                "  # A model learns nothing from them; drop them from the table you train on.",
            ]
    metric_reason = next(r for r in found.reasons if r.startswith("metric "))
    lines += [f"metric: {found.metric}   # {metric_reason.split(': ', 1)[1]}"]
    lines += [f"# {r}" for r in found.reasons if r.startswith("the other columns")]
    if found.classes is not None:
        other, chosen = found.classes
        lines += [
            "# autogluon:",
            f"#   positive_class: {q(chosen) if isinstance(chosen, str) else json.dumps(chosen)}   # {found.label} has two values, {other!r} or {chosen!r}; AutoGluon takes "
            f"{chosen!r} (the last in sort order) unless told: f1, precision and recall score that class",
        ]
    models = FORECAST_MODELS if found.task == TASKS[2] else TABULAR_MODELS
    lines += [
        "sweep:",
        "  sampling: grid                   # one trial per model family",
        "  space:",
        f"    models: {{choice: [{', '.join(models)}]}}",
    ]
    if found.task != TASKS[2]:
        lines += ["    presets: medium_quality"]
    lines += [
        "    time_limit: 60                 # seconds of fitting per trial: raise it once the sweep runs",
        "limits:",
        f"  max_trials: {len(models)}",
        "  max_concurrent_trials: 1",
        "  trial_timeout: 5m",
        "  timeout: 30m",
        "",
    ]
    return "\n".join(lines)


def data_reference(table: Path, spec_path: Optional[Path]) -> str:
    """The table as the spec names it: relative to the spec's folder (where cloudauto reads it from), else absolute."""
    folder = (spec_path.resolve().parent if spec_path is not None else Path.cwd()).resolve()
    try:
        relative = os.path.relpath(table.resolve(), folder)
    except ValueError:  # another drive
        return str(table.resolve())
    return relative if relative.startswith("..") else f"./{relative}"


__all__ = ["InitError", "Inferred", "data_reference", "infer", "read", "render", "slug"]
