"""The scheduler's warm start, retries and early endings (sweep.warm_start, limits.trial_retries,
limits.stop_when, limits.max_failed_trials), kept apart from its loop.

Everything here reads and writes the run store, so a killed scheduler's successor (`resume`)
decides as it would have: the parents' trials were copied into the store at submit, a trial's
retries are counted in it, and the criteria are read off its trials.
"""

from __future__ import annotations

import json
import logging
import shlex
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import JobStatus, TrialStatus
from cloudauto.spec.errors import CloudautoError
from cloudauto.tuning.criteria import failure_reason, stop_reason
from cloudauto.tuning.samplers import MAX_GRID_POINTS, GridSampler, Past, Sampler, engine_prune, warm_pasts

from .store import RunStore

if TYPE_CHECKING:  # pragma: no cover
    from cloudauto.backend import Trial
    from cloudauto.spec.models import JobSpec

log = logging.getLogger("cloudauto.scheduler")

INFRASTRUCTURE = "infrastructure"  # a worker's `failed` message with this `fault` is not the script's doing


class WarmStartError(CloudautoError):
    """A warm start's parent cannot be used (exit 3 where there is no such job, else 2)."""

    exit_code = 2


# warm start ------------------------------------------------------------------------------------
def _digests(inputs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """role -> the sorted sha256 of its files, from a job's pinned inputs (pins.py)."""
    found: dict[str, list[str]] = {}
    for pinned in inputs.values():
        found.setdefault(str(pinned.get("role")), []).append(str(pinned.get("sha256")))
    return {role: sorted(digests) for role, digests in found.items()}


def _run_words(run: Optional[str]) -> Optional[list[str]]:
    """A command line as its words: spacing is not a difference (the local backend splits it as a shell would)."""
    if run is None:
        return None
    try:
        return shlex.split(run)
    except ValueError:
        return [run]


def _as_sets(space: Any) -> Any:
    """A search space with each choice's values as a set: the same values in another order are the same space."""
    if isinstance(space, dict):
        if space.get("kind") == "choice" and isinstance(space.get("values"), list):
            return {**space, "values": sorted({json.dumps(v, sort_keys=True) for v in space["values"]})}
        return {key: _as_sets(value) for key, value in space.items()}
    if isinstance(space, list):
        return [_as_sets(v) for v in space]
    return space


def _code_changes(mine: Optional[dict[str, str]], theirs: Optional[dict[str, str]]) -> Optional[str]:
    """The files that make two code snapshots differ (changed, added, gone), or None; None too where one is unknown."""
    if mine is None or theirs is None or mine == theirs:
        return None
    changed = sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n])
    added, gone = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
    parts = [
        f"{what} {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        for what, names in (("changed", changed), ("added", added), ("removed", gone))
        if names
    ]
    return "the code differs: command.code " + "; ".join(parts) + " since the parent ran"


def same_data_differences(
    spec: JobSpec,
    theirs: JobSpec,
    mine: dict,
    parents: dict,
    my_code: Optional[dict[str, str]] = None,
    their_code: Optional[dict[str, str]] = None,
) -> list[str]:
    """What makes a parent not the same data and algorithm (SageMaker's IdenticalDataAndAlgorithm): its task,
    engine, label, command line (its words) or code (the files of command.code, by digest), or a data file's
    contents (by digest where both are local files, else its URI)."""
    found = [
        f"{name} differs"
        for name, a, b in (
            ("task", spec.task, theirs.task),
            ("engine", spec.engine, theirs.engine),
            ("data.label", spec.data.label, theirs.data.label),
            ("command.run", _run_words(spec.command and spec.command.run), _run_words(theirs.command and theirs.command.run)),
        )
        if a != b
    ]
    code = _code_changes(my_code, their_code)
    if code:
        found.append(code)
    my_digests, their_digests = _digests(mine), _digests(parents)
    my_uris, their_uris = spec.data.uris(), theirs.data.uris()
    for role in sorted(set(my_uris) | set(their_uris)):
        if role in my_digests and role in their_digests:
            if my_digests[role] != their_digests[role]:
                found.append(f"data.{role} holds other data (its sha256 differs)")
        elif my_uris.get(role) != their_uris.get(role):
            found.append(f"data.{role} is {my_uris.get(role) or 'not set'} here, {their_uris.get(role) or 'not set'} there")
    return found


def _nothing_left(spec: JobSpec, rows: list[tuple]) -> Optional[str]:
    """Why a same_data warm start has nothing to run: its parents ran every configuration of a discrete space."""
    space = spec.space
    if not space.is_discrete or space.grid_size() > MAX_GRID_POINTS:
        return None
    grid = GridSampler(space, spec.objective.goal, 0, engine_prune(spec))
    grid.warm([Past(-(i + 1), dict(row[2]), {}, None, True) for i, row in enumerate(rows)], skip=True)
    if grid.size:
        return None
    kind = "the grid" if spec.sweep.sampling.value == "grid" else "the search space"
    return (
        f"sweep.warm_start.from: the parents ran all {grid.ran_in_parents} configurations of {kind}: nothing is left "
        "to run (under mode: same_data their configurations do not run again). Use the parents' best "
        f"(cloudauto best {spec.sweep.warm_start.from_[0]}), widen sweep.space, or write mode: transfer to run them again"
    )


def parent_rows(spec: JobSpec, attach: Any, inputs: Optional[dict] = None, code: Optional[dict[str, str]] = None) -> list[tuple]:
    """The parents' finished trials as the store keeps them; refuses a parent that is missing, still running,
    judged by another objective, or (under same_data) searched over another space or of other data, command or
    code, and a same_data warm start they leave nothing to run. `inputs`: this job's pinned data (pins.py), and
    `code` its code snapshot (pins.code_digests), compared with each parent's by digest."""
    warm = spec.sweep.warm_start if spec.sweep else None
    if warm is None:
        return []
    rows: list[tuple] = []
    own = _as_sets(spec.to_dict()["sweep"]["space"])
    for parent_id in warm.from_:
        try:
            parent = attach(parent_id)
        except CloudautoError as exc:
            raise type(exc)(f"sweep.warm_start.from: {exc}") from exc
        status = parent.status()
        if not status.is_final:
            raise WarmStartError(
                f"sweep.warm_start.from: job {parent.id} is {status.value}; a parent must have ended "
                "(completed, failed or canceled), as SageMaker requires of a parent tuning job"
            )
        theirs = parent.spec
        if (theirs.objective.name, theirs.objective.goal) != (spec.objective.name, spec.objective.goal):
            raise WarmStartError(
                f"sweep.warm_start.from: job {parent.id} tuned {theirs.objective.goal.value} {theirs.objective.name}, "
                f"this sweep {spec.objective.goal.value} {spec.objective.name}: a parent's trials inform a sweep of the "
                "same objective only"
            )
        space = _as_sets(theirs.to_dict().get("sweep", {}).get("space"))
        if warm.mode.value == "same_data" and space != own:
            raise WarmStartError(
                f"sweep.warm_start.from: job {parent.id} searched another space; under mode: same_data the space is the "
                "parent's (SageMaker's IdenticalDataAndAlgorithm); write mode: transfer to start from the parameters they share"
            )
        if warm.mode.value == "same_data" and hasattr(parent, "store"):
            row = parent.store.job()
            differs = same_data_differences(spec, theirs, inputs or {}, row.inputs, code, row.code)
            if differs:
                raise WarmStartError(
                    f"sweep.warm_start.from: job {parent.id} is not the same data and algorithm: {'; '.join(differs)}. "
                    "mode: same_data skips the parent's configurations as if they had run here (SageMaker's "
                    "IdenticalDataAndAlgorithm); write mode: transfer to learn from them and run what this job needs"
                )
        states = parent.store.sampler_states() if hasattr(parent, "store") else {}
        for trial in parent.trials():
            if trial.status.is_final:
                rows.append(
                    (
                        parent.id,
                        trial.number,
                        trial.params,
                        states.get(trial.number, {}),
                        trial.status.value,
                        trial.objective,
                        trial.ended,
                    )
                )
    left = _nothing_left(spec, rows) if warm.mode.value == "same_data" and rows else None
    if left:
        raise WarmStartError(left)
    return rows


def seed(sampler: Sampler, store: RunStore, spec: JobSpec) -> int:
    """Give the sampler the parents' trials the store keeps; returns how many."""
    warm = spec.sweep.warm_start if spec.sweep else None
    if warm is None:
        return 0
    parents = store.warm_trials()
    sampler.warm(warm_pasts((trial, state) for _, trial, state in parents), skip=warm.mode.value == "same_data")
    log.info(
        "warm start (%s) from %s: %d finished trials%s",
        warm.mode.value,
        ", ".join(warm.from_),
        len(parents),
        "; their configurations do not run again" if warm.mode.value == "same_data" else "",
    )
    return len(parents)


# retries ---------------------------------------------------------------------------------------
def retry(store: RunStore, spec: JobSpec, number: int, fault: str) -> Optional[int]:
    """Put a trial an infrastructure fault ended back in the queue, within limits.trial_retries; its retry's
    number (1, 2 ...), or None where none is left (it then fails)."""
    allowed = spec.limits.trial_retries
    used = store.retries().get(number, 0)
    if used >= allowed:
        if allowed:
            log.info("trial %d: no retry left (limits.trial_retries %d used)", number, allowed)
        return None
    done = store.retry_trial(number, f"retry {used + 1} of {allowed} after: {fault}")
    log.warning("trial %d: %s; retry %d of %d with the same parameters", number, fault, done, allowed)
    return done


# early endings ---------------------------------------------------------------------------------
def ending(spec: JobSpec, trials: list[Trial]) -> Optional[tuple[JobStatus, TrialStatus, str]]:
    """(the job's status, the running trials' status, why) where a criterion ends the sweep now."""
    failed = failure_reason(spec, trials)
    if failed:
        return JobStatus.FAILED, TrialStatus.CANCELED, failed
    met = stop_reason(spec, trials)
    if met:
        return JobStatus.COMPLETED, TrialStatus.TERMINATED, met
    return None


def refuse_converged(spec: JobSpec) -> Optional[str]:
    """Why the local backend refuses `stop_when.converged`."""
    stop = spec.limits.stop_when
    if stop is None or not stop.converged:
        return None
    return (
        "convergence detection is SageMaker's own model (ConvergenceDetected), not published, so no local rule "
        "would end a sweep where SageMaker's does; use no_improvement_trials (exact here) or compile for sagemaker"
    )


__all__ = [
    "INFRASTRUCTURE",
    "WarmStartError",
    "ending",
    "parent_rows",
    "refuse_converged",
    "retry",
    "same_data_differences",
    "seed",
]
