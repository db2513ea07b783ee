"""The `cloudauto` command: a thin layer over the Python API.

Exit codes (the README's table; tests/test_cli.py::test_every_command_exits_as_the_readme_table_says):
0 ok; 1 the spec is invalid; 2 the backend cannot compile the spec (or a warning under --strict);
3 the backend is not installed or not set up (credentials, region, SageMaker role), or no such job
or trial (or its run store cannot be read or written);
4 the job ended without completing (failed, canceled, or its scheduler is gone), has no model
to serve or score with, or a batch failed; 5 scoring failed or the endpoint cannot be found or
started; 6 --timeout passed and the job goes on running (or `resume` found another live
scheduler running it); 64 bad command-line usage (an output or input path, an endpoint name);
70 an internal error (a bug: please report it).

Everything printed and every file written passes through cloudauto.secrets: a key, token or
role ARN from the environment appears as <secret:NAME>.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import click

from .spec.errors import CloudautoError, SpecError, SpecIssue

EXIT_OK, EXIT_INVALID, EXIT_BACKEND, EXIT_NOT_INSTALLED, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3, 4, 64, 70
EXIT_STILL_RUNNING = 6  # --timeout passed: cloudauto stopped waiting, the job goes on

_secrets_seen: dict[str, str] = {}  # ${NAME} values of the specs this command loaded
_redact_cache: list[Any] = []


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """click.echo, with every secret of the environment (and of the specs read) replaced: nothing printed leaks a key."""
    from .secrets import Redactor, remembered

    seen = {**remembered(), **_secrets_seen}  # also the ${NAME} values of a job's stored spec, read again
    if not _redact_cache or _redact_cache[0] != len(seen):
        _redact_cache[:] = [len(seen), Redactor(extra=seen.items())]
    click.echo(_redact_cache[1](str(message)), err=err, nl=nl)


def _remember_secrets(spec: Any) -> Any:
    _secrets_seen.update(getattr(spec, "_interpolated", {}))
    return spec


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
            echo("aborted", err=True)
            sys.exit(130)
        except CloudautoError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # a bug, not a user mistake
            if os.environ.get("CLOUDAUTO_DEBUG"):
                raise
            echo(
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


changed_since_option = click.option(
    "--changed-since",
    metavar="REF",
    help="Only specs changed since this git ref (committed, uncommitted or untracked), e.g. origin/main.",
)
files_argument = click.argument("files", nargs=-1, required=True)


def _spec_files(files: tuple[str, ...], changed_since: Optional[str], fmt: str) -> Optional[list[Path]]:
    """The spec files FILES name (files, folders, globs); None, said, when --changed-since leaves none."""
    from .spec_files import SpecFilesError, find_specs

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
    from .spec.loader import load_spec

    paths = _spec_files(files, changed_since, fmt)
    results: list[dict[str, Any]] = []
    failed = False
    for path in paths or []:
        try:
            spec = _remember_secrets(load_spec(path, overrides=list(overrides)))
            issues, ok = [spec.locate(w) for w in spec.warnings], not (strict and spec.warnings)
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


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@click.option("--result", "of_result", is_flag=True, help="The schema of the result file (submit/run --result) instead.")
def schema(output: Optional[Path], of_result: bool) -> int:
    """Print the JSON Schema of the spec (or of the result file)."""
    if of_result:
        from .run_result import schema_text
    else:
        from .schema import schema_text

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
    default="local",
    show_default=True,
    envvar="CLOUDAUTO_BACKEND",
    help="Backend to compile for (or CLOUDAUTO_BACKEND).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write the native job here (a file or a folder; with many specs a folder, one sub-folder per spec).",
)
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@changed_since_option
@set_option
def compile_(
    files: tuple[str, ...],
    backend: str,
    output: Optional[Path],
    strict: bool,
    fmt: str,
    changed_since: Optional[str],
    overrides: tuple[str, ...],
) -> int:
    """Compile specs (files, folders, globs) into a backend's native jobs (a dry run: nothing is submitted)."""
    from .registry import get_backend

    paths = _spec_files(files, changed_since, fmt)
    if not paths:
        if fmt == "json":
            echo("[]")
        return EXIT_OK
    plugin = get_backend(backend)
    many = len(paths) > 1
    if many and output is not None and output.suffix and not output.is_dir():
        raise click.UsageError(f"-o {output}: with {len(paths)} specs, -o names a folder (each spec gets a sub-folder)")
    targets = _output_folders(paths, output) if many and output is not None else {paths[0]: output}
    reports = [_compile_one(path, plugin, targets.get(path), strict, fmt, overrides, many) for path in paths]
    if fmt == "json":
        echo(json.dumps(reports, indent=2))
    return max(r["exit_code"] for r in reports)


def _output_folders(paths: list[Path], output: Path) -> dict[Path, Path]:
    """One folder per spec under `output`, by the file's name (its parent's too where two share a name)."""
    stems = [p.stem for p in paths]
    return {p: output / (p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}-{p.stem}") for p in paths}


def _compile_one(
    path: Path, plugin: Any, output: Optional[Path], strict: bool, fmt: str, overrides: tuple[str, ...], many: bool
) -> dict[str, Any]:
    from .backend import CompileError
    from .spec.loader import load_spec

    report: dict[str, Any] = {
        "file": str(path),
        "backend": plugin.name,
        "ok": False,
        "issues": [],
        "notes": [],
        "written": [],
        "cost": None,
    }

    def said(issues: list[SpecIssue], code: int) -> dict[str, Any]:
        report["issues"] += [i.to_dict() for i in issues]
        if fmt != "json":
            _print_issues(issues, fmt, lambda s: echo(s, err=fmt == "text"))
        report["exit_code"] = code
        if fmt == "text" and many:
            echo(f"{path}: {'compiles' if code == EXIT_OK else 'does not compile'} for {plugin.name}", err=True)
        return report

    try:
        spec = _remember_secrets(load_spec(path, overrides=list(overrides)))
    except SpecError as exc:
        return said(exc.issues, EXIT_INVALID)
    try:
        job = plugin.compile(spec, strict=strict)
    except CompileError as exc:
        return said([spec.locate(i) for i in exc.issues], EXIT_BACKEND)
    report["ok"] = True
    report["notes"] = list(job.notes)
    report["cost"] = job.estimate.to_dict() if job.estimate is not None else None
    if fmt == "text":
        for note in job.notes:
            echo(f"note: {note}", err=True)
    if output:
        folders: dict[Path, int] = {}
        for written in job.write(output):
            report["written"].append(str(written))
            relative = written.relative_to(output) if written.is_relative_to(output) else written
            if len(relative.parts) > 1:  # a job's code folder: one line for it, not one per file
                folders[Path(output) / relative.parts[0]] = folders.get(Path(output) / relative.parts[0], 0) + 1
            elif fmt == "text":
                echo(f"wrote {written}", err=True)
        if fmt == "text":
            for folder, count in folders.items():
                echo(f"wrote {folder}/ ({count} files)", err=True)
    elif not many and fmt == "text":
        echo(job.render(), nl=False)
    return said([spec.locate(i) for i in job.warnings], EXIT_OK)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backends(fmt: str) -> int:
    """List the installed backends."""
    from .registry import available_backends

    found = available_backends()
    if fmt == "json":
        echo(json.dumps(found, indent=2))
    elif not found:
        echo("no backends installed: pip install cloudauto-local")
    else:
        for name, dist in found.items():
            echo(f"{name}\t{dist}")
    return EXIT_OK


# ---- jobs ---------------------------------------------------------------------------------

backend_option = click.option(
    "-b",
    "--backend",
    default="local",
    show_default=True,
    envvar="CLOUDAUTO_BACKEND",
    help="The job's backend (or CLOUDAUTO_BACKEND).",
)


MAX_JOB_ID = 255  # a job id is a file name locally and a resource name in the clouds: none is longer


class NoSuchJob(CloudautoError):
    exit_code = 3


def _job(backend: str, job_id: str):
    from .registry import get_backend

    plugin = get_backend(backend)
    if len(job_id) > MAX_JOB_ID or "/" in job_id or "\x00" in job_id or job_id in ("", ".", ".."):
        shown = job_id if len(job_id) <= 60 else job_id[:57] + "..."
        raise NoSuchJob(f"no {backend} job '{shown}': a job id is a name of at most {MAX_JOB_ID} characters, without '/'")
    return plugin.attach(job_id)


@dataclass
class CIOutputs:
    """What a CI step asked of submit / run: how long to wait, and where the result and the report go."""

    timeout: Optional[float] = None
    cancel_on_timeout: bool = False
    result: Optional[Path] = None
    summary: Optional[Path] = None
    picture: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)
    spec: Any = None  # the spec as loaded: its file, and the secrets it took from the environment
    estimate: Any = None  # the compile's worst-case cost (cloudauto.cost.Estimate), on a backend that bills

    def check(self) -> None:
        """Before anything is submitted: a result or summary that could not be written is said now, not after the job."""
        for target, option in ((self.result, "--result"), (self.summary, "--summary"), (self.picture, "--picture")):
            if target is not None and not target.resolve().parent.is_dir():
                raise click.UsageError(f"{option} {target}: there is no folder {target.resolve().parent}")


def ci_options(command: Callable) -> Callable:
    for option in reversed(
        [
            click.option(
                "--timeout",
                "timeout",
                metavar="DURATION",
                help="Stop waiting after this long (90s, 30m, 2h); the job goes on (exit 6).",
            ),
            click.option(
                "--cancel-on-timeout", is_flag=True, help="With --timeout: cancel the job instead of leaving it running."
            ),
            click.option(
                "--result",
                "result",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the result as JSON here (docs/ci.md).",
            ),
            click.option(
                "--summary",
                "summary",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Append a Markdown report here (default: $GITHUB_STEP_SUMMARY when set).",
            ),
            click.option(
                "--picture",
                type=click.Path(dir_okay=False, path_type=Path),
                help="With a summary: the sweep's PNG (default: <job>.png).",
            ),
        ]
    ):
        command = option(command)
    return command


def _say_hourly(backend: str, name: str) -> None:
    """What the endpoint bills per hour, as `cloudauto endpoints` lists it (a lookup that fails is not the deploy's failure)."""
    from .registry import get_backend

    try:
        info = next((i for i in get_backend(backend).list_endpoints() if i.name == name), None)
    except CloudautoError as exc:
        echo(f"note: the endpoint's hourly cost is not known: {exc}", err=True)
        return
    if info is None:
        return
    if info.usd_per_hour is None:
        echo(
            f"note: {info.instance_count} × {info.instance_type}: no price known "
            f"(set a hosting price in a CLOUDAUTO_PRICES file); it bills until deleted"
            + ("" if info.expires else ": deploy --ttl sets an expiry"),
            err=True,
        )
    else:
        expiry = f"; expires {info.to_dict()['expires']}" if info.expires else "; no expiry (deploy --ttl sets one)"
        echo(f"note: ${info.usd_per_hour:g}/hour ({info.price_source}){expiry}", err=True)


def _duration(option: str, text: Optional[str]) -> Optional[float]:
    from .spec.types import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.UsageError(f"{option} {text}: {exc}") from None


def _ci_outputs(
    timeout: Optional[str],
    cancel_on_timeout: bool,
    result: Optional[Path],
    summary: Optional[Path],
    picture: Optional[Path],
    wait: bool,
) -> CIOutputs:

    if (timeout or cancel_on_timeout) and not wait:
        raise click.UsageError("--timeout and --cancel-on-timeout are for a job cloudauto waits for (--wait, or run)")
    if cancel_on_timeout and not timeout:
        raise click.UsageError("--cancel-on-timeout needs --timeout")
    seconds = _duration("--timeout", timeout)
    if summary is None and os.environ.get("GITHUB_STEP_SUMMARY"):
        summary = Path(os.environ["GITHUB_STEP_SUMMARY"])
    outputs = CIOutputs(seconds, cancel_on_timeout, result, summary, picture)
    outputs.check()
    return outputs


def _finish(job, wait: bool, verb: str = "submitted", ci: Optional[CIOutputs] = None) -> int:
    """Wait for a job (when asked), write the result and the report asked for, and turn the job's end into an exit code."""
    import time

    from .backend import JobStatus

    ci = ci or CIOutputs()
    if verb == "submitted":
        echo(f"job {job.id} submitted to {job.backend}", err=True)
    if not wait:
        echo(job.id)
        _write_ci(job, ci, EXIT_OK)
        return EXIT_OK
    started = time.monotonic()
    detached = canceled = False
    try:
        try:
            status = job.wait(timeout=ci.timeout)
        except TimeoutError:
            if not ci.cancel_on_timeout:
                detached = True
                status = job.status()
                echo(
                    f"cloudauto stopped waiting after {ci.timeout:.0f} s; job {job.id} goes on "
                    f"(cloudauto status {job.id} -b {job.backend})",
                    err=True,
                )
            else:
                echo(f"--timeout: canceling {job.id} ...", err=True)
                job.cancel()
                status = job.wait(progress=False)
                canceled = True
        except KeyboardInterrupt:
            echo(f"\ncanceling {job.id} ...", err=True)
            job.cancel()
            status = job.wait(progress=False)
    except CloudautoError as exc:  # the scheduler is gone: the file says so too
        _write_ci(job, ci, exc.exit_code, waited=time.monotonic() - started)
        raise
    _print_summary(job)
    code = EXIT_STILL_RUNNING if detached else EXIT_OK if status is JobStatus.COMPLETED else EXIT_JOB_FAILED
    _write_ci(job, ci, code, detached=detached, canceled=canceled, waited=time.monotonic() - started)
    return code


def _step_outputs(**values: str) -> None:
    """A GitHub Actions step's outputs (steps.<id>.outputs.job-id ...), where the runner asks for them."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.writelines(f"{key.replace('_', '-')}={value}\n" for key, value in values.items())
    except OSError as exc:
        raise CloudautoError(f"cannot write the step's outputs to $GITHUB_OUTPUT ({target}): {exc.strerror or exc}") from None


def _write_ci(
    job, ci: CIOutputs, code: int, *, detached: bool = False, canceled: bool = False, waited: Optional[float] = None
) -> None:
    _step_outputs(job_id=job.id, backend=job.backend, status=job.status().value)
    if ci.result is None and ci.summary is None:
        return
    from . import run_result

    spec = ci.spec or job.spec
    trials = job.trials()  # once: on a cloud backend each read is a round of service calls
    result = run_result.build(
        job,
        trials=trials,
        spec_file=spec.source,
        estimate=ci.estimate,
        exit_code=code,
        warnings=ci.warnings,
        detached=detached,
        canceled_on_timeout=canceled,
        waited_s=waited,
        planned=_planned(job),
    )
    if ci.result is not None:
        echo(f"wrote {run_result.write(result, ci.result, spec=spec)}", err=True)
    if ci.summary is not None:
        from .report import sweep_png
        from .summary import append, markdown

        picture = sweep_png(job, ci.picture or Path(f"{job.id}.png")) if trials else None
        echo(f"wrote the summary to {append(ci.summary, markdown(result, trials, picture=picture), spec=spec)}", err=True)


def _status_line(job) -> str:
    """`<id>: <status> (<why>)`: what the job is doing, with the reason when the backend knows one."""
    reason = job.status_reason()
    return f"{job.id}: {job.status().value}" + (f" ({reason})" if reason else "")


def _print_failures(job, trials=None) -> None:
    from .report import failure_groups

    for line in failure_groups(job.trials() if trials is None else trials):
        echo(f"  {line}", err=True)


def _print_summary(job) -> None:
    from .report import leaderboard_text

    echo(f"job {_status_line(job)}")
    echo(leaderboard_text(job))
    _print_failures(job)
    best = job.best_trial()
    if best is not None:
        scores = ", ".join(f"{k}={v:.4g}" for k, v in best.scores.items() if isinstance(v, (int, float)))
        echo(
            f"best trial: {best.number} {job.spec.objective.name}={best.objective:.4g} {best.params}"
            + (f" ({scores})" if scores else "")
        )
        _say_test_set(best)


def _say_test_set(best) -> None:
    from .run_result import test_set_note

    note = test_set_note(best)
    if note:
        echo(f"warning: {note}", err=True)


def _ended_badly(status) -> bool:
    from .backend import JobStatus

    return status in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.INTERRUPTED)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@backend_option
@set_option
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: run trials as processes or in containers.")
@ci_options
def run(file: Path, backend: str, overrides: tuple[str, ...], strict: bool, mode: Optional[str], **ci: Any) -> int:
    """Submit a spec and wait for it (Ctrl-C cancels the job)."""
    outputs = _ci_outputs(wait=True, **ci)
    spec = _load_or_exit(file, _with_mode(overrides, backend, mode))
    return _submit_located(spec, backend, strict=strict, wait=True, ci=outputs)


def _with_mode(overrides: tuple[str, ...], backend: str, mode: Optional[str]) -> tuple[str, ...]:
    if mode is None:
        return overrides
    if backend != "local":
        raise click.UsageError(f"--mode is for the local backend, not {backend}")
    return (*overrides, f"backends.local.mode={mode}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@backend_option
@set_option
@click.option("--wait", is_flag=True, help="Wait for the job and print its leaderboard.")
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: run trials as processes or in containers.")
@ci_options
def submit(file: Path, backend: str, overrides: tuple[str, ...], wait: bool, strict: bool, mode: Optional[str], **ci: Any) -> int:
    """Submit a spec; print the job id (or wait with --wait)."""
    outputs = _ci_outputs(wait=wait, **ci)
    spec = _load_or_exit(file, _with_mode(overrides, backend, mode))
    return _submit_located(spec, backend, strict=strict, wait=wait, ci=outputs)


def _submit_located(spec: Any, backend: str, *, strict: bool, wait: bool, ci: Optional[CIOutputs] = None) -> int:
    """Submit; a spec the backend cannot express is reported as compile reports it, at its file and line."""
    from .api import submit as submit_job
    from .backend import CompileError
    from .registry import get_backend

    ci = ci or CIOutputs()
    try:
        compiled = get_backend(backend).compile(spec, strict=strict)
    except CompileError as exc:
        _print_issues([spec.locate(i) for i in exc.issues], "text", lambda s: echo(s, err=True))
        return exc.exit_code
    ci.warnings, ci.spec, ci.estimate = [str(spec.locate(w)) for w in compiled.warnings], spec, compiled.estimate
    for warning in ci.warnings:
        echo(warning, err=True)
    try:
        job = submit_job(spec, backend, strict=strict, compiled=compiled)
    except CompileError as exc:  # also the data check (exit 1: the spec does not fit its data)
        _print_issues([spec.locate(i) for i in exc.issues], "text", lambda s: echo(s, err=True))
        return exc.exit_code
    return _finish(job, wait=wait, ci=ci)


def _load_or_exit(file: Path, overrides: tuple[str, ...]):
    from .spec.loader import load_spec

    return _remember_secrets(load_spec(file, overrides=list(overrides)))


@main.command()
@click.argument("job_id")
@backend_option
def status(job_id: str, backend: str) -> int:
    """A job's state, why, and its progress; exit 4 when it failed, was canceled or its scheduler is gone."""
    job = _job(backend, job_id)
    trials = job.trials()
    status_ = job.status()
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.status.value] = counts.get(trial.status.value, 0) + 1
    echo(f"{_status_line(job)}; {len(trials)}/{_planned(job)} trials " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    _print_failures(job, trials)
    best = job.best_trial()
    if best is not None:
        echo(f"best: trial {best.number} {job.spec.objective.name}={best.objective:.6g}")
        _say_test_set(best)
    return EXIT_JOB_FAILED if _ended_badly(status_) else EXIT_OK


def _planned(job) -> int:
    """How many trials the job will run: max_trials, or fewer where the grid has fewer points."""
    spec = job.spec
    if spec.sweep is not None and spec.sweep.sampling.value == "grid" and spec.space.is_discrete:
        return min(spec.max_trials, _grid_size(spec))
    return spec.max_trials


def _grid_size(spec) -> int:
    from .tuning.samplers import make_sampler

    return make_sampler(spec).size


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def trials(job_id: str, backend: str, fmt: str) -> int:
    """The trials of a job: parameters, status, objective, steps, duration."""
    job = _job(backend, job_id)
    rows = job.trials()
    maximize = job.spec.objective.goal.value == "maximize"

    def reported(t: Any) -> Optional[float]:
        """The best value an unscored trial reported (an interrupted one's, say): shown, marked, never its objective."""
        finite = [m.value for m in t.metrics if math.isfinite(m.value)]
        if t.objective is not None or not finite:
            return None
        return max(finite) if maximize else min(finite)

    if _ended_badly(job.status()) and fmt == "text":
        echo(f"job {_status_line(job)}", err=True)
    if fmt == "json":
        echo(
            json.dumps(
                [
                    {
                        "trial": t.number,
                        "status": t.status.value,
                        "params": t.params,
                        "objective": t.objective,
                        "best_reported": reported(t),
                        "steps": [[m.step, m.value] for m in t.metrics],
                        "duration_s": t.duration,
                        "error": t.error,
                        "scores": t.scores,
                    }
                    for t in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    name = job.spec.objective.name
    echo(f"{'trial':>5}  {'status':<10} {name:>12}  {'steps':>5}  {'seconds':>8}  params / note")
    marked = False
    for t in rows:
        best = reported(t)
        value = f"{t.objective:.6g}" if t.objective is not None else f"{best:.6g}*" if best is not None else "-"
        marked = marked or best is not None
        seconds = f"{t.duration:.1f}" if t.duration is not None else "-"
        note = f"  ({t.error})" if t.error else ""
        echo(f"{t.number:>5}  {t.status.value:<10} {value:>12}  {len(t.metrics):>5}  {seconds:>8}  {t.params}{note}")
    if marked:
        echo(f"* the best {name} the trial reported before it stopped, not a final score")
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
def leaderboard(job_id: str, backend: str) -> int:
    """Trials ranked by the objective."""
    from .report import leaderboard_text

    echo(leaderboard_text(_job(backend, job_id)))
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
def best(job_id: str, backend: str) -> int:
    """The best trial as JSON."""
    job = _job(backend, job_id)
    trial = job.best_trial()
    if trial is None:
        status_ = job.status()
        if status_.is_final or _ended_badly(status_):
            echo(f"job {_status_line(job)}: no trial has a result", err=True)
            _print_failures(job)
        else:
            echo(f"job {job.id} is {status_.value}: no trial has a result yet", err=True)
        return EXIT_JOB_FAILED
    echo(
        json.dumps(
            {
                "trial": trial.number,
                "objective": trial.objective,
                "metric": job.spec.objective.name,
                "params": trial.params,
                "scores": trial.scores,
                "artifacts": trial.artifacts,
            },
            indent=2,
        )
    )
    _say_test_set(trial)
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--trial", "trial", type=int, help="A trial's log (default: the scheduler's).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing as the log grows, until the job ends.")
def logs(job_id: str, backend: str, trial: Optional[int], follow: bool) -> int:
    """Print a job's or a trial's log."""
    import time

    from .backend import JobStatus

    job = _job(backend, job_id)
    text = job.logs(trial)
    echo(text, nl=False)
    status_ = job.status()
    while follow and not status_.is_final and status_ is not JobStatus.INTERRUPTED:  # a job without its scheduler never ends
        time.sleep(1)
        more = job.logs(trial)
        echo(more[len(text) :], nl=False)
        text = more
        status_ = job.status()
    if follow:
        echo(job.logs(trial)[len(text) :], nl=False)
        if status_ is JobStatus.INTERRUPTED:
            echo(f"job {_status_line(job)}", err=True)
            return EXIT_JOB_FAILED
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
def cancel(job_id: str, backend: str) -> int:
    """Cancel a job: running trials are stopped, no new ones start."""
    job = _job(backend, job_id)
    said = job.cancel()  # the local backend says what it did (a job without its scheduler is ended at once)
    echo(said if isinstance(said, str) else f"cancel requested for {job.id}")
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--wait/--no-wait", default=True, show_default=True)
def resume(job_id: str, backend: str, wait: bool) -> int:
    """Finish a job whose scheduler was stopped; finished trials are kept, none is repeated."""
    from .backend import NothingToResume
    from .registry import get_backend

    try:
        job = get_backend(backend).resume(job_id)
    except NothingToResume as exc:  # an ended job: said, and left as it is
        echo(str(exc), err=True)
        return exc.exit_code
    echo(f"job {job.id} resumed", err=True)
    return _finish(job, wait=wait, verb="resumed")


@main.command()
@backend_option
def runs(backend: str) -> int:
    """List the jobs a backend knows of (the local run store)."""
    from .registry import get_backend

    for job in get_backend(backend).jobs():
        try:
            trials = job.trials()
            done = sum(1 for t in trials if t.status.is_final)
            best = job.best_trial(trials)
            best_text = f"best {job.spec.objective.name}={best.objective:.4g}" if best else ""
            status_ = job.status()
            state = status_.value + (f" ({job.status_reason()})" if status_.value == "interrupted" else "")
            line = f"{job.id}\t{state}\t{done}/{_planned(job)} trials\t{best_text}"
        except CloudautoError as exc:  # one broken store does not hide the other jobs
            line = f"{job.id}\tbroken ({exc})"
        echo(line)
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="A .png file, or a folder for <job>.png (default: <job>.png here)."
)
def report(job_id: str, backend: str, output: Optional[Path]) -> int:
    """Write a PNG of the sweep (metric per trial over steps) and print the leaderboard."""
    from .report import leaderboard_text, sweep_png

    if output is not None and not output.is_dir():
        if not output.suffix:  # `-o rep/` or `-o rep`: a folder was meant
            raise click.UsageError(f"-o {output}: there is no folder {output.resolve()}; create it, or name a .png file")
        if output.suffix.lower() != ".png":
            raise click.UsageError(f"-o {output}: the report is a PNG; name a .png file or a folder")
        if not output.resolve().parent.is_dir():
            raise click.UsageError(f"-o {output}: there is no folder {output.resolve().parent}")
    job = _job(backend, job_id)
    target = output / f"{job.id}.png" if output is not None and output.is_dir() else output or Path(f"{job.id}.png")
    try:
        path = sweep_png(job, target)
    except OSError as exc:
        raise CloudautoError(f"cannot write {target}: {exc.strerror or exc}") from None
    echo(leaderboard_text(job))
    echo(f"wrote {path}", err=True)
    return EXIT_OK


# ---- endpoints ------------------------------------------------------------------------------


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--name", help="Endpoint name (default: the spec's name).")
@click.option("--trial", "trial", type=click.IntRange(min=0), help="Serve this trial's model (default: the best trial's).")
@click.option("--port", type=int, help="Local port (default: a free one).")
@click.option("--key", envvar="CLOUDAUTO_ENDPOINT_KEY", help="Require this bearer key (or CLOUDAUTO_ENDPOINT_KEY).")
@click.option("--instance-type", help="Cloud backends: the serving instance type (default: CPU, or GPU for image tasks).")
@click.option("--serverless", is_flag=True, help="SageMaker: a serverless endpoint (billed per request, no instance).")
@click.option("--memory", "memory_mb", type=int, help="SageMaker serverless: memory in MB (1024-6144 in steps of 1024; 4096).")
@click.option("--max-concurrency", type=int, help="SageMaker serverless: requests served at once (1-200; default 5).")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: serve in a process or a container.")
@click.option("--image", help="Local docker mode: the serving image (default: the job's image).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Local backend: model copies in worker processes, each request to a free one (default 1).",
)
@click.option(
    "--result",
    "result",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add the endpoint to this result file (written by submit/run --result), or write one.",
)
@click.option(
    "--ttl", metavar="DURATION", help="Expire after this long (8h, 30m): tagged, and listed by cloudauto endpoints --expired."
)
def deploy(
    job_id: str,
    backend: str,
    name: Optional[str],
    trial: Optional[int],
    port: Optional[int],
    key: Optional[str],
    instance_type: Optional[str],
    serverless: bool,
    memory_mb: Optional[int],
    max_concurrency: Optional[int],
    mode: Optional[str],
    image: Optional[str],
    workers: Optional[int],
    result: Optional[Path],
    ttl: Optional[str],
) -> int:
    """Serve the best trial's model; print the endpoint's name and URL."""
    local_only = {"port": port, "key": key if backend == "local" else None, "mode": mode, "image": image, "workers": workers}
    cloud_only = {"instance_type": instance_type}
    serverless_options = {"serverless": serverless or None, "memory_mb": memory_mb, "max_concurrency": max_concurrency}
    given = [f"--{k.replace('_mb', '').replace('_', '-')}" for k, v in serverless_options.items() if v is not None]
    if given and backend != "sagemaker":
        raise click.UsageError(f"{', '.join(given)} is for SageMaker serverless endpoints, not the {backend} backend")
    cloud_only.update({k: v for k, v in serverless_options.items() if v is not None})
    wrong = [
        f"--{k.replace('_', '-')}"
        for k, v in (cloud_only if backend == "local" else {"port": port, "workers": workers}).items()
        if v is not None
    ]
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to the {backend} backend")
    if name is not None:
        _check_endpoint_name(backend, name)
    job = _job(backend, job_id)
    options = {
        k: v for k, v in {**local_only, **cloud_only, "trial": trial, "ttl": _duration("--ttl", ttl)}.items() if v is not None
    }
    if result is not None and not result.resolve().parent.is_dir():
        raise click.UsageError(f"--result {result}: there is no folder {result.resolve().parent}")
    endpoint = job.deploy(name=name, **options)
    echo(f"{endpoint.name}\t{getattr(endpoint, 'url', '')}")
    _say_hourly(backend, endpoint.name)
    _step_outputs(endpoint=endpoint.name)
    if result is not None:
        from . import run_result

        earlier = run_result.read(result) if result.exists() else None
        if earlier is not None and earlier.job.id != job.id:
            raise CloudautoError(
                f"--result {result} is the result of job {earlier.job.id}, not {job.id}; the endpoint was deployed"
            )
        base = earlier or run_result.build(job, exit_code=EXIT_OK, planned=_planned(job))
        echo(f"wrote {run_result.write(run_result.with_endpoint(base, endpoint), result, spec=job.spec)}", err=True)
    return EXIT_OK


def _check_endpoint_name(backend: str, name: str) -> None:
    """`--name` as the backend's own rule takes it, before any job is read: a usage error (64), not an endpoint failure."""
    import importlib

    from .registry import get_backend

    package = type(get_backend(backend)).__module__.rsplit(".", 1)[0]
    try:
        endpoint = importlib.import_module(f"{package}.endpoint")
    except ImportError:
        return
    checker = getattr(endpoint, "check_name", None)
    if checker is not None:
        try:
            checker(name)
        except CloudautoError as exc:
            raise click.UsageError(f"--name {exc}") from None
        return
    pattern = getattr(endpoint, "_NAME", None)
    if pattern is not None and not pattern.match(name):
        rule = _ENDPOINT_NAME_RULES.get(backend, "letters, digits and hyphens")
        raise click.UsageError(f"--name {name!r}: not an endpoint name; {rule}")


_ENDPOINT_NAME_RULES = {
    "sagemaker": "SageMaker takes 1-63 letters, digits and hyphens",
    "azureml": "Azure ML takes 3-32 letters, digits and hyphens, starting with a letter",
}


def _check_batch_paths(source: Path, output: Path) -> None:
    """predict's input and -o as a usage question (64), before any job is read or batch started."""
    from .backend import BatchError
    from .runtime.batch_io import input_files, output_path

    if output.is_dir():
        raise click.UsageError(f"-o {output}: is a folder; name the output file (a .csv or .parquet file)")
    if not output.resolve().parent.is_dir():
        raise click.UsageError(f"-o {output}: there is no folder {output.resolve().parent}")
    try:
        out = output_path(output)
        files = input_files(source)
    except BatchError as exc:
        raise click.UsageError(str(exc)) from None
    if out in files:
        raise click.UsageError(f"-o {output} is also an input: name another output file, or the input would be overwritten")


@main.command()
@click.argument("job_id")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The output file (.csv or .parquet).")
@backend_option
@click.option("--trial", "trial", type=click.IntRange(min=0), help="Score with this trial's model (default: the best).")
@click.option("--probabilities", is_flag=True, help="Each class's probability too (proba_<class> columns).")
@click.option("--chunk-rows", type=click.IntRange(min=1), help="Local and Azure ML: rows per chunk (default 100000).")
@click.option("--workers", type=click.IntRange(min=1), help="Local backend: worker processes (default 2, or 1 on one core).")
@click.option("--instance-type", help="Cloud backends: the instance type that scores (default: CPU).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the batch to its end.")
def predict(
    job_id: str,
    input: Path,
    output: Path,
    backend: str,
    trial: Optional[int],
    probabilities: bool,
    chunk_rows: Optional[int],
    workers: Optional[int],
    instance_type: Optional[str],
    wait: bool,
) -> int:
    """Score a file (CSV, Parquet, or a folder of them) with a job's model, without an endpoint.

    Running the same command again after an interruption carries on from the chunks written.
    """
    if backend != "local" and workers:
        raise click.UsageError(f"--workers does not apply to the {backend} backend")
    if backend == "sagemaker" and chunk_rows:
        raise click.UsageError("--chunk-rows does not apply to SageMaker (it splits the input into lines itself)")
    if backend != "sagemaker" and instance_type:
        raise click.UsageError(f"--instance-type does not apply to the {backend} backend")
    if backend == "azureml" and not wait:  # the reader's manifest lives in this process: nothing could pick it up later
        raise click.UsageError("--no-wait: an Azure ML batch is read back by the command that started it; let it wait")
    _check_batch_paths(input, output)  # before a batch is started, not after
    job = _job(backend, job_id)
    job.refuse_forecasting_batch()
    chosen = {"trial": trial, "chunk_rows": chunk_rows, "workers": workers, "instance_type": instance_type}
    options = {k: v for k, v in chosen.items() if v is not None}
    batch = job.predict_batch(input, output, probabilities=probabilities, **options)
    echo(f"batch {batch.id}: {batch.status().value} -> {batch.output}", err=True)
    if not wait:
        echo(batch.id)
        return EXIT_OK
    status = batch.wait()
    failures = batch.failures()
    for failure in failures[:10]:
        echo(f"{failure.where}: {failure.reason}", err=True)
    if len(failures) > 10:
        echo(f"... and {_plural(len(failures) - 10, 'more row')}", err=True)
    reason = _batch_summary(batch, status.value, len(failures))
    echo(f"batch {batch.id}: {status.value}" + (f" ({reason})" if reason else ""), err=True)
    return EXIT_OK if status.value == "completed" and not failures else EXIT_JOB_FAILED



def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _batch_summary(batch: Any, status: str, failed: int) -> str:
    """The batch's own reason; for a service's completed batch (whose status says nothing of rows) the counts of the file written."""
    reason = batch.status_reason() or ""
    if reason or status != "completed":
        return reason
    from .runtime.batch_io import FAILURES_SUFFIX

    rows = batch.expected_rows() if hasattr(batch, "expected_rows") else None
    scored = f"{_plural(rows - failed, 'row')} scored into {batch.output}" if rows is not None else f"written to {batch.output}"
    return scored + (f"; {_plural(failed, 'row')} failed (see {batch.output}{FAILURES_SUFFIX})" if failed else "")


@main.command(name="mlflow")
@click.argument("job_id")
@click.option("--tracking-uri", required=True, help="A folder, a file:// or sqlite:/// URI, or an MLflow server.")
@click.option("--experiment", help="The MLflow experiment (default: the spec's name).")
def mlflow_(job_id: str, tracking_uri: str, experiment: Optional[str]) -> int:
    """Record a local job in MLflow: a parent run, a child run per trial (again later: brought up to date)."""
    job = _job("local", job_id)
    from cloudauto_local.mlflow_export import export
    from cloudauto_local.mlflow_export import tracking_uri as resolved

    uri = resolved(tracking_uri, os.getcwd())
    parent = export(job, uri, experiment)
    echo(f"{parent}\t{uri}")
    return EXIT_OK


@main.command()
@click.argument("endpoint_name")
@click.argument("data", type=click.Path(path_type=Path))
@backend_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the predictions here: .parquet as Parquet, anything else as CSV (JSON for images).",
)
@click.option(
    "--draw",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Object detection: draw the returned boxes over the image as this PNG.",
)
@click.option("--min-score", type=float, default=0.0, show_default=True, help="With --draw: leave out boxes scored below this.")
@click.option(
    "--probabilities", is_flag=True, help="Classification: each class's probability too (proba_<class> columns beside the label)."
)
def score(
    endpoint_name: str,
    data: Path,
    backend: str,
    output: Optional[Path],
    draw: Optional[Path],
    min_score: float,
    probabilities: bool,
) -> int:
    """Score a CSV, Parquet, JSON (records) or JSON-lines file (or an image, on image endpoints); print the predictions.

    A row with more or fewer fields than the header, or no values, is refused naming its row
    (from 0 after the header) and its line in the file; so is a file without rows (exit 5).
    """
    import json

    from .registry import get_backend

    if not data.is_file():
        raise click.UsageError(f"{data}: no such file")
    for target, option in ((output, "--output"), (draw, "--draw")):  # before scoring, not after it
        if target is not None and not target.resolve().parent.is_dir():
            raise click.UsageError(f"{option} {target}: there is no folder {target.resolve().parent}")
    endpoint = get_backend(backend).endpoint(endpoint_name)
    if probabilities and "probabilities" not in inspect.signature(endpoint.score).parameters:
        raise click.UsageError(f"--probabilities: a {backend} endpoint returns the predicted labels only in this version")
    predictions = endpoint.score(data, probabilities=True) if probabilities else endpoint.score(data)
    parquet = output is not None and output.suffix.lower() in (".parquet", ".pq")
    if hasattr(predictions, "to_csv"):
        if draw:
            raise click.UsageError("--draw takes an image scored against an object-detection endpoint")
        text = predictions.to_csv(index=False)
        if parquet:
            return _write_parquet(predictions, output, text)
    else:
        text = json.dumps(predictions, indent=2) + "\n"
        if draw:
            from .vision import draw_boxes

            echo(f"wrote {draw_boxes(data, predictions, draw, min_score=min_score)}", err=True)
    if output:
        try:
            output.write_text(text)
        except OSError as exc:  # the predictions are not lost: printed instead
            echo(text, nl=False)
            raise CloudautoError(f"cannot write {output} ({exc.strerror}); the predictions are printed above") from None
        echo(f"wrote the predictions to {output}", err=True)
    else:
        echo(text, nl=False)
    return EXIT_OK


def _write_parquet(predictions: Any, output: Path, text: str) -> int:
    """The predictions as a Parquet file, written whole (a temporary file renamed into place)."""
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        predictions.to_parquet(tmp, index=False)
        os.replace(tmp, output)
    except (OSError, ValueError) as exc:  # the predictions are not lost: printed instead
        tmp.unlink(missing_ok=True)
        echo(text, nl=False)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CloudautoError(f"cannot write {output} ({why}); the predictions are printed above") from None
    echo(f"wrote the predictions to {output} (Parquet)", err=True)
    return EXIT_OK


@main.command()
@click.option(
    "-b", "--backend", "backends_", multiple=True, help="Only these backends (repeatable; default: every installed one)."
)
@click.option("--expired", is_flag=True, help="Only the endpoints whose --ttl has passed.")
@click.option("--delete", is_flag=True, help="With --expired: delete them, and print what was removed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def endpoints(backends_: tuple[str, ...], expired: bool, delete: bool, fmt: str) -> int:
    """The live endpoints cloudauto deployed, on every installed backend: age, instances, hourly cost, expiry."""
    import time

    from .backend import NotSupportedError
    from .endpoints import table
    from .registry import available_backends, get_backend

    if delete and not expired:
        raise click.UsageError("--delete removes expired endpoints only: add --expired (delete-endpoint NAME removes one)")
    names = list(backends_) or sorted(available_backends())
    now, found, failed = time.time(), [], 0
    for name in names:
        try:
            found += get_backend(name).list_endpoints()
        except NotSupportedError:
            continue
        except CloudautoError as exc:  # one backend without credentials does not hide the others
            if backends_:
                raise
            failed += 1
            echo(f"{name}: cannot list endpoints: {exc}", err=True)
    if expired:
        found = [info for info in found if info.expired(now)]
    if fmt == "json":
        echo(json.dumps([info.to_dict(now) for info in found], indent=2))
    elif found:
        echo(table(found, now))
    else:
        echo("no expired endpoints" if expired else "no endpoints", err=True)
    if delete:
        for info in found:
            endpoint = get_backend(info.backend).endpoint(info.name)
            if info.backend == "local":
                endpoint.delete(why="expired (deploy --ttl), removed by cloudauto endpoints --expired --delete")
            else:
                endpoint.delete()
            echo(f"deleted {info.name} ({info.backend}, expired at {info.to_dict(now)['expires']})", err=True)
    return EXIT_OK


@main.command(name="delete-endpoint")
@click.argument("endpoint_name")
@backend_option
def delete_endpoint(endpoint_name: str, backend: str) -> int:
    """Stop an endpoint and forget it."""
    from .backend import EndpointGone
    from .registry import get_backend

    try:
        endpoint = get_backend(backend).endpoint(endpoint_name)
    except EndpointGone as exc:  # deleted before: what was asked holds (exit 0)
        echo(f"endpoint '{endpoint_name}' was already deleted {exc.when}; nothing to do", err=True)
        return EXIT_OK
    endpoint.delete()
    echo(f"deleted {endpoint_name}")
    return EXIT_OK


__all__ = ["main"]
