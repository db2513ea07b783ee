"""`cloudauto doctor [SPEC] [-b BACKEND]`: every check a backend's first job depends on, one line each, before a dollar is spent.

Exit 0 when no check found a problem (warnings are checks that could not be run: said, not failed),
3 otherwise (the backend is not set up for this job), as `submit` refuses the same job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from .app import EXIT_NOT_INSTALLED, EXIT_OK, backend_option, echo, main, set_option
from .jobs import _load_or_exit


@main.command()
@click.argument("file", required=False, type=click.Path(path_type=Path))
@backend_option
@set_option
def doctor(file: Optional[Path], backend: str, overrides: tuple[str, ...]) -> int:
    """Check credentials, region, role, bucket, and for a spec its quotas and images; exit 3 on a problem."""
    from ..preflight import CheckLevel, problems
    from ..registry import KNOWN, available_backends, get_backend

    if file is not None and not file.exists() and file.name == str(file) and file.name in (*KNOWN, *available_backends()):
        raise click.UsageError(f"{file}: no such spec file; did you mean `cloudauto doctor -b {file}`?")
    plugin = get_backend(backend)
    spec = _load_or_exit(file, overrides) if file is not None else None
    checks = plugin.doctor(spec)
    for check in checks:
        echo(check.line())
    failed = problems(checks)
    warned = sum(1 for c in checks if c.level is CheckLevel.WARNING)
    if not checks:
        echo(f"{backend}: nothing to check")
    else:
        echo(  # on stderr when there is a problem: a failure says why where failures are read
            f"{backend}: {len(checks)} checks, {len(failed)} problem{'' if len(failed) == 1 else 's'}, "
            f"{warned} warning{'' if warned == 1 else 's'}",
            err=bool(failed),
        )
    return EXIT_NOT_INSTALLED if failed else EXIT_OK
