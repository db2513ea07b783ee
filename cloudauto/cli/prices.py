"""Commands on prices: `prices update / show / list` (the cache of the clouds' own prices) and `cost` (a spec's worst case, side by side)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError
from .app import EXIT_BACKEND, EXIT_NOT_INSTALLED, EXIT_OK, _remember_secrets, echo, main, set_option

BACKEND_CHOICE = click.Choice(["sagemaker", "azureml"])


@main.group()
def prices() -> None:
    """Prices read from the clouds' own price sources, cached under the home with their age."""


@prices.command("update")
@click.option(
    "-b", "--backend", "backends", multiple=True, type=BACKEND_CHOICE, help="Only this backend (repeatable; default both)."
)
@click.option(
    "--region", "regions", multiple=True, help="This region (repeatable; default: those cached, else the environment's)."
)
def update_(backends: tuple[str, ...], regions: tuple[str, ...]) -> int:
    """Read prices from AWS's Price List and Azure's Retail Prices API into the cache."""
    from .. import prices as cache

    failed, code = False, EXIT_BACKEND
    for backend in backends or cache.BACKENDS:
        wanted = list(regions) or cache.cached_regions(backend) or [r for r in [cache.default_region(backend)] if r]
        if not wanted:
            echo(f"{backend}: no region to read: give --region (e.g. eastus) or set AZURE_LOCATION", err=True)
            failed = True
        for region in wanted:
            try:
                done = cache.update_region(backend, region)
            except CloudautoError as exc:
                echo(f"error: {backend} {region}: {exc}", err=True)
                failed = True
                code = max(code, exc.exit_code)  # a home file that cannot be written is 3, not the source's 2
                continue
            if done.note:
                echo(f"note: {backend} {region}: {done.note}", err=True)
            if done.path is None:
                failed = True
                continue
            echo(f"{backend} {region}: {done.rows} prices from {done.source} -> {done.path}")
    return code if failed else EXIT_OK


def _age(read_at: Optional[str]) -> tuple[str, bool]:
    from .. import prices as cache

    if not read_at:
        return "?", True
    days = (time.time() - cache._from_iso(read_at)) / 86400
    stale = days > cache.STALE_DAYS
    return (f"{days:.0f}d" if days >= 1 else "today") + (" (stale)" if stale else ""), stale


@prices.command("show")
@click.argument("instance_type")
@click.option("-b", "--backend", type=BACKEND_CHOICE, help="Only this backend.")
@click.option("--region", help="Only this region.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(instance_type: str, backend: Optional[str], region: Optional[str], fmt: str) -> int:
    """The cached prices of one instance type (every kind and market), with their age and source."""
    from .. import prices as cache
    from ..cost import price_file_rows

    found = list(cache.rows(backend, region, instance_type))
    given = price_file_rows(instance_type, backend, region)  # the user's price file wins over the cache
    if fmt == "json":
        echo(json.dumps([*given, *({**r, "stale": _age(r.get("read_at"))[1]} for r in found)], indent=2))
    if fmt == "text":
        for r in given:
            stale = ", stale" if r["stale"] else ""
            echo(
                f"{r['backend']} {r.get('region') or 'any region'} {r['kind']}: ${r['usd_per_hour']:g}/h from {r['origin']}"
                f" ({r['source']}{', read ' + str(r['read_on']) if r.get('read_on') else ''}{stale}); it wins over the cache"
            )
    if given and not found:
        return EXIT_OK
    if not found:
        guess = backend or ("azureml" if instance_type.startswith("Standard_") else "sagemaker")
        where = f" in {region}" if region else ""
        raise NoCachedPrice(f"no cached price of {instance_type}{where}: {cache.update_command(guess, region)}")
    if fmt == "text":
        echo(f"{'backend':<10} {'region':<14} {'kind':<10} {'market':<13} {'USD':>12} {'per':<10} {'age':<13} source")
        for r in found:
            echo(
                f"{r['backend']:<10} {r['region']:<14} {r['kind']:<10} {r['market']:<13} {r['usd']:>12.6g} {r['unit']:<10} "
                f"{_age(r.get('read_at'))[0]:<13} {r.get('source', '?')}"
            )
    return EXIT_OK


class NoCachedPrice(CloudautoError):
    exit_code = EXIT_NOT_INSTALLED


@prices.command("list")
@click.option("-b", "--backend", type=BACKEND_CHOICE, help="Only this backend.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_(backend: Optional[str], fmt: str) -> int:
    """What is cached: each backend's regions, how many prices, when they were read, and which are stale."""
    from .. import prices as cache

    found = []
    for name in [backend] if backend else cache.BACKENDS:
        for region in cache.cached_regions(name):
            try:
                data, unreadable = cache.read_cache(name, region), None
            except CloudautoError as exc:  # listed as such: the other regions are still shown
                data, unreadable = None, str(exc)
            oldest = cache.oldest_read_at(data) if data else None
            age, stale = _age(oldest)
            found.append(
                {
                    "backend": name,
                    "region": region,
                    "prices": len((data or {}).get("rows", [])),
                    "read_at": oldest,
                    "stale": stale,
                    "source": (data or {}).get("source", f"unreadable: {unreadable}"),
                    "file": str(cache.cache_file(name, region)),
                    "age": age,
                }
            )
    if fmt == "json":
        echo(json.dumps(found, indent=2))
        return EXIT_OK
    user = os.environ.get("CLOUDAUTO_PRICES")
    if user and fmt == "text":
        echo(f"price file: {user} (CLOUDAUTO_PRICES): its prices win over the cache; prices show INSTANCE lists them")
    if not found:
        echo("no prices cached: cloudauto prices update [--backend sagemaker|azureml] [--region R]")
        return EXIT_OK
    echo(f"{'backend':<10} {'region':<14} {'prices':>6}  {'read':<21} {'age':<13} source")
    for f in found:
        echo(f"{f['backend']:<10} {f['region']:<14} {f['prices']:>6}  {f['read_at'] or '?':<21} {f['age']:<13} {f['source']}")
    return EXIT_OK


# ---- cost: the same spec's worst case where it could run ------------------------------------------------------

_OWN_PREFIX = {"sagemaker": "ml.", "azureml": "Standard_"}


def cost_rows(spec: Any, backends: list[str], instance_types: list[str]) -> list[dict[str, Any]]:
    """One row per backend and candidate instance type: the on-demand worst case, and the spot one where cached."""
    from ..cost import estimate
    from ..registry import get_backend

    found: list[dict[str, Any]] = []
    for name in backends:
        basis = get_backend(name).cost_basis(spec)
        if basis is None:
            found.append({"backend": name, "instance_type": None, "missing": "bills nothing"})
            continue
        prefix = _OWN_PREFIX.get(name)
        mine = [t for t in instance_types if prefix is None or t.startswith(prefix)]
        for instance in mine or [basis.instance_type]:
            candidate = basis
            if instance != basis.instance_type:  # the spec's own price is for its own instance type
                candidate = dataclasses.replace(basis, instance_type=instance, price_override=None)
            est = estimate(candidate)
            found.append({"backend": name, **est.to_dict(), "usd_spot": est.usd_spot})
    return found


def _not_installed(spec: Any, backends: list[str]) -> list[str]:
    """A line for each backend to price that is not installed here, naming its plugin: at the spec's `backend:` line
    where it is the spec's own (as compile says it), else as the registry says it."""
    from ..registry import get_backend
    from ..spec.errors import SpecIssue

    said: list[str] = []
    for name in backends:
        try:
            get_backend(name)
        except CloudautoError as exc:
            said.append(str(spec.locate(SpecIssue(str(exc), ("backend",)))) if name == spec.backend else f"error: {exc}")
    return said


def cost_table(found: list[dict[str, Any]]) -> str:
    def money(value: Optional[float]) -> str:
        return "-" if value is None else f"${value:,.2f}"

    lines = [
        f"{'backend':<10} {'instance type':<20} {'region':<14} {'$/h':>9} {'worst case':>11} {'spot $/h':>9} {'spot':>9}  notes"
    ]
    for r in sorted(found, key=lambda r: (r.get("estimate_max") is None, r.get("estimate_max") or 0)):
        hourly = "-" if r.get("usd_per_hour") is None else f"{r['usd_per_hour']:g}"
        spot = "-" if r.get("spot_usd_per_hour") is None else f"{r['spot_usd_per_hour']:g}"
        notes = "; ".join(
            n
            for n in (
                r.get("missing"),
                "stale price" if r.get("stale") else None,
                f"refresh: {r['refresh']}" if r.get("refresh") and not r.get("missing") else None,
            )
            if n
        )
        lines.append(
            f"{r['backend']:<10} {r.get('instance_type') or '-':<20} {r.get('region') or '-':<14} {hourly:>9} "
            f"{money(r.get('estimate_max')):>11} {spot:>9} {money(r.get('usd_spot')):>9}  {notes}"
        )
    return "\n".join(lines)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "-b", "--backend", "backends", multiple=True, help="A backend to price (repeatable; default sagemaker and azureml)."
)
@click.option(
    "--instance-type",
    "instance_types",
    multiple=True,
    help="A candidate instance type (repeatable; ml.* for SageMaker, Standard_* for Azure ML).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@set_option
def cost(file: Path, backends: tuple[str, ...], instance_types: tuple[str, ...], fmt: str, overrides: tuple[str, ...]) -> int:
    """A spec's worst-case cost side by side, per backend and instance type, from the cached prices (offline)."""
    from ..spec.loader import load_spec

    chosen = list(dict.fromkeys(backends or ("sagemaker", "azureml")))
    types = list(dict.fromkeys(instance_types))  # a type given twice is priced once
    prefixes = {b: _OWN_PREFIX[b] for b in chosen if b in _OWN_PREFIX}
    for given in types:
        if len(prefixes) == len(chosen) and not any(given.startswith(p) for p in prefixes.values()):
            runs = ", ".join(f"{b}: {p}*" for b, p in prefixes.items()) or "none names instance types"
            raise click.UsageError(f"--instance-type {given}: no backend priced here runs it ({runs})")
    spec = _remember_secrets(load_spec(file, overrides=list(overrides)))
    missing = _not_installed(spec, chosen)
    if missing:  # said as compile says it: the plugin to install, at the spec's backend: line where it is that one
        for line in missing:
            echo(line, err=True)
        return EXIT_NOT_INSTALLED
    found = cost_rows(spec, chosen, types)
    if fmt == "json":
        echo(json.dumps(found, indent=2))
    else:
        echo(cost_table(found))
        echo(
            "on-demand is the bound a job never bills more than; spot is what the same time costs at the cached spot price",
            err=True,
        )
    return EXIT_OK
