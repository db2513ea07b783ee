"""Endpoints that do not bill forever: the tags every deployed resource carries, expiry, and the listing.

Every cloud resource cloudauto creates carries the same tags (`cloudauto:creator`, the job,
the spec's name, when it was created, and, with `deploy --ttl`, when it expires), so
`cloudauto endpoints` finds them again from any machine, and `--expired --delete` removes
what has outlived its time. The tags live with the service: nothing here keeps state.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

TAG_CREATOR, TAG_JOB, TAG_SPEC, TAG_CREATED, TAG_EXPIRES = (
    "cloudauto:creator",
    "cloudauto:job",
    "cloudauto:spec",
    "cloudauto:created",
    "cloudauto:expires",
)
CREATOR = "cloudauto"


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def from_iso(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    import calendar

    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def resource_tags(job_id: str, spec_name: str, *, ttl: Optional[float] = None, now: Optional[float] = None) -> dict[str, str]:
    """The tags of a resource cloudauto creates for job `job_id` (an endpoint, its config, its model)."""
    now = time.time() if now is None else now
    tags = {TAG_CREATOR: CREATOR, TAG_JOB: job_id, TAG_SPEC: spec_name, TAG_CREATED: iso(now)}
    if ttl is not None:
        if ttl <= 0:
            from .spec.errors import CloudautoError

            raise CloudautoError(f"--ttl must be positive, not {ttl:g} s")
        tags[TAG_EXPIRES] = iso(now + ttl)
    return tags


def job_tags(spec_name: str, job_id: Optional[str] = None) -> dict[str, str]:
    """The tags of a job cloudauto submits (the service names Azure ML's jobs, so theirs carry no job id)."""
    return {TAG_CREATOR: CREATOR, TAG_SPEC: spec_name, **({TAG_JOB: job_id} if job_id else {})}


def is_ours(tags: dict[str, str]) -> bool:
    return tags.get(TAG_CREATOR) == CREATOR or TAG_JOB in tags


@dataclass
class EndpointInfo:
    """A live endpoint as every backend describes it."""

    name: str
    backend: str
    status: str
    job: Optional[str] = None
    spec: Optional[str] = None
    created: Optional[float] = None
    expires: Optional[float] = None
    instance_type: Optional[str] = None
    instance_count: int = 1
    usd_per_hour: Optional[float] = None
    price_source: Optional[str] = None
    url: Optional[str] = None
    region: Optional[str] = None  # where it runs, as its price is looked up
    usd_per_unit: Optional[dict[str, float]] = None  # a serverless endpoint's prices: {"GB-second": …, "request": …}

    @classmethod
    def from_tags(cls, name: str, backend: str, status: str, tags: dict[str, str], **fields: Any) -> EndpointInfo:
        return cls(
            name=name,
            backend=backend,
            status=status,
            job=tags.get(TAG_JOB),
            spec=tags.get(TAG_SPEC),
            created=fields.pop("created", None) or from_iso(tags.get(TAG_CREATED)),
            expires=from_iso(tags.get(TAG_EXPIRES)),
            **fields,
        )

    def expired(self, now: Optional[float] = None) -> bool:
        return self.expires is not None and self.expires <= (time.time() if now is None else now)

    def to_dict(self, now: Optional[float] = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        data = asdict(self)
        data.update(
            created=None if self.created is None else iso(self.created),
            expires=None if self.expires is None else iso(self.expires),
            age_s=None if self.created is None else round(now - self.created),
            expired=self.expired(now),
        )
        return data


def priced(info: EndpointInfo, region: Optional[str]) -> EndpointInfo:
    """The endpoint's hourly price from the price tables (hosting), for its instances; unknown stays None."""
    from .cost import lookup

    info.region = region
    if info.instance_type:
        price = lookup(info.backend, "hosting", info.instance_type, region)
        if price is not None:
            info.usd_per_hour, info.price_source = price.usd_per_hour * info.instance_count, price.source
    return info


def priced_serverless(info: EndpointInfo, region: Optional[str]) -> EndpointInfo:
    """A serverless endpoint bills per GB-second (and per request where the source lists one), not per hour."""
    from .prices import serverless, update_command

    info.region, info.usd_per_hour = region, None
    rates = serverless(info.backend, region)
    if rates:
        info.usd_per_unit = {unit: price.usd for unit, price in sorted(rates.items())}
        info.price_source = "; ".join(sorted({price.source for price in rates.values()})) + " (cloudauto prices)"
    else:
        info.price_source = (
            f"serverless: billed per GB-second and request; no price cached: {update_command(info.backend, region)}"
        )
    return info


def _hourly(info: EndpointInfo) -> str:
    if info.usd_per_unit:
        return ", ".join(f"${usd:g}/{unit}" for unit, usd in info.usd_per_unit.items())
    if info.usd_per_hour is None:
        return "unknown" if info.instance_type else f"{0:.3f}"
    return f"{info.usd_per_hour:.3f}"


def age_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def table(infos: list[EndpointInfo], now: Optional[float] = None) -> str:
    now = time.time() if now is None else now
    head = f"{'backend':<10} {'endpoint':<32} {'status':<14} {'age':>6}  {'instances':<24} {'$/hour':>8}  expires"
    lines = [head]
    for info in infos:
        expires = "-" if info.expires is None else iso(info.expires) + (" (expired)" if info.expired(now) else "")
        hourly = _hourly(info)
        instances = f"{info.instance_count} × {info.instance_type}" if info.instance_type else "-"
        age = age_text(None if info.created is None else now - info.created)
        lines.append(f"{info.backend:<10} {info.name:<32} {info.status:<14} {age:>6}  {instances:<24} {hourly:>8}  {expires}")
    return "\n".join(lines)


__all__ = [
    "job_tags",
    "EndpointInfo",
    "TAG_CREATED",
    "TAG_CREATOR",
    "TAG_EXPIRES",
    "TAG_JOB",
    "TAG_SPEC",
    "is_ours",
    "priced",
    "priced_serverless",
    "resource_tags",
    "table",
]
