"""What a job may cost at worst, before it starts, and the budget it is held to.

A backend says what it bills for (`Backend.cost_basis`: the instance type and count per
trial, how many trials, how many at once, and the time bounds the service itself enforces);
this module prices that and takes the worst case. The worst case follows from the bounds
the service enforces without cloudauto running: each trial's runtime limit times the trials,
or the job's runtime limit times the trials that run at once, whichever is smaller.

Prices: `backends.<name>.price_per_hour` in the spec wins; then a price file of the user's
(`CLOUDAUTO_PRICES`, the same format as the package's `prices.json`); then the package's
table. An instance type found in none of them is said to be unknown, never guessed.

Spot capacity (`compute.spot`): the worst case stays the on-demand figure, the bound `max_cost`
holds against (a spot job never bills more than on-demand for the same time); the spot price,
where a table has a `training-spot` row for the instance type, is shown beside it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Optional

from .spec.errors import CloudautoError, SpecIssue

PRICES_ENV = "CLOUDAUTO_PRICES"
PACKAGE_TABLE = Path(__file__).with_name("prices.json")
SPOT_KIND = "training-spot"  # a price row of spare capacity: SageMaker managed spot, Azure spot / low priority


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str  # where the figure comes from, with the date it was read where known


@dataclass
class CostBasis:
    """What a job bills for, as its backend compiles it."""

    backend: str
    instance_type: Optional[str]
    region: Optional[str]
    instances_per_trial: int
    trials: int
    parallel: int
    trial_seconds: Optional[float]  # the per-trial runtime limit the service enforces
    job_seconds: Optional[float]  # the whole job's runtime limit the service enforces
    price_override: Optional[float] = None  # backends.<name>.price_per_hour
    kind: str = "training"
    bounds: dict[str, str] = field(default_factory=dict)  # "trial" / "job" -> which setting gives it
    instance_hint: str = "the instance type is not known before submit"  # what to set when instance_type is None
    spot: bool = False  # compute.spot: the spot price is looked up and shown beside the on-demand bound


@dataclass
class Estimate:
    basis: CostBasis
    price: Optional[Price]
    worst_seconds: Optional[float]  # instance-seconds at worst, all trials, all instances
    usd_max: Optional[float]
    formula: str  # the figures, as a reader checks them
    missing: Optional[str] = None  # why there is no figure
    spot_price: Optional[Price] = None  # compute.spot: the spare capacity's price, where a table knows it
    spot_usd: Optional[float] = None  # the same instance-hours at the spot price (what spot bills at most)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "estimate_max": None if self.usd_max is None else round(self.usd_max, 2),
            "instance_type": self.basis.instance_type,
            "region": self.basis.region,
            "usd_per_hour": None if self.price is None else self.price.usd_per_hour,
            "price_source": None if self.price is None else self.price.source,
            "worst_instance_hours": None if self.worst_seconds is None else round(self.worst_seconds / 3600, 4),
            "formula": self.formula,
            "missing": self.missing,
            **(
                {
                    "spot": True,
                    "spot_usd_per_hour": None if self.spot_price is None else self.spot_price.usd_per_hour,
                    "spot_price_source": None if self.spot_price is None else self.spot_price.source,
                    "spot_estimate_max": None if self.spot_usd is None else round(self.spot_usd, 2),
                }
                if self.basis.spot
                else {}
            ),
        }


class PriceFileError(CloudautoError):
    exit_code = 2


def _read_table(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read the price file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise PriceFileError(f"{path}: not JSON ({exc})") from None
    rows = data.get("prices") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise PriceFileError(f'{path}: a price file is {{"prices": [...]}} (see cloudauto/prices.json)')
    needed = ("backend", "kind", "instance_type", "usd_per_hour", "source")
    for number, row in enumerate(rows):
        missing = [k for k in needed if not isinstance(row, dict) or k not in row]
        if missing:
            raise PriceFileError(f"{path}: prices[{number}] has no {', '.join(missing)}")
        if not isinstance(row["usd_per_hour"], (int, float)) or row["usd_per_hour"] < 0:
            raise PriceFileError(f"{path}: prices[{number}].usd_per_hour must be a number ≥ 0")
    return rows


@cache
def _package_rows() -> tuple[dict[str, Any], ...]:
    return tuple(_read_table(PACKAGE_TABLE))


def lookup(
    backend: str, kind: str, instance_type: str, region: Optional[str], override: Optional[float] = None
) -> Optional[Price]:
    """The hourly price of one instance, or None where no table knows it."""
    if override is not None:
        return Price(override, f"backends.{backend}.price_per_hour in the spec")
    tables: list[tuple[str, tuple[dict[str, Any], ...]]] = []
    user = os.environ.get(PRICES_ENV)
    if user:
        tables.append((f"{user} ({PRICES_ENV})", tuple(_read_table(Path(user)))))
    tables.append(("cloudauto/prices.json", _package_rows()))
    for origin, rows in tables:
        matches = [
            r
            for r in rows
            if r["backend"] == backend
            and r["kind"] == kind
            and r["instance_type"] == instance_type
            and r.get("region") in (region, None)
        ]
        if matches:
            row = sorted(matches, key=lambda r: r.get("region") is None)[0]  # the region's own price first
            read = f", read {row['read_on']}" if row.get("read_on") else ""
            return Price(float(row["usd_per_hour"]), f"{row['source']}{read} ({origin})")
    return None


def estimate(basis: CostBasis) -> Estimate:
    """The worst case: min(trials × trial limit, job limit × trials at once) × instances × price (on-demand),
    and with compute.spot the spot price beside it."""
    return _with_spot(_on_demand(basis))


def _on_demand(basis: CostBasis) -> Estimate:
    if basis.instance_type is None:
        return Estimate(basis, None, None, None, "", missing=f"{basis.backend}: {basis.instance_hint}")
    price = lookup(basis.backend, basis.kind, basis.instance_type, basis.region, basis.price_override)
    candidates = []
    if basis.trial_seconds is not None:
        candidates.append(
            (
                basis.trials * basis.trial_seconds,
                f"{basis.trials} trials × {_hours(basis.trial_seconds)} ({basis.bounds.get('trial', 'trial limit')})",
            )
        )
    if basis.job_seconds is not None:
        candidates.append(
            (
                basis.job_seconds * basis.parallel,
                f"{_hours(basis.job_seconds)} ({basis.bounds.get('job', 'job limit')}) × {basis.parallel} at once",
            )
        )
    if not candidates:
        return Estimate(basis, price, None, None, "", missing="no time bound: set limits.trial_timeout or limits.timeout")
    seconds, how = min(candidates)
    instance_seconds = seconds * basis.instances_per_trial
    where = f"{basis.instances_per_trial} × {basis.instance_type}" + (f" in {basis.region}" if basis.region else "")
    if price is None:
        return Estimate(
            basis,
            None,
            instance_seconds,
            None,
            f"{how} × {where}",
            missing=f"no price known for {basis.instance_type}"
            + (f" in {basis.region}" if basis.region else "")
            + f": set backends.{basis.backend}.price_per_hour, or name a price file in {PRICES_ENV}",
        )
    usd = instance_seconds / 3600 * price.usd_per_hour
    return Estimate(basis, price, instance_seconds, usd, f"{how} × {where} × ${price.usd_per_hour:g}/h = ${usd:,.2f}")


def _with_spot(found: Estimate) -> Estimate:
    """compute.spot: the spot price beside the on-demand bound, where a table has one."""
    basis = found.basis
    if basis.spot and basis.instance_type is not None:
        found.spot_price = lookup(basis.backend, SPOT_KIND, basis.instance_type, basis.region)
        if found.spot_price is not None and found.worst_seconds is not None:
            found.spot_usd = found.worst_seconds / 3600 * found.spot_price.usd_per_hour
    return found


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


def budget_issues(spec: Any, found: Estimate) -> list[SpecIssue]:
    """Refusals under limits.max_cost: a worst case above it, or no worst case to hold it to."""
    budget = spec.limits.max_cost
    if budget is None:
        return []
    path = ("limits", "max_cost")
    if found.missing:
        return [SpecIssue(f"limits.max_cost is ${budget:g}, and the worst case cannot be worked out: {found.missing}", path)]
    if found.usd_max > budget + 1e-9:
        return [SpecIssue(f"the worst case is ${found.usd_max:,.2f} ({found.formula}), above limits.max_cost ${budget:g}", path)]
    return []


def budget_wall_seconds(spec: Any, found: Estimate) -> Optional[int]:
    """The job runtime limit that holds the budget by itself: max_cost / (price × instances × trials at once)."""
    budget = spec.limits.max_cost
    if budget is None or found.price is None or found.price.usd_per_hour <= 0:
        return None
    per_second = found.price.usd_per_hour / 3600 * found.basis.instances_per_trial * found.basis.parallel
    return math.floor(budget / per_second)


def note(found: Estimate) -> str:
    """The compile note a reader sees."""
    if found.usd_max is not None:
        said = f"worst-case cost: {found.formula} (price: {found.price.source})"
    else:
        said = f"worst-case cost unknown: {found.missing}" + (f" ({found.formula})" if found.formula else "")
    return said + (spot_note(found) if found.basis.spot else "")


def spot_note(found: Estimate) -> str:
    """What compute.spot changes in the estimate: the bound is on-demand, the spot figure is beside it."""
    said = "; on spot capacity: the bound is the on-demand figure (a spot job never bills more)"
    if found.basis.instance_type is None:
        return said
    if found.spot_price is None:
        return said + f", and no spot price is known for {found.basis.instance_type} (a {SPOT_KIND} row in {PRICES_ENV})"
    at = f"${found.spot_price.usd_per_hour:g}/h spot ({found.spot_price.source})"
    return said + (f"; at {at} the same hours cost ${found.spot_usd:,.2f}" if found.spot_usd is not None else f"; {at}")


__all__ = [
    "CostBasis",
    "Estimate",
    "Price",
    "PriceFileError",
    "SPOT_KIND",
    "budget_issues",
    "budget_wall_seconds",
    "estimate",
    "lookup",
    "note",
]
