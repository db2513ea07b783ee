"""A forecast's covariates checked at submit: the static features table fits the series, the known covariates cover the horizon.

Without it, a static features file keyed by another column, or one that lacks a series,
fails every trial in AutoGluon's words; and a known covariate left blank in a test file's
last prediction_length rows (the steps the test scores) is filled in by AutoGluon, so the
test score would judge the forecast on values nobody knew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..spec.errors import SpecIssue

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec.models import JobSpec

Table = tuple[str, "pd.DataFrame"]  # (as the spec names it, the table)


def _listed(values: list, most: int = 5) -> str:
    return ", ".join(map(repr, values[:most])) + (f" and {len(values) - most} more" if len(values) > most else "")


def covariate_issues(spec: JobSpec, tables: dict[str, Table], static: Optional[Table], found: list[SpecIssue]) -> list[SpecIssue]:
    """Issues with data.static_features and forecasting.known_covariates in the tables read (role -> table)."""
    issues = _static_issues(spec, tables, static) if static is not None else []
    known = spec.forecasting.known_covariates if spec.forecasting else []
    said = {i.path for i in found}
    if known and not any(p[:2] == ("forecasting", "known_covariates") or p == ("data", "timestamp") for p in said):
        for role in ("validation", "test"):
            if role in tables:
                issues += _horizon_issues(spec, role, *tables[role], known)
    return issues


def _static_issues(spec: JobSpec, tables: dict[str, Table], static: Table) -> list[SpecIssue]:
    from .data_check import did_you_mean

    item, (shown, frame) = spec.data.item_id, static
    where = ("data", "static_features")
    columns = [str(c) for c in frame.columns]
    if item not in columns:
        return [
            SpecIssue(
                f"{shown} has no column '{item}' (data.item_id) to say which series each row is; "
                f"{did_you_mean(item, columns)}its columns: {', '.join(columns[:30])}",
                where,
            )
        ]
    ids = frame[item].astype(str)
    twice = ids[ids.duplicated()].unique().tolist()
    if twice:
        return [SpecIssue(f"{shown} has more than one row for the series {_listed(twice)}: one row per series", where)]
    issues = []
    for table_shown, table in tables.values():
        if item not in table.columns:
            continue
        lacking = sorted(set(table[item].astype(str)) - set(ids))
        if lacking:
            issues.append(
                SpecIssue(
                    f"{shown} has no row for the series {_listed(lacking)} of {table_shown}: AutoGluon needs the static "
                    "features of every series; add a row for each",
                    where,
                )
            )
    return issues


def _horizon_issues(spec: JobSpec, role: str, shown: str, frame: pd.DataFrame, known: list[str]) -> list[SpecIssue]:
    """Known covariates blank in a series' last prediction_length rows: the steps AutoGluon scores the file on."""
    import pandas as pd

    data = spec.data
    if data.timestamp not in frame.columns or (data.item_id and data.item_id not in frame.columns):
        return []
    length = int(data.prediction_length or 0)
    ordered = frame.assign(_at=pd.to_datetime(frame[data.timestamp], errors="coerce")).sort_values("_at", kind="stable")
    groups = ordered.groupby(data.item_id, sort=False) if data.item_id else [(None, ordered)]
    issues = []
    for column in [c for c in known if c in frame.columns]:
        for name, series in groups:
            horizon = series.tail(length)
            blank = horizon[horizon[column].isna()]
            if blank.empty:
                continue
            which = f"series {name!r}" if data.item_id else "the series"
            issues.append(
                SpecIssue(
                    f"known covariate '{column}' is blank in {len(blank)} of the last {length} rows of {which} in {shown} "
                    f"(first at {blank['_at'].iloc[0]}): those are the steps the {role} data is forecast and scored on, "
                    "and their future values must be known; fill them",
                    ("data", role),
                )
            )
            break  # one series per column is enough to say it
    return issues


__all__ = ["covariate_issues"]
