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


__all__ = ["short_series_issues"]
