"""The `cloudauto` command: a thin layer over the Python API.

Exit codes: 0 ok; 1 the spec is invalid; 2 the backend cannot compile the spec (or a
warning under --strict); 3 the backend is not installed; 64 bad command-line usage;
70 an internal error (a bug: please report it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import click

from .spec.errors import CloudautoError, SpecError, SpecIssue

EXIT_OK, EXIT_INVALID, EXIT_BACKEND, EXIT_NOT_INSTALLED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3, 64, 70

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a field, e.g. --set limits.max_trials=5 (repeatable).",
)


class _Group(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D401
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:  # also "no arguments": show() prints the help
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except CloudautoError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # a bug, not a user mistake
            if os.environ.get("CLOUDAUTO_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "this is a bug in cloudauto; rerun with CLOUDAUTO_DEBUG=1 for the traceback",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudauto", message="cloudauto %(version)s")
def main() -> None:
    """cloudauto: one AutoML job spec for local, SageMaker and Azure ML."""


def _print_issues(issues: list[SpecIssue], fmt: str, out: Callable[[str], None]) -> None:
    for issue in issues:
        out(issue.github() if fmt == "github" else str(issue))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=Path))
@set_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(files: tuple[Path, ...], overrides: tuple[str, ...], fmt: str, strict: bool) -> int:
    """Check spec files; exit 1 if any is invalid."""
    from .spec.loader import load_spec

    results: list[dict[str, Any]] = []
    failed = False
    for path in files:
        try:
            spec = load_spec(path, overrides=list(overrides))
            issues, ok = spec.warnings, not (strict and spec.warnings)
        except SpecError as exc:
            issues, ok = exc.issues, False
        failed |= not ok
        results.append({"file": str(path), "valid": ok, "issues": [i.to_dict() for i in issues]})
        if fmt == "json":
            continue
        _print_issues(issues, fmt, lambda s: click.echo(s, err=fmt == "text"))
        if fmt == "text":
            click.echo(f"{path}: {'ok' if ok else 'invalid'}")
    if fmt == "json":
        click.echo(json.dumps(results, indent=2))
    return EXIT_INVALID if failed else EXIT_OK


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(output: Optional[Path]) -> int:
    """Print the JSON Schema of the spec."""
    from .schema import schema_text

    text = schema_text()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    return EXIT_OK


@main.command(name="compile")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-b", "--backend", default="local", show_default=True, help="Backend to compile for.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the native job here (a file or a folder).")
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@set_option
def compile_(file: Path, backend: str, output: Optional[Path], strict: bool, overrides: tuple[str, ...]) -> int:
    """Compile a spec into a backend's native job (a dry run: nothing is submitted)."""
    from .backend import CompileError
    from .registry import get_backend
    from .spec.loader import load_spec

    try:
        spec = load_spec(file, overrides=list(overrides))
    except SpecError as exc:
        _print_issues(exc.issues, "text", lambda s: click.echo(s, err=True))
        return EXIT_INVALID
    plugin = get_backend(backend)
    try:
        job = plugin.compile(spec, strict=strict)
    except CompileError as exc:
        for issue in exc.issues:
            issue.file = issue.file or str(file)
        _print_issues(exc.issues, "text", lambda s: click.echo(s, err=True))
        return EXIT_BACKEND
    for issue in job.warnings:
        issue.file = issue.file or str(file)
        click.echo(str(issue), err=True)
    for note in job.notes:
        click.echo(f"note: {note}", err=True)
    if output:
        for written in job.write(output):
            click.echo(f"wrote {written}", err=True)
    else:
        click.echo(job.render(), nl=False)
    return EXIT_OK


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backends(fmt: str) -> int:
    """List the installed backends."""
    from .registry import available_backends

    found = available_backends()
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
    elif not found:
        click.echo("no backends installed: pip install cloudauto-local")
    else:
        for name, dist in found.items():
            click.echo(f"{name}\t{dist}")
    return EXIT_OK


__all__ = ["main"]
