"""`cloudauto setup BACKEND` and `cloudauto teardown BACKEND`: what a cloud needs before a first job, made and removed by tag.

Each backend's subcommand passes its options to that backend's `setup` / `teardown` through the registry.
"""

from __future__ import annotations

from typing import Optional

import click

from .app import echo, main


@main.group()
def setup() -> None:
    """Create what a backend's jobs need (idempotent; run it again to check)."""


@main.group()
def teardown() -> None:
    """Remove what `cloudauto setup` made, and only that."""


@setup.command("azureml")
@click.option("--compute", metavar="NAME", help="The cluster's name (default cpu-cluster).")
@click.option("--vm-size", metavar="SIZE", help="Its VM size, for a new cluster (default Standard_DS3_v2).")
@click.option("--max-nodes", type=click.IntRange(1, 1000), metavar="N", help="The most nodes it grows to (default 4).")
def setup_azureml(compute: Optional[str], vm_size: Optional[str], max_nodes: Optional[int]) -> None:
    """Reach the workspace and make a compute cluster that scales to zero (found, not changed, on a second run)."""
    from ..registry import get_backend

    for line in get_backend("azureml").setup(compute=compute, vm_size=vm_size, max_nodes=max_nodes):
        echo(line)


@teardown.command("azureml")
@click.option("--compute", metavar="NAME", help="Only this cluster (default: every one `setup azureml` made).")
def teardown_azureml(compute: Optional[str]) -> None:
    """Delete the compute clusters `cloudauto setup azureml` made (by their cloudauto:setup tag)."""
    from ..registry import get_backend

    for line in get_backend("azureml").teardown(compute=compute):
        echo(line)
