"""Commands on jobs: run, submit, and reading, resuming, canceling and exporting a job."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError
from .app import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    _job,
    _print_issues,
    _remember_secrets,
    backend_option,
    chosen_backend,
    echo,
    main,
    set_option,
    submit_backend_option,
)
from .outcome import (
    CIOutputs,
    _ci_outputs,
    _ended_badly,
    _finish,
    _planned,
    _print_failures,
    _say_test_set,
    _status_line,
    ci_options,
)

no_preflight_option = click.option(
    "--no-preflight",
    is_flag=True,
    help="Skip the checks of credentials, role, bucket, quotas and images made before anything is uploaded.",
)
detach_option = click.option(
    "--detach-on-interrupt",
    is_flag=True,
    help="Ctrl-C stops waiting and leaves the job running (exit 6); without it, Ctrl-C cancels the job.",
)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@submit_backend_option
@set_option
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: run trials as processes or in containers.")
@no_preflight_option
@detach_option
@ci_options
def run(
    file: Path,
    backend: Optional[str],
    overrides: tuple[str, ...],
    strict: bool,
    mode: Optional[str],
    no_preflight: bool,
    detach_on_interrupt: bool,
    **ci: Any,
) -> int:
    """Submit a spec and wait for it (Ctrl-C cancels the job; with --detach-on-interrupt it leaves it running)."""
    outputs = _ci_outputs(wait=True, **ci)
    spec, backend = _load_for_submit(file, overrides, backend, mode)
    return _submit_located(
        spec, backend, strict=strict, wait=True, ci=outputs, preflight=not no_preflight, detach_on_interrupt=detach_on_interrupt
    )


def _load_for_submit(file: Path, overrides: tuple[str, ...], given: Optional[str], mode: Optional[str]) -> tuple[Any, str]:
    """The spec and the backend it goes to (--backend > CLOUDAUTO_BACKEND > the spec's backend: > local)."""
    if mode is not None and given not in (None, "local"):
        raise click.UsageError(f"--mode is for the local backend, not {given}")
    spec = _load_or_exit(file, (*overrides, f"backends.local.mode={mode}") if mode else overrides)
    backend = chosen_backend(given, spec)
    if mode is not None and backend != "local":
        raise click.UsageError(f"--mode is for the local backend, not {backend} (the spec's backend:)")
    return spec, backend


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@submit_backend_option
@set_option
@click.option("--wait", is_flag=True, help="Wait for the job and print its leaderboard.")
@click.option("--strict", is_flag=True, help="Fail where the backend would only approximate the spec.")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: run trials as processes or in containers.")
@no_preflight_option
@detach_option
@ci_options
def submit(
    file: Path,
    backend: Optional[str],
    overrides: tuple[str, ...],
    wait: bool,
    strict: bool,
    mode: Optional[str],
    no_preflight: bool,
    detach_on_interrupt: bool,
    **ci: Any,
) -> int:
    """Submit a spec; print the job id (or wait with --wait)."""
    if detach_on_interrupt and not wait:
        raise click.UsageError("--detach-on-interrupt is for a job cloudauto waits for (--wait, or run)")
    outputs = _ci_outputs(wait=wait, **ci)
    spec, backend = _load_for_submit(file, overrides, backend, mode)
    return _submit_located(
        spec, backend, strict=strict, wait=wait, ci=outputs, preflight=not no_preflight, detach_on_interrupt=detach_on_interrupt
    )


def _submit_located(
    spec: Any,
    backend: str,
    *,
    strict: bool,
    wait: bool,
    ci: Optional[CIOutputs] = None,
    preflight: bool = True,
    detach_on_interrupt: bool = False,
) -> int:
    """Submit; a spec the backend cannot express is reported as compile reports it, at its file and line."""
    from ..api import submit as submit_job
    from ..backend import CompileError
    from ..registry import get_backend

    ci = ci or CIOutputs()
    _refresh_price(get_backend(backend), spec)
    try:
        compiled = get_backend(backend).compile(spec, strict=strict)
    except CompileError as exc:
        _print_issues([spec.locate(i) for i in exc.issues], "text", lambda s: echo(s, err=True))
        return exc.exit_code
    ci.warnings, ci.spec, ci.estimate = [str(spec.locate(w)) for w in compiled.warnings], spec, compiled.estimate
    for warning in ci.warnings:
        echo(warning, err=True)
    if not preflight:
        echo(
            f"preflight: skipped (--no-preflight): the {backend} service checks the role, quotas and images after the upload",
            err=True,
        )
    said = len(compiled.warnings)
    try:
        job = submit_job(spec, backend, strict=strict, compiled=compiled, preflight=preflight)
    except CompileError as exc:  # also the data check (exit 1: the spec does not fit its data)
        _print_issues([spec.locate(i) for i in exc.issues], "text", lambda s: echo(s, err=True))
        return exc.exit_code
    for warning in compiled.warnings[said:]:  # the data check's (an identifier column that should be ignored)
        ci.warnings.append(str(spec.locate(warning)))
        echo(ci.warnings[-1], err=True)
    return _finish(job, wait=wait, ci=ci, detach_on_interrupt=detach_on_interrupt)


def _refresh_price(plugin: Any, spec: Any) -> None:
    """submit is online anyway: a missing or stale cached price of the job's one instance type is read again first, and said.

    Without the network the line says so and the job goes on with the price known so far (or none).
    """
    from ..cost import lookup
    from ..prices import refresh

    basis = plugin.cost_basis(spec)
    if basis is None or basis.price_override is not None or not basis.instance_type:
        return
    known = lookup(basis.backend, basis.kind, basis.instance_type, basis.region)
    if known is not None and not known.stale:  # the spec's, CLOUDAUTO_PRICES' or a fresh cached price
        return
    said = refresh(basis.backend, basis.kind, basis.instance_type, basis.region)
    if said:
        echo(said, err=True)


def _load_or_exit(file: Path, overrides: tuple[str, ...]):
    from ..spec.loader import load_spec

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


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--trial", "number", type=click.IntRange(min=0), help="One trial (with --models or --importance).")
@click.option("--models", is_flag=True, help="The trial's AutoGluon leaderboard: every model it fit, score and fit time.")
@click.option("--importance", is_flag=True, help="The trial's permutation feature importance (autogluon.feature_importance).")
@click.option("--all", "with_parents", is_flag=True, help="Also the warm start's parent trials (PARENT#n), which never run here.")
def trials(
    job_id: str, backend: str, fmt: str, number: Optional[int], models: bool, importance: bool, with_parents: bool
) -> int:
    """The trials of a job: parameters, status, objective (and the spec's other metrics), steps, duration."""
    if (models or importance) and number is None:
        raise click.UsageError("--models and --importance show one trial: give --trial N")
    if models and importance:
        raise click.UsageError("--models or --importance, one at a time")
    job = _job(backend, job_id)
    parents = job.parent_trials() if with_parents and number is None else []
    rows = [*parents, *job.trials()]
    if number is not None:
        rows = [t for t in rows if t.number == number] or [job.trial(number)]  # none: NoSuchTrial lists them (exit 3)
        rows = [job.trial_details(rows[0])]
        if models or importance:
            from .trial_files import show_trial_file

            return show_trial_file(job, rows[0], "models" if models else "importance", fmt)
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
                        **({"parent": t.id.rsplit("#", 1)[0]} if t in parents else {}),
                        "status": t.status.value,
                        "params": t.params,
                        "objective": t.objective,
                        "best_reported": reported(t),
                        "steps": [[m.step, m.value] for m in t.metrics],
                        "duration_s": t.duration,
                        "error": t.error,
                        "retries": t.retries,
                        **_figures(job.spec, t),
                        "scores": t.scores,
                    }
                    for t in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    name = job.spec.objective.name
    others = [m.name for m in job.spec.extra_metrics]  # on validation data, as the objective is
    extra_head = "".join(f" {m:>12}" for m in others)
    echo(f"{'trial':>5}  {'status':<10} {name:>12}{extra_head}  {'steps':>5}  {'seconds':>8}  params / note")
    marked = False
    objectives = [t.objective if t.objective is not None else reported(t) for t in rows]
    shown = _column(objectives)
    validation = [[_figures(job.spec, t)["metrics"].get(m, {}).get("validation") for t in rows] for m in others]
    columns = [_column(values) for values in validation]
    for i, t in enumerate(rows):
        best = reported(t)
        value = shown[i] + ("*" if best is not None else "")
        marked = marked or best is not None
        seconds = f"{t.duration:.1f}" if t.duration is not None else "-"
        notes = [*([f"retried {t.retries}×: limits.trial_retries"] if t.retries else []), *([t.error] if t.error else [])]
        note = f"  ({'; '.join(notes)})" if notes else ""
        extra = "".join(f" {column[i]:>12}" for column in columns)
        label = t.id if t in parents else str(t.number)
        echo(f"{label:>5}  {t.status.value:<10} {value:>12}{extra}  {len(t.metrics):>5}  {seconds:>8}  {t.params}{note}")
    if number is not None:
        _say_positive_class(job.spec, rows[0])
    if marked:
        echo(f"* the best {name} the trial reported before it stopped, not a final score")
    if parents:
        echo(f"PARENT#n: a trial of a warm start's parent job ({len(parents)} in all); it informed this sweep and did not run here")
    return EXIT_OK


def _figure(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "-"


def _column(values: list[Any]) -> list[str]:
    """A column of figures with one number of decimals (0.000000 beside 0.583333, not 0), as the leaderboard prints
    them: as many as the most precise value needs at 6 significant digits; very large or small values keep %.6g."""
    numbers = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not numbers or any(v != 0 and not 1e-4 <= abs(v) < 1e6 for v in numbers):
        return [_figure(v) for v in values]
    decimals = max(len(f"{v:.6g}".partition(".")[2]) for v in numbers)
    return [f"{v:.{decimals}f}" if isinstance(v, (int, float)) and math.isfinite(v) else _figure(v) for v in values]


def _figures(spec: Any, trial: Any) -> dict[str, Any]:
    """What `trials` and `best` show of a trial's results, in one shape: the primary metric and each of the spec's
    `metrics:` by data ({name: {validation, test}}), and the positive class a binary trial scored them for."""
    from ..run_result import best_metrics

    shown: dict[str, Any] = {"metrics": best_metrics(spec, trial)}
    if trial.positive_class is not None:
        shown["positive_class"] = trial.positive_class
    return shown


def _say_positive_class(spec: Any, trial: Any) -> None:
    """One line under a binary trial: the class its f1, precision and recall are about (the spec's, or AutoGluon's pick)."""
    if trial.positive_class is None:
        return
    from ..spec.metrics import POSITIVE_CLASS_METRICS, lookup

    metrics = (spec.objective, *(lookup(m, spec.task) for m in spec.metrics))
    scored = [m.name for m in metrics if m.autogluon in POSITIVE_CLASS_METRICS]
    scored = scored or ["f1", "precision", "recall"]
    about = f"{', '.join(scored)} score{'s' if len(scored) == 1 else ''} this class"
    chosen = "autogluon.positive_class" if spec.autogluon and spec.autogluon.positive_class is not None else "AutoGluon's pick"
    echo(f"positive class: {trial.positive_class} ({about}; {chosen})")


@main.command()
@click.argument("job_id")
@backend_option
def leaderboard(job_id: str, backend: str) -> int:
    """Trials ranked by the objective."""
    from ..report import leaderboard_text

    echo(leaderboard_text(_job(backend, job_id)))
    return EXIT_OK


@main.command()
@click.argument("job_id")
@backend_option
def best(job_id: str, backend: str) -> int:
    """The best trial as JSON (with its metric and each of the spec's `metrics:` on validation and test data, and a binary
    trial's positive class)."""
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
                **_figures(job.spec, job.trial_details(trial)),
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

    from ..backend import JobStatus

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
    from ..backend import NothingToResume
    from ..registry import get_backend

    try:
        job = get_backend(backend).resume(_job(backend, job_id).id)
    except NothingToResume as exc:  # an ended job: said, and left as it is
        echo(str(exc), err=True)
        return exc.exit_code
    echo(f"job {job.id} resumed", err=True)
    return _finish(job, wait=wait, verb="resumed")


@main.command()
@backend_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def runs(backend: str, fmt: str) -> int:
    """List the jobs a backend knows of (the local run store), oldest first, with when each was submitted."""
    from ..registry import get_backend

    plugin = get_backend(backend)
    rows = [_run_row(job) for job in plugin.jobs()]
    # by submission, ties in the backend's order, as `latest` resolves: the last row is what `latest` takes
    rows = [r for _, r in sorted(enumerate(rows), key=lambda pair: (pair[1]["created"] or 0.0, pair[0]))]
    for job_id, why in plugin.missing_jobs():  # its folder not there (a run_dir moved): said, not left out
        row = {"id": job_id, "backend": plugin.name, "spec": None, "status": "missing", "reason": why}
        row.update(trials_done=None, trials_planned=None, metric=None, best=None, created=None, created_at=None, ended_at=None)
        rows.insert(0, row)
    if fmt == "json":
        echo(json.dumps(rows, indent=2))
        return EXIT_OK
    echo("JOB\tSTATUS\tTRIALS\tBEST\tSUBMITTED")  # tab-separated, as before the header: cut -f1 gives the ids
    for r in rows:
        state = r["status"] + (f" ({r['reason']})" if r["status"] in ("interrupted", "broken", "missing") and r["reason"] else "")
        trials = f"{r['trials_done']}/{r['trials_planned']} trials" if r["trials_planned"] is not None else "-"
        best = f"best {r['metric']}={r['best']:.4g}" if r["best"] is not None else "-"
        echo("\t".join((r["id"], state, trials, best, _local_time(r["created_at"]))))
    return EXIT_OK


def _run_row(job: Any) -> dict[str, Any]:
    """One job as `runs --format json` gives it (times as epoch seconds and ISO 8601 UTC)."""
    from ..endpoints import iso

    row: dict[str, Any] = {"id": job.id, "backend": job.backend, "spec": None, "status": "broken", "reason": None}
    row.update(trials_done=None, trials_planned=None, metric=None, best=None, created=None, created_at=None, ended_at=None)
    try:  # one broken store does not hide the other jobs
        trials = job.trials()
        best = job.best_trial(trials)
        status_ = job.status()
        created, ended = job.created(), job.ended()
        row.update(
            spec=job.spec.name,
            status=status_.value,
            reason=job.status_reason(),
            trials_done=sum(1 for t in trials if t.status.is_final),
            trials_planned=_planned(job),
            metric=job.spec.objective.name,
            best=best.objective if best else None,
            created=created,
            created_at=iso(created) if created else None,
            ended_at=iso(ended) if ended else None,
        )
    except CloudautoError as exc:
        row["reason"] = str(exc)
    return row


def _local_time(at: Optional[str]) -> str:
    """An ISO UTC time as this machine's local time, to the minute."""
    import time

    from ..endpoints import from_iso

    seconds = from_iso(at)
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"


@main.command()
@click.argument("job_id")
@backend_option
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="A .png file, or a folder for <job>.png (default: <job>.png here)."
)
def report(job_id: str, backend: str, output: Optional[Path]) -> int:
    """Write a PNG of the sweep (metric per trial over steps) and print the leaderboard."""
    from ..report import leaderboard_text, sweep_png

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


@main.command(name="mlflow")
@click.argument("job_id")
@backend_option
@click.option("--tracking-uri", required=True, help="A folder, a file:// or sqlite:/// URI, or an MLflow server.")
@click.option("--experiment", help="The MLflow experiment (default: the spec's name).")
def mlflow_(job_id: str, backend: str, tracking_uri: str, experiment: Optional[str]) -> int:
    """Record a job in MLflow: a parent run, a child run per trial (again later: brought up to date)."""
    parent, uri = _job(backend, job_id).export_mlflow(tracking_uri, experiment)
    echo(f"{parent}\t{uri}")
    return EXIT_OK
