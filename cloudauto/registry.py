"""Backends are plugins found by entry point (group `cloudauto.backends`), loaded lazily.

Listing reads package metadata only; a plugin module (and its cloud SDK) is imported
when that backend is asked for, and its shape is checked then, naming the distribution
that supplied it.
"""

from __future__ import annotations

import difflib
import inspect
from functools import cache, lru_cache
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import TYPE_CHECKING, Optional

from .spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    from .backend import Backend

GROUP = "cloudauto.backends"
# the first-party plugins, so a missing one gets an install hint instead of "unknown"
KNOWN = {
    "local": "cloudauto-local",
    "sagemaker": "cloudauto-sagemaker",
    "azureml": "cloudauto-azureml",
}


class BackendNotFound(CloudautoError):
    exit_code = 3


class PluginError(CloudautoError):
    exit_code = 3


def suggest(name: str, valid: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


@cache
def _first_party(name: str) -> Optional[EntryPoint]:
    """A first-party backend's entry point, read from its own distribution's metadata alone: the scan of every
    installed distribution's entry points (all of them, about 70 ms in a 350-package venv) is left for the others."""
    try:
        dist = distribution(KNOWN[name])
    except PackageNotFoundError:
        return None
    return next((ep for ep in dist.entry_points if ep.group == GROUP and ep.name == name), None)


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def refresh() -> None:
    """Forget the plugins found so far (after installing one into a running process)."""
    _entry_points.cache_clear()
    _first_party.cache_clear()


def available_backends() -> dict[str, str]:
    """Installed backends: name -> the distribution that supplies it."""
    return {name: (ep.dist.name if ep.dist else "?") for name, ep in sorted(_entry_points().items())}


def get_backend(name: str) -> Backend:
    from .backend import Backend

    ep = _first_party(name) if name in KNOWN else None
    eps = _entry_points() if ep is None else {}
    ep = ep or eps.get(name)
    if ep is None:
        if name in KNOWN:
            raise BackendNotFound(
                f"backend '{name}' is not installed: pip install {KNOWN[name]} (from a checkout: pip install -c constraints.txt -e backends/{name})"
            )
        valid = sorted(set(KNOWN) | set(eps))
        raise BackendNotFound(f"'{name}' is not a valid backend among [{', '.join(valid)}]; {suggest(name, valid)}".rstrip("; "))
    dist = ep.dist.name if ep.dist else "an unknown distribution"
    try:
        obj = ep.load()
    except ImportError as exc:
        raise PluginError(f"backend '{name}' (from {dist}) failed to import: {exc}") from exc
    if not (inspect.isclass(obj) and issubclass(obj, Backend)):
        raise PluginError(f"entry point '{name}' of {dist} is {obj!r}, not a cloudauto.Backend subclass")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise PluginError(f"backend '{name}' of {dist} does not implement: {missing}")
    return obj()


__all__ = ["GROUP", "BackendNotFound", "PluginError", "available_backends", "get_backend", "refresh", "suggest"]
