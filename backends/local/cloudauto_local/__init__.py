"""cloudauto-local: run a spec's trials on this machine."""

from __future__ import annotations

from typing import Any

__all__ = ["LocalBackend"]


def __getattr__(name: str) -> Any:
    # lazy: the scheduler's standby and the workers start (`python -m cloudauto_local.…`) before the core is imported
    if name == "LocalBackend":
        from .backend import LocalBackend

        return LocalBackend
    raise AttributeError(f"module 'cloudauto_local' has no attribute {name!r}")
