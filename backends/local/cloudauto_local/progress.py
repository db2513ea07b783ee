"""Progress while waiting: a rich bar on a terminal, one plain line per change elsewhere (CI)."""

from __future__ import annotations

import sys
from typing import Any, Optional

from cloudauto.backend import TrialStatus


class Progress:
    def __init__(self, handle: Any, *, enabled: Optional[bool] = None):
        self.handle = handle
        self.enabled = True if enabled is None else enabled
        self.tty = sys.stderr.isatty()
        self._last: Optional[str] = None
        self._bar: Any = None
        self._task: Any = None
        self._total: Optional[int] = None

    @property
    def total(self) -> int:
        """The trials that will run (a grid's distinct points left), not the spec's max_trials."""
        if self._total is None:
            from cloudauto.tuning.samplers import planned_trials

            self._total = planned_trials(self.handle.spec, self.handle.parent_trials())
        return self._total

    def __enter__(self) -> Progress:
        if self.enabled and self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.handle.id, total=self.total)
        return self

    def update(self) -> None:
        if not self.enabled:
            return
        trials = self.handle.trials()
        done = sum(1 for t in trials if t.status.is_final)
        running = sum(1 for t in trials if t.status is TrialStatus.RUNNING)
        best = self.handle.best_trial()
        best_text = (
            f"best {self.handle.spec.objective.name}={best.objective:.4g} (trial {best.number})" if best else "no result yet"
        )
        line = f"{self.handle.id}: {done}/{self.total} trials done, {running} running, {best_text}"
        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=f"{running} running, {best_text}")
        elif line != self._last:
            print(line, file=sys.stderr, flush=True)
        self._last = line

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
