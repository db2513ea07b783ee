"""`cloudauto setup BACKEND` and `cloudauto teardown BACKEND`: what a cloud needs before a first job, made and removed by tag.

Each backend's subcommand passes its options to that backend's `setup` / `teardown` through the registry.
"""

from __future__ import annotations

from .app import main


@main.group()
def setup() -> None:
    """Create what a backend's jobs need (idempotent; run it again to check)."""


@main.group()
def teardown() -> None:
    """Remove what `cloudauto setup` made, and only that."""
