"""Jobs that are done with: `delete JOB` and `prune --older-than AGE`, each saying what space it frees.

The backend removes a job's files (models and logs) and refuses one in use (a live scheduler, an endpoint serving
its model, a batch scoring with it: JobInUse, exit 6); these commands choose which jobs and say what happened.
"""

from __future__ import annotations

import time
from typing import Any

import click

from ..spec.errors import CloudautoError
from .app import EXIT_OK, _duration, _job, _plural, backend_option, echo, main


def size_text(n: int) -> str:
    """Bytes as people read them: 512 B, 3.4 kB, 12.0 MB (powers of 1000, as df -H)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--dry-run", is_flag=True, help="Say what would be freed; delete nothing.")
def delete(job_id: str, backend: str, dry_run: bool) -> int:
    """Delete a job and everything it left here (models, logs); refused while it runs or its model is served."""
    job = _job(backend, job_id)
    freed = job.delete(dry_run=dry_run)
    verb = "would free" if dry_run else "freed"
    echo(f"{'would delete' if dry_run else 'deleted'} {job.id}: {verb} {size_text(freed)} (its models and logs)")
    return EXIT_OK


@main.command()
@backend_option
@click.option(
    "--older-than", "older_than", required=True, metavar="AGE", help="Jobs ended (or submitted) this long ago: 30d, 12h, 90m; 0s: every ended job."
)
@click.option("--keep-best", is_flag=True, help="Keep the job with the best result of each spec, however old.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted and the space it would free; delete nothing.")
def prune(backend: str, older_than: str, keep_best: bool, dry_run: bool) -> int:
    """Delete the jobs that ended before AGE ago (models and logs); running ones, and those an endpoint serves, are kept.

    Batches that ended before AGE ago go too (their folders of working state; the outputs they wrote stay)."""
    from ..registry import get_backend

    age = _duration("--older-than", older_than, zero_ok=True)  # 0s: every job that has ended
    assert age is not None
    plugin = get_backend(backend)
    jobs = plugin.jobs()
    kept = _best_of_each_spec(jobs) if keep_best else {}
    now, deleted, freed = time.time(), 0, 0
    for job in jobs:
        try:
            since = job.ended() or job.created()
            if since is None or now - since < age:
                continue
            if job.id in kept:
                echo(f"kept {job.id}: {kept[job.id]}")
                continue
            size = job.delete(dry_run=dry_run)
        except CloudautoError as exc:  # in use, or deleted meanwhile by another command: said, and the others go on
            echo(f"skipped {job.id}: {exc}", err=True)
            continue
        deleted, freed = deleted + 1, freed + size
        echo(f"{'would delete' if dry_run else 'deleted'} {job.id} ({size_text(size)})")
    for what, size in plugin.old_batches(age, dry_run=dry_run):  # a batch's working state, once its output is written
        freed += size
        echo(f"{'would remove' if dry_run else 'removed'} {what} ({size_text(size)})")
    for path, size, why in plugin.leftovers(dry_run=dry_run):
        freed += size
        echo(f"{'would remove' if dry_run else 'removed'} {path} ({size_text(size)}), left by {why}")
    what = _plural(deleted, "job")
    if dry_run:
        echo(f"would delete {what} older than {older_than}, freeing {size_text(freed)}")
    else:
        echo(f"deleted {what} older than {older_than}, freed {size_text(freed)}")
    return EXIT_OK


def _best_of_each_spec(jobs: list[Any]) -> dict[str, str]:
    """Job id -> why it is kept: for each spec name, the job whose best trial is best (the newest among equals)."""
    best: dict[str, tuple[float, int, Any, str]] = {}
    for index, job in enumerate(jobs):
        try:
            trial = job.best_trial()
            objective = job.spec.objective
        except CloudautoError:
            continue
        if trial is None or trial.objective is None:
            continue
        score = trial.objective if objective.goal.value == "maximize" else -trial.objective
        name = job.spec.name
        if name not in best or (score, index) > best[name][:2]:
            best[name] = (score, index, job, f"the best {name} job ({objective.name}={trial.objective:.4g})")
    return {entry[2].id: entry[3] for entry in best.values()}


__all__ = ["size_text"]
