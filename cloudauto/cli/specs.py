"""Commands on spec files: validate, schema, compile, and the backends that can take them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError, SpecError, SpecIssue
from .app import (
    EXIT_BACKEND,
    EXIT_INVALID,
    EXIT_OK,
    _print_issues,
    _remember_secrets,
    changed_since_option,
    echo,
    files_argument,
    main,
    pydantic_plugins_off,
    set_option,
)


def _spec_files(files: tuple[str, ...], changed_since: Optional[str], fmt: str) -> Optional[list[Path]]:
    """The spec files FILES name (files, folders, globs); None, said, when --changed-since leaves none."""
    from ..spec_files import SpecFilesError, find_specs

    found = find_specs(files, changed_since=changed_since)
    if fmt == "text":
        for path, why in found.skipped:
            echo(f"{path}: skipped ({why})", err=True)
    if not found.specs:
        if changed_since:
            if fmt == "text":
                echo(f"no spec changed since {changed_since}", err=True)
            return None
        raise SpecFilesError(f"{', '.join(files)}: no job spec there (a .yaml, .yml or .json file with a task field)")
    return found.specs


@main.command()
@files_argument
@set_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@changed_since_option
def validate(files: tuple[str, ...], overrides: tuple[str, ...], fmt: str, strict: bool, changed_since: Optional[str]) -> int:
    """Check spec files (files, folders, globs); exit 1 if any is invalid."""
    from ..spec.loader import load_spec

    paths = _spec_files(files, changed_since, fmt)
    results: list[dict[str, Any]] = []
    failed = False
    for path in paths or []:
        try:
            with pydantic_plugins_off():
                spec = _remember_secrets(load_spec(path, overrides=list(overrides)))
            missing = [spec.locate(i) for i in _missing_weights(spec)]  # compile refuses them on every backend
            issues = [*missing, *(spec.locate(w) for w in spec.warnings)]
            ok = not missing and not (strict and spec.warnings)
        except SpecError as exc:
            issues, ok = exc.issues, False
        failed |= not ok
        results.append({"file": str(path), "valid": ok, "issues": [i.to_dict() for i in issues]})
        if fmt == "json":
            continue
        _print_issues(issues, fmt, lambda s: echo(s, err=fmt == "text"))
        if fmt == "text":
            echo(f"{path}: {'ok' if ok else 'invalid'}")
    if fmt == "json":
        echo(json.dumps(results, indent=2))
    return EXIT_INVALID if failed else EXIT_OK


def _missing_weights(spec: Any) -> list[SpecIssue]:
    """Foundation weights named as a local folder that is not there: no backend takes them, whatever it is."""
    from ..spec.models import Engine

    if spec.engine is Engine.COMMAND:  # a command's space holds its script's arguments
        return []
    from ..runtime.trial_inputs import missing_weights

    return missing_weights(spec)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--result", "of_result", is_flag=True, help="The schema of the result file (submit/run --result) instead.")
def schema(output: Optional[Path], of_result: bool) -> int:
    """Print the JSON Schema of the spec (or of the result file)."""
    if of_result:
        from ..run_result import schema_text
    else:
        from ..schema import schema_text

    text = schema_text()
    if output and not output.resolve().parent.is_dir():
        raise click.UsageError(f"-o {output}: there is no folder {output.resolve().parent}")
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CloudautoError(f"cannot write {output}: {exc.strerror}") from None
    else:
        echo(text, nl=False)
    return EXIT_OK


@main.command(name="compile")
@files_argument
@click.option(
    "-b",
    "--backend",
    default=None,
    envvar="CLOUDAUTO_BACKEND",
    help="Backend to compile for; default CLOUDAUTO_BACKEND, else each spec's backend:, else local.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write the native job here (a file or a folder: an existing folder is one whatever its name; with many "
    "specs a folder, one sub-folder per spec).",
)
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@changed_since_option
@set_option
def compile_(
    files: tuple[str, ...],
    backend: Optional[str],
    output: Optional[Path],
    strict: bool,
    fmt: str,
    changed_since: Optional[str],
    overrides: tuple[str, ...],
) -> int:
    """Compile specs (files, folders, globs) into a backend's native jobs (a dry run: nothing is submitted)."""
    from ..registry import get_backend

    paths = _spec_files(files, changed_since, fmt)
    if not paths:
        if fmt == "json":
            echo("[]")
        return EXIT_OK
    if backend is not None:
        get_backend(backend)  # a backend that is not there is said once, before any spec
    many = len(paths) > 1
    if many and output is not None and (output.suffix or output.exists()) and not output.is_dir():
        raise click.UsageError(f"-o {output}: with {len(paths)} specs, -o names a folder (each spec gets a sub-folder)")
    targets = _output_folders(paths, output) if many and output is not None else {paths[0]: output}
    with pydantic_plugins_off():  # a dry run: it starts no process that could want them
        compiled = [_compile_one(path, backend, targets.get(path), strict, fmt, overrides, many) for path in paths]
        _refuse_writing_over_specs(compiled, targets, paths)  # before any spec's output is written
        reports = [finish() for _, finish in compiled]
    if fmt == "json":
        echo(json.dumps(reports, indent=2))
    return max(r["exit_code"] for r in reports)


def _refuse_writing_over_specs(compiled: list[tuple[Any, Any]], targets: dict[Path, Optional[Path]], paths: list[Path]) -> None:
    """A usage error (exit 64) when a job's output would replace one of the specs compiled: `-o self.yaml self.yaml`."""
    from ..backend import OutputError

    for (job, _), path in zip(compiled, paths, strict=True):
        output = targets.get(path)
        if job is None or output is None:
            continue
        try:
            job.check_keeps(output, paths)
        except OutputError as exc:
            raise click.UsageError(f"-o {exc}") from None


def _output_folders(paths: list[Path], output: Path) -> dict[Path, Path]:
    """One folder per spec under `output`, by the file's name; where two share a name, by as many of the folders
    above it as tell them apart (`sub-s1`, `a-sub-s1`), from the absolute path: a spec in the current folder is
    `<that folder>-s1`, never `-s1`."""
    import os

    above = {p: Path(os.path.abspath(p)).parent.parts[1:] for p in paths}
    names = {p: p.stem for p in paths}
    for depth in range(1, max(len(a) for a in above.values()) + 1):
        taken = list(names.values())
        clashing = [p for p in paths if taken.count(names[p]) > 1]
        if not clashing:
            break
        for p in clashing:
            names[p] = "-".join([*above[p][-depth:], p.stem])
    seen: dict[str, int] = {}
    for p in paths:  # still one name (`sub-s1.yaml` beside `sub/s1.yaml`): numbered, never one folder for two
        seen[names[p]] = seen.get(names[p], 0) + 1
        if seen[names[p]] > 1:
            names[p] = f"{names[p]}-{seen[names[p]]}"
    return {p: output / names[p] for p in paths}


def _compile_one(
    path: Path, backend: Optional[str], output: Optional[Path], strict: bool, fmt: str, overrides: tuple[str, ...], many: bool
) -> tuple[Any, Callable[[], dict[str, Any]]]:
    """One spec compiled for `backend` (--backend or CLOUDAUTO_BACKEND), else for its own `backend:`, else local.

    The compiled job (None if it did not compile) and what writes it to `output` and says so, returning the report:
    called once every spec compiled, so no output is written when one would replace a spec."""
    from ..backend import CompileError
    from ..registry import get_backend
    from ..spec.loader import load_spec

    report: dict[str, Any] = {
        "file": str(path),
        "backend": backend or "local",
        "ok": False,
        "issues": [],
        "notes": [],
        "written": [],
        "removed": [],
        "cost": None,
    }

    def said(issues: list[SpecIssue], code: int) -> Callable[[], dict[str, Any]]:
        return lambda: _said(issues, code)

    def _said(issues: list[SpecIssue], code: int) -> dict[str, Any]:
        report["issues"] += [i.to_dict() for i in issues]
        if fmt != "json":
            _print_issues(issues, fmt, lambda s: echo(s, err=fmt == "text"))
        report["exit_code"] = code
        if fmt == "text" and many:
            echo(f"{path}: {'compiles' if code == EXIT_OK else 'does not compile'} for {report['backend']}", err=True)
        return report

    try:
        spec = _remember_secrets(load_spec(path, overrides=list(overrides)))
    except SpecError as exc:
        return None, said(exc.issues, EXIT_INVALID)
    report["backend"] = backend or spec.backend or "local"
    try:
        plugin = get_backend(report["backend"])
    except CloudautoError as exc:  # the spec's backend: is not installed here
        issue = spec.locate(SpecIssue(str(exc), ("backend",)))
        return None, said([issue], exc.exit_code)
    try:
        job = plugin.compile(spec, strict=strict)
    except CompileError as exc:
        return None, said([spec.locate(i) for i in exc.issues], EXIT_BACKEND)
    return job, lambda: _written(job, spec, output, report, fmt, many, _said)


def _written(
    job: Any, spec: Any, output: Optional[Path], report: dict[str, Any], fmt: str, many: bool, said: Any
) -> dict[str, Any]:
    """A compiled job's notes said, written to `output` (or printed), its warnings said: the spec's report."""
    report["ok"] = True
    report["notes"] = list(job.notes)
    report["cost"] = job.estimate.to_dict() if job.estimate is not None else None
    if fmt == "text":
        for note in job.notes:
            echo(f"note: {note}", err=True)
    if output:
        from ..backend import OutputError, output_path

        folders: dict[Path, int] = {}
        try:
            files = job.write(output)
            base = output_path(output)  # as write took it (`x/..` is x's folder)
        except OutputError as exc:
            raise click.UsageError(f"-o {exc}") from None
        for written in files:
            report["written"].append(str(written))
            relative = written.relative_to(base) if written.is_relative_to(base) else written
            if len(relative.parts) > 1:  # a job's code folder: one line for it, not one per file
                folders[base / relative.parts[0]] = folders.get(base / relative.parts[0], 0) + 1
            elif fmt == "text":
                echo(f"wrote {written}", err=True)
        if fmt == "text":
            for folder, count in folders.items():
                echo(f"wrote {folder}/ ({count} files)", err=True)
        report["removed"] = [str(p) for p in job.removed]  # an earlier compile's request of this spec
        if fmt == "text":
            for gone in job.removed:
                echo(f"removed {gone} (an earlier compile of this spec)", err=True)
    elif not many and fmt == "text":
        echo(job.render(), nl=False)
    return said([spec.locate(i) for i in job.warnings], EXIT_OK)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backends(fmt: str) -> int:
    """List the installed backends."""
    from ..registry import available_backends

    found = available_backends()
    if fmt == "json":
        echo(json.dumps(found, indent=2))
    elif not found:
        echo("no backends installed: pip install cloudauto-local")
    else:
        for name, dist in found.items():
            echo(f"{name}\t{dist}")
    return EXIT_OK
