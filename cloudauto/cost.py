"""What a job may cost at worst, before it starts, and the budget it is held to.

A backend says what it bills for (`Backend.cost_basis`: the instance type and count per
trial, how many trials, how many at once, and the time bounds the service itself enforces);
this module prices that and takes the worst case. The worst case follows from the bounds
the service enforces without cloudauto running: each trial's runtime limit times the trials,
or the job's runtime limit times the trials that run at once, whichever is smaller.

Prices: `backends.<name>.price_per_hour` in the spec wins; then a price file of the user's
(`CLOUDAUTO_PRICES`, the same format as the package's `prices.json`); then the prices
`cloudauto prices update` read from the clouds' own sources (cloudauto.prices, cached under
the home with their age); then the package's table. An instance type found in none of them
is said to be unknown, never guessed; a cached price older than 30 days is used and said stale.

Spot capacity (`compute.spot`): the worst case stays the on-demand figure, the bound `max_cost`
holds against (a spot job never bills more than on-demand for the same time); the spot price
(a `training-spot` row of a price file, or the cached spot price) is shown beside it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Optional

from .prices import MAX_USD, usd_figure
from .spec.errors import CloudautoError, SpecIssue

PRICES_ENV = "CLOUDAUTO_PRICES"
PACKAGE_TABLE = Path(__file__).with_name("prices.json")
SPOT_KIND = "training-spot"  # a price row of spare capacity: SageMaker managed spot, Azure spot / low priority


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str  # where the figure comes from, with the date it was read where known
    stale: bool = False  # a cached price read more than cloudauto.prices.STALE_DAYS ago
    market: str = "on-demand"  # or "spot" / "low-priority" (cached rows of those markets)


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
    spot: Optional[Price] = None  # the spot (Azure: low priority apart) price of the same instance, where known
    refresh: Optional[str] = None  # the command that fills a missing or stale cached price

    @property
    def usd_spot(self) -> Optional[float]:
        """The worst case at the spot price (never above the on-demand bound: a spot job never bills more)."""
        if self.spot is None or self.worst_seconds is None:
            return None
        return self.worst_seconds / 3600 * self.spot.usd_per_hour

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
            "stale": None if self.price is None else self.price.stale,
            "spot": bool(self.basis.spot),
            "spot_usd_per_hour": None if self.spot is None else self.spot.usd_per_hour,
            "spot_price_source": None if self.spot is None else self.spot.source,
            "spot_estimate_max": None if self.usd_spot is None else round(self.usd_spot, 2),
            "refresh": self.refresh,
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
        if usd_figure(row["usd_per_hour"]) is None:
            raise PriceFileError(
                f"{path}: prices[{number}].usd_per_hour must be a number above 0 and below ${MAX_USD:,.0f}"
                f" (it is {json.dumps(row['usd_per_hour'])})"
            )
    return rows


@cache
def _package_rows() -> tuple[dict[str, Any], ...]:
    return tuple(_read_table(PACKAGE_TABLE))


def lookup(
    backend: str,
    kind: str,
    instance_type: str,
    region: Optional[str],
    override: Optional[float] = None,
    market: str = "on-demand",
) -> Optional[Price]:
    """The hourly price of one instance in a market (on-demand, spot), or None where no table knows it: the spec's
    own price (on-demand), then the user's price file, then the cache, then the package's table."""
    if override is not None and market == "on-demand":
        return Price(override, f"backends.{backend}.price_per_hour in the spec")
    user = os.environ.get(PRICES_ENV)
    if user:
        found = _match(_read_table(Path(user)), backend, kind, instance_type, region, f"{user} ({PRICES_ENV})", market)
        if found is not None:
            return found
    cached = _cached(backend, kind, instance_type, region, market)
    if cached is not None:
        return cached
    return _match(_package_rows(), backend, kind, instance_type, region, "cloudauto/prices.json", market)


def _cached(backend: str, kind: str, instance_type: str, region: Optional[str], market: str = "on-demand") -> Optional[Price]:
    from . import prices

    found = prices.lookup(backend, kind, instance_type, region, market)
    if found is None:
        return None
    age = f"{found.age_days:.0f} days ago" if found.age_days >= 1 else "today"
    stale = f", stale: over {prices.STALE_DAYS} days" if found.stale else ""
    return Price(found.usd, f"{found.source}, read {age}{stale} (cloudauto prices)", stale=found.stale, market=market)


def spot_price(backend: str, instance_type: Optional[str], region: Optional[str]) -> Optional[Price]:
    """The spot price of a training instance: the training kind's spot market, as every table holds it (a price file's
    row with `market: spot`, or of kind `training-spot`; the cache's spot market, Azure's low priority apart)."""
    if not instance_type:
        return None
    return lookup(backend, "training", instance_type, region, market="spot")


def kind_and_market(row: dict[str, Any]) -> tuple[str, str]:
    """A price file row's (kind, market), as the cache has them: `kind: training-spot` is training on the spot market."""
    if row["kind"] == SPOT_KIND:
        return "training", "spot"
    return row["kind"], row.get("market") or "on-demand"


def _match(
    rows: Any, backend: str, kind: str, instance_type: str, region: Optional[str], origin: str, market: str = "on-demand"
) -> Optional[Price]:
    matches = [
        r
        for r in rows
        if r["backend"] == backend
        and kind_and_market(r) == (kind, market)
        and r["instance_type"] == instance_type
        and r.get("region") in (region, None)
    ]
    if not matches:
        return None
    row = sorted(matches, key=lambda r: r.get("region") is None)[0]  # the region's own price first
    read = f", read {row['read_on']}" if row.get("read_on") else ""
    stale = _stale_on(row.get("read_on"))
    said = f", stale: over {_stale_days()} days" if stale else ""
    return Price(float(row["usd_per_hour"]), f"{row['source']}{read}{said} ({origin})", stale=stale, market=market)


def _stale_days() -> int:
    from .prices import STALE_DAYS

    return STALE_DAYS


def _stale_on(read_on: Any) -> bool:
    """A price file's row read (`read_on`, YYYY-MM-DD) longer ago than the cache's rule: stale the same way."""
    import datetime as dt

    if not isinstance(read_on, str):
        return False
    try:
        day = dt.date.fromisoformat(read_on[:10])
    except ValueError:
        return False
    return (dt.date.today() - day).days > _stale_days()


def price_file_rows(instance_type: str, backend: Optional[str] = None, region: Optional[str] = None) -> list[dict[str, Any]]:
    """The rows of the user's price file (CLOUDAUTO_PRICES) for one instance type: they win over the cache."""
    user = os.environ.get(PRICES_ENV)
    if not user:
        return []
    return [
        {**r, "origin": f"{user} ({PRICES_ENV})", "stale": _stale_on(r.get("read_on"))}
        for r in _read_table(Path(user))
        if r["instance_type"] == instance_type
        and (backend is None or r["backend"] == backend)
        and (region is None or r.get("region") in (region, None))
    ]


def estimate(basis: CostBasis) -> Estimate:
    """The worst case: min(trials × trial limit, job limit × trials at once) × instances × price (on-demand),
    and with compute.spot the spot price beside it."""
    return _on_demand(basis)


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
    spot = spot_price(basis.backend, basis.instance_type, basis.region) if basis.kind == "training" else None
    refresh = _refresh_hint(basis, price)
    if price is None:
        return Estimate(
            basis,
            None,
            instance_seconds,
            None,
            f"{how} × {where}",
            missing=f"no price known for {basis.instance_type}"
            + (f" in {basis.region}" if basis.region else "")
            + f": set backends.{basis.backend}.price_per_hour, or name a price file in {PRICES_ENV}"
            + (f", or read the cloud's prices: {refresh}" if refresh else ""),
            spot=spot,
            refresh=refresh,
        )
    usd = instance_seconds / 3600 * price.usd_per_hour
    formula = f"{how} × {where} × ${price.usd_per_hour:g}/h = ${usd:,.2f}"
    return Estimate(basis, price, instance_seconds, usd, formula, spot=spot, refresh=refresh)


def _refresh_hint(basis: CostBasis, price: Optional[Price]) -> Optional[str]:
    """The command that reads a missing or stale price from the cloud (where the cache is the price's place)."""
    from . import prices

    if basis.backend not in prices.BACKENDS or (price is not None and not price.stale):
        return None
    if basis.region is None:
        where = {"azureml": "backends.azureml.location"}.get(basis.backend, "the region")
        return f"set {where} (the region), then {prices.update_command(basis.backend, None)} --region REGION"
    return prices.update_command(basis.backend, basis.region)


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
        stale = f"; refresh it: {found.refresh}" if found.price.stale and found.refresh else ""
        said = f"worst-case cost: {found.formula} (price: {found.price.source}{stale})"
    else:
        said = f"worst-case cost unknown: {found.missing}" + (f" ({found.formula})" if found.formula else "")
    return said + (spot_note(found) if found.basis.spot else "")


def spot_note(found: Estimate) -> str:
    """What compute.spot changes in the estimate: the bound is on-demand, the spot figure is beside it."""
    said = "; on spot capacity: the bound is the on-demand figure (a spot job never bills more)"
    if found.basis.instance_type is None:
        return said
    if found.spot is None:
        return said + f", and no spot price is known for {found.basis.instance_type} (a {SPOT_KIND} row in {PRICES_ENV})"
    at = f"${found.spot.usd_per_hour:g}/h spot ({found.spot.source})"
    return said + (f"; at {at} the same hours cost ${found.usd_spot:,.2f}" if found.usd_spot is not None else f"; {at}")


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
    "spot_price",
]
