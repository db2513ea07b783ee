"""Alternative sub-spaces as the flat search spaces the clouds' tuners take, with the local meaning.

SageMaker's and Azure ML's tuners take one flat space. A list of sub-spaces travels as:

- grid sampling over sub-spaces, or over one space whose points the engine prunes to fewer than
  the product (a family's settings only with it): the local grid's own points (`GridSampler`:
  sub-space after sub-space, pruned, duplicates once, at most max_trials), numbered 0..N-1, as ONE
  categorical `cloudauto_grid_point`; the cloud's grid runs exactly those N points and the
  trial's entry reads its parameters back from the table (`grid_table`, `grid_point`);
- random and bayesian: a categorical `cloudauto_subspace` (drawn uniformly, as the local
  random sampler draws a sub-space) plus the union of the sub-spaces' parameters; a name whose
  distribution differs between sub-spaces is tuned apart as `<i>.<name>` (`subspace_keys`).

Core code: no cloud SDK, no AutoGluon at import time.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec
    from ..spec.space import SearchSpace

GRID_PARAM = "cloudauto_grid_point"
SUBSPACE_PARAM = "cloudauto_subspace"


def grid_encoded(spec: JobSpec) -> bool:
    """Whether the spec's trials travel as numbered grid points: grid sampling over discrete parameters where a
    cloud's grid would run other points than the local grid: over alternative sub-spaces (their union), or over one
    whose points the engine prunes to fewer (`models: [Chronos2, ETS]` with `Chronos2.fine_tune: [false, true]` is 3
    trials locally, a product of 4 on a cloud: ETS twice), or where limits.max_trials cuts the grid (SageMaker's Grid
    takes no MaxNumberOfTrainingJobs and would run every point; Azure ML's would take its own first points)."""
    from ..spec.models import Sampling

    sweep = spec.sweep
    if sweep is None or sweep.sampling is not Sampling.GRID or not spec.space.is_discrete:
        return False
    size, points = _local_grid(spec)
    return spec.space.is_conditional or size < spec.space.grid_size() or len(points) < size


# the local grid of a spec, by its JSON: one compile asks for it many times, and listing a grid of 100,000 points,
# each pruned as the engine prunes it, takes seconds
_GRIDS: dict[str, tuple[int, list[dict[str, Any]]]] = {}


def _local_grid(spec: JobSpec) -> tuple[int, list[dict[str, Any]]]:
    """(the local grid's size, pruned and deduplicated; the points a job runs, max_trials cutting, in its order)."""
    key = spec.model_dump_json()
    found = _GRIDS.get(key)
    if found is None:
        from .samplers import make_sampler

        sampler = make_sampler(spec)
        count = min(spec.max_trials, sampler.size)  # planned_trials(spec), without a warm start's parents
        found = (sampler.size, [dict(sampler.suggest(n)[0]) for n in range(count)])  # type: ignore[index]
        if len(_GRIDS) >= 8:
            _GRIDS.clear()
        _GRIDS[key] = found
    return found


def grid_points(spec: JobSpec) -> list[dict[str, Any]]:
    """The parameters of every trial the local backend runs for a grid sweep, in its order (trial 0 first)."""
    return [dict(point) for point in _local_grid(spec)[1]]


def _why(spec: JobSpec, size: int, points: list[dict[str, Any]]) -> list[str]:
    """Why the local grid runs other points than the product of the space's values."""
    return [
        *(["sub-space after sub-space"] if spec.space.is_conditional else []),
        *(
            [f"a family's settings only with it: {size} of the product's {spec.space.grid_size()}"]
            if size < spec.space.grid_size()
            else []
        ),
        *([f"limits.max_trials {spec.max_trials} cuts it"] if len(points) < size else []),
    ]


def local_grid_note(spec: JobSpec) -> Optional[str]:
    """The local plan's note where its grid runs fewer trials than the product of the space's values (or max_trials
    says): how many run, and why."""
    if not grid_encoded(spec):
        return None
    size, points = _local_grid(spec)
    why = [w for w in _why(spec, size, points) if w != "sub-space after sub-space"]
    return f"grid: {len(points)} trials run ({'; '.join(why)})" if why else None


def grid_note(spec: JobSpec) -> Optional[str]:
    """The compile note of a grid-encoded spec: why the request's grid is one numbered categorical."""
    if not grid_encoded(spec):
        return None
    size, points = _local_grid(spec)
    why = _why(spec, size, points)
    return (
        f"grid: the {len(points)} trials the local backend runs ({'; '.join(why)}), in its order, as the values "
        f"0..{len(points) - 1} of one categorical {GRID_PARAM}; each trial's entry decodes its number to the local "
        "trial's parameters"
    )


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # 1, 1.0 and true stay apart


def grid_table(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The points, compactly: each parameter's distinct values once, each point as the index of its value per
    parameter (None where the point has no such parameter)."""
    names: list[str] = []
    for point in points:
        names.extend(n for n in point if n not in names)
    values: list[list[Any]] = [[] for _ in names]
    seen: list[dict[str, int]] = [{} for _ in names]
    rows = []
    for point in points:
        row: list[Any] = []
        for j, name in enumerate(names):
            if name not in point:
                row.append(None)
                continue
            k = _key(point[name])
            if k not in seen[j]:
                seen[j][k] = len(values[j])
                values[j].append(point[name])
            row.append(seen[j][k])
        rows.append(row)
    return {"names": names, "values": values, "points": rows}


class DecodeError(ValueError):
    """A trial's parameters that its decoding table (a cloud's hyperparameters, a grid's table) cannot account for."""


def _index(value: Any, size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def number_of(raw: Any, size: int, what: str) -> int:
    """A grid point's or a sub-space's number as a trial receives it (3, 3.0, "3", "3.0": a cloud may send a
    categorical as text): a whole number in 0..size-1, else a DecodeError naming `what` and the value (int(float())
    read "1.9" as 1 and "-0.5" as 0: another trial's parameters)."""
    number = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = int(raw)
    elif isinstance(raw, str) and re.fullmatch(r"[0-9]+(\.0*)?", raw):
        number = int(raw.partition(".")[0])
    if number is None or not 0 <= number < size:
        raise DecodeError(f"{what}: {raw!r} is not a whole number from 0 to {size - 1}")
    return number


def _row(names: list[Any], values: list[Any], row: Any, where: str, index: Any) -> dict[str, Any]:
    if not isinstance(row, list) or len(row) != len(names):
        size = len(row) if isinstance(row, list) else "no list of"
        raise DecodeError(f"{where}, point {index}: has {size} values for the {len(names)} names; compile the spec again")
    for name, i, known in zip(names, row, values, strict=True):
        if i is not None and not _index(i, len(known)):
            raise DecodeError(
                f"{where}, point {index}: value {i!r} of {name} is not one of its {len(known)} values; compile the spec again"
            )
    point = {name: known[i] for name, i, known in zip(names, row, values, strict=True) if i is not None}
    if not point:
        raise DecodeError(f"{where}, point {index}: holds no parameter; compile the spec again")
    return point


def grid_point(table: Any, raw: Any, where: str = "the grid's table") -> dict[str, Any]:
    """Point `raw` (its number as the trial received it) of a `grid_table`, as the local backend's trial parameters;
    a table that is not one `grid_table` wrote (edited by hand, cut short, its names repeated, its values or points
    reordered) is a DecodeError naming `where` and the point, never another point."""
    names, values, points = (table.get(k) for k in ("names", "values", "points")) if isinstance(table, dict) else ((),) * 3
    if not (
        isinstance(names, list)
        and isinstance(values, list)
        and isinstance(points, list)
        and len(values) == len(names)
        and all(isinstance(v, list) for v in values)
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    ):
        raise DecodeError(f"{where}, point {raw}: not cloudauto's grid table (names, values, points); compile the spec again")
    index = number_of(raw, len(points), f"{where}, {GRID_PARAM}")
    point = _row(names, values, points[index], where, index)
    try:  # the table is the one grid_table writes from its own points: each value's first use in order, no point twice
        rows = [_row(names, values, row, where, j) for j, row in enumerate(points)]
        same = _key(grid_table(rows)) == _key({"names": names, "values": values, "points": points})
    except DecodeError:
        same = False
    if not same or len({_key(r) for r in points}) != len(points):
        raise DecodeError(f"{where}, point {index}: the table is not the one compile wrote (edited?); compile the spec again")
    return point


def check_point(spec: JobSpec, point: dict[str, Any], where: str, index: Any) -> dict[str, Any]:
    """`point` if it is a point of the spec's grid (each name's value one of its sub-space's), else a DecodeError: a
    table edited by hand, or one of another spec."""
    for sub in spec.space.subspaces:
        if all(name in sub and _key(v) in {_key(g) for g in sub[name].grid_values()} for name, v in point.items()):
            return point
    raise DecodeError(f"{where}, point {index}: {point} is no point of the spec's grid (edited?); compile the spec again")


GRID_FILE = "grid.json"


def grid_file(spec: JobSpec) -> dict[str, bytes]:
    """The bundle file holding a grid-encoded spec's table (empty otherwise): the trial's spec.json lists its keys
    sorted, so the grid's order is the table's, written from the spec as the user wrote it."""
    if not grid_encoded(spec):
        return {}
    return {GRID_FILE: (json.dumps(grid_table(grid_points(spec)), separators=(",", ":")) + "\n").encode()}


def clashing(space: SearchSpace) -> set[str]:
    """Names whose distribution differs between sub-spaces: each sub-space's is tuned apart."""
    seen: dict[str, Any] = {}
    clash: set[str] = set()
    for _, name, dist in space.distributions():
        if name in seen and seen[name] != dist:
            clash.add(name)
        seen.setdefault(name, dist)
    return clash


def subspace_keys(space: SearchSpace) -> list[dict[str, str]]:
    """Per sub-space, each parameter's name in the flat space: the name, or `<i>.<name>` where it clashes."""
    clash = clashing(space)
    return [{name: f"{i}.{name}" if name in clash else name for name in sub} for i, sub in enumerate(space.subspaces)]


__all__ = [
    "DecodeError",
    "GRID_FILE",
    "GRID_PARAM",
    "grid_file",
    "grid_note",
    "local_grid_note",
    "SUBSPACE_PARAM",
    "clashing",
    "grid_encoded",
    "grid_point",
    "check_point",
    "number_of",
    "grid_points",
    "grid_table",
    "subspace_keys",
]
