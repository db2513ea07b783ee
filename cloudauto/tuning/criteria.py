"""When a sweep ends before its budget: `limits.stop_when` and `limits.max_failed_trials`, read off its trials.

Both are functions of the trials alone (their status, objective and end time), so whoever
holds the trials decides the same way: the local scheduler after each trial ends (and again
on resume, from the store), a cloud handle's `wait()` where the service has no such field.

- `target`: met by the first trial, in the order trials ended, whose objective reaches the
  target (at least it when maximized, at most it when minimized).
- `no_improvement_trials: N`: met once N trials in a row, in the order they ended, did not
  improve strictly on the best objective before them. SageMaker's service counts a trial that
  improves the best by 1% or less as not improving; that threshold is its own.
- a trial counts once it has ended with an objective: completed, or stopped by the early-
  termination policy (its objective is then the last value it reported, the one the policy judged).
- `max_failed_trials: M`: met once M trials have failed (after their retries, if any).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from ..backend import Trial, TrialStatus
from ..spec.metrics import Goal

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

_COUNTED = (TrialStatus.COMPLETED, TrialStatus.TERMINATED)


def final_value(values: Iterable[float]) -> Optional[float]:
    """A trial's objective from its reports: the last one, as SageMaker's FinalHyperParameterTuningJobObjectiveMetric
    is "the latest objective metric emitted" (a NaN or infinity is skipped: it is never an objective). Azure ML ranks
    a child run by its best logged value instead; cloudauto's Azure handle reports that, and docs/spec.md says so."""
    found = None
    for value in values:
        if math.isfinite(value):
            found = float(value)
    return found


def _scored(trials: Iterable[Trial]) -> list[Trial]:
    """Trials that ended with a finite objective, in the order they ended."""
    done = [t for t in trials if t.status in _COUNTED and t.objective is not None and math.isfinite(t.objective)]
    return sorted(done, key=lambda t: (t.ended if t.ended is not None else math.inf, t.number))


def _better(a: float, b: float, goal: Goal) -> bool:
    return a > b if goal is Goal.MAXIMIZE else a < b


def stop_reason(spec: JobSpec, trials: Iterable[Trial]) -> Optional[str]:
    """Why `limits.stop_when` ends the sweep now (the criterion, the trial and the figures), or None."""
    stop = spec.limits.stop_when
    if stop is None:
        return None
    goal, name = spec.objective.goal, spec.objective.name
    scored = _scored(trials)
    if stop.target is not None:
        for t in scored:
            if t.objective == stop.target or _better(t.objective, stop.target, goal):
                return f"limits.stop_when.target {stop.target:g} reached by trial {t.number} ({name}={t.objective:.6g})"
    if stop.no_improvement_trials is not None:
        best: Optional[Trial] = None
        since: list[int] = []
        for t in scored:
            if best is None or _better(t.objective, best.objective, goal):
                best, since = t, []
                continue
            since.append(t.number)
            if len(since) >= stop.no_improvement_trials:
                return (
                    f"limits.stop_when.no_improvement_trials {stop.no_improvement_trials}: trials "
                    f"{', '.join(map(str, since))} did not improve on trial {best.number}'s {name}={best.objective:.6g}"
                )
    return None


def failure_reason(spec: JobSpec, trials: Iterable[Trial]) -> Optional[str]:
    """Why `limits.max_failed_trials` ends the sweep now, or None."""
    budget = spec.limits.max_failed_trials
    if budget is None:
        return None
    failed = sorted(t.number for t in trials if t.status is TrialStatus.FAILED)
    if len(failed) < budget:
        return None
    return f"limits.max_failed_trials {budget} reached: trials {', '.join(map(str, failed))} failed"


__all__ = ["failure_reason", "final_value", "stop_reason"]
