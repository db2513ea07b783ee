"""A forecast's validation and test files checked at submit: each series longer than prediction_length.

AutoGluon forecasts a validation or test series' last prediction_length steps from the rows
before them and scores the forecast, so such a file holds each whole series and the next
prediction_length steps after it. A file of only the horizon passed submit, every trial
trained, and then the test was not scored (validation: every trial failed) with AutoGluon's
"Cannot reserve last ... time steps".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec.errors import SpecIssue

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec.models import JobSpec


def short_series_issues(spec: JobSpec, tables: dict[str, tuple[str, pd.DataFrame]]) -> list[SpecIssue]:
    """The validation and test files (role -> (as the spec names it, the table)) with a series of prediction_length
    rows or fewer: AutoGluon's own limit (length > prediction_length) for data it scores."""
    import pandas as pd

    data, issues = spec.data, []
    length = int(data.prediction_length or 0)
    for role in ("validation", "test"):
        if role not in tables or not length:
            continue
        shown, frame = tables[role]
        if data.item_id and data.item_id not in frame.columns:
            continue  # said as a missing column
        sizes = frame.groupby(data.item_id, sort=False).size() if data.item_id else pd.Series({None: len(frame)})
        short = sizes[sizes <= length]
        if data.freq and not short.empty and data.timestamp in frame.columns:
            short = short[[not _longer(frame, data.item_id, data.timestamp, data.freq, item, length) for item in short.index]]
        if role == "test" and "train" in tables:
            issues += _history_warnings(spec, tables["train"][1], shown, sizes[sizes > length], length)
        if short.empty:
            continue
        rows = lambda n: f"{n} row{'s' if n != 1 else ''}"  # noqa: E731
        first, n = next(iter(short.items()))
        said = f"series {first!r} has {rows(n)}" if data.item_id else f"the series has {rows(n)}"
        others = [f"{name!r} {n}" for name, n in short.iloc[1:5].items()] + ([f"{len(short) - 5} more"] if len(short) > 5 else [])
        said += f" ({', '.join(others)})" if others else ""
        issues.append(
            SpecIssue(
                f"{shown}: {said}; each series in a {role} "
                f"file must be longer than prediction_length ({length}), at least {length + 1} rows: AutoGluon forecasts "
                f"its last {length} steps from the rows before them and scores that forecast, so a {role} file holds "
                f"the whole series (its training rows too) and the next {length} steps after it, not only those steps",
                ("data", role),
            )
        )
    return issues


def _longer(frame: pd.DataFrame, item_id: str | None, timestamp: str, freq: str, item: object, length: int) -> bool:
    """Whether a series spans more than `length` steps of the spec's `freq`, as AutoGluon resamples it (5 rows over 24
    days at D are 24 steps); `length + 1` steps are made, never the whole span (2 rows 200 years apart at 1min)."""
    import pandas as pd

    from .data_check import _to_datetime

    rows = frame if item_id is None else frame[frame[item_id] == item]
    stamps = _to_datetime(rows[timestamp]).dropna()
    if stamps.empty:
        return False
    try:
        return bool(pd.date_range(stamps.min(), periods=length + 1, freq=freq)[-1] <= stamps.max())
    except (ValueError, TypeError, OverflowError):
        return False


def _history_warnings(spec: JobSpec, train: pd.DataFrame, shown: str, sizes: pd.Series, length: int) -> list[SpecIssue]:
    """A warning where the test file holds less of a series than its training rows and the horizon: AutoGluon then
    forecasts from the test file's rows alone and the test score measures a forecast the trials never make (a test
    file of the last 8 rows at prediction_length 7 scored MASE 5e-9 where the real figure was 0.5)."""
    data = spec.data
    if data.item_id and data.item_id not in train.columns:
        return []
    trained = train.groupby(data.item_id, sort=False).size() if data.item_id else {None: len(train)}
    thin = [(item, n, int(trained[item])) for item, n in sizes.items() if item in trained and n < trained[item] + length]
    if not thin:
        return []
    item, n, m = thin[0]
    said = f"series {item!r} has {n} rows there, {m} in training" if data.item_id else f"it has {n} rows, {m} in training"
    more = f" ({len(thin) - 1} more series alike)" if len(thin) > 1 else ""
    return [
        SpecIssue(
            f"{shown}: {said}{more}; AutoGluon scores a test series by forecasting its last {length} steps from the "
            f"rows before them in the test file, so with fewer rows than training plus {length} the test score is "
            f"of a forecast from a shorter history than the model's (MASE's scale too); a test file holds each whole "
            f"series and the next {length} steps",
            ("data", "test"),
            level="warning",
        )
    ]


__all__ = ["short_series_issues"]
