"""Why an AutoGluon fit trained no model, read from AutoGluon's own log records.

TimeSeriesPredictor.fit returns with "Models trained: []" when the time limit ran out or every
model failed (TabularPredictor raises a generic error): the reasons are only log lines. A trial
that trained nothing must fail with them, not complete with a NaN score. Standard library only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

_PLANNED = re.compile(r"Models that will be trained: \[(.*)\]")
_TIME = re.compile(r"Time limit exceeded\.\.\. Skipping (\S+)\.")
_NO_TIME = re.compile(r"Skipping (\S+) due to lack of time remaining")
_STOPPED = re.compile(r"Stopping training due to lack of time remaining")
_FAILED = re.compile(r"Exception caused (\S+) to fail during (?:training|hyperparameter tuning)")
_SKIPPED = re.compile(
    r"(?:Not enough memory|No valid features|No GPUs available|Not enough CUDA memory available) to train (\S+)"
)


class NoModelTrained(RuntimeError):
    """The fit ended without one trained model: the trial fails with why."""


class FitLog(logging.Handler):
    """Collects, while a fit runs, each model AutoGluon skipped and why."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.planned: list[str] = []
        self.planned_none = False  # AutoGluon logged "Models that will be trained: []"
        self.out_of_time: list[str] = []
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self._cause_of: Optional[str] = None  # a failed model whose error is the next record

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record AutoGluon formats wrongly tells us nothing
            return
        if self._cause_of is not None and record.levelno >= logging.ERROR:
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            if lines:
                self.failed[self._cause_of] = lines[-1][:500]  # a traceback's last line, or the error itself
            self._cause_of = None
            return
        planned = _PLANNED.search(text)
        if planned:
            self.planned = [m.strip().strip("'\"") for m in planned.group(1).split(",") if m.strip()]
            self.planned_none = not self.planned
            return
        for pattern, into in ((_TIME, self.out_of_time), (_NO_TIME, self.out_of_time)):
            found = pattern.search(text)
            if found:
                into.append(found.group(1))
                return
        failed = _FAILED.search(text)
        if failed:
            self.failed[failed.group(1)] = "see the trial log"
            self._cause_of = failed.group(1)
            return
        skipped = _SKIPPED.search(text)
        if skipped:
            self.skipped[skipped.group(1)] = text.strip().split("...")[0].replace(f" to train {skipped.group(1)}", "").lower()
            return
        if _STOPPED.search(text):
            seen = {*self.out_of_time, *self.failed, *self.skipped}
            self.out_of_time += [m for m in self.planned if m not in seen]

    @contextmanager
    def no_model_raised(self) -> Iterator[None]:
        """Around a fit: AutoGluon's trainer raises IndexError when it had no model to train (every model of the
        preset excluded or unknown); the trial fails with that reason instead."""
        try:
            yield
        except IndexError as error:
            if not self.planned_none:
                raise
            raise NoModelTrained(
                "no model was trained: AutoGluon had no model to train (\"Models that will be trained: []\": every model "
                "of the preset or list was excluded); name models in sweep.space.models or give the foundation models "
                "weights; see the trial log"
            ) from error

    def reason(self, time_limit: Any, models: Optional[list[str]] = None) -> str:
        """Why no model was trained: the time limit (and what to raise), the models that failed and their error.

        `models`: those the fit was to train, when AutoGluon does not log them (a tabular fit logs a model
        it had no time to start below its default verbosity): with a time limit and no other cause, the time ran out.
        """
        if time_limit is not None and not (self.out_of_time or self.failed or self.skipped):
            self.out_of_time = list(self.planned or models or [])
        limit = f"{float(time_limit):g}" if isinstance(time_limit, (int, float)) else None
        failed = "; ".join(f"AutoGluon's {m} failed ({why})" for m, why in self.failed.items())
        skipped = "; ".join(f"AutoGluon skipped {m}: {why}" for m, why in self.skipped.items())
        timed = ", ".join(dict.fromkeys(self.out_of_time))
        if timed and not failed and not skipped:
            within = f" within time_limit={limit} s" if limit else ""
            return f"no model was trained{within} (AutoGluon had no time left for {timed}); raise sweep.space.time_limit"
        parts = [p for p in (failed, skipped, f"AutoGluon had no time left for {timed}" if timed else "") if p]
        if not parts:
            return "no model was trained (AutoGluon's fit ended without one; see the trial log)"
        return f"no model was trained: {'; '.join(parts)}; see the trial log"


@contextmanager
def watching() -> Iterator[FitLog]:
    """A FitLog on AutoGluon's loggers for the duration of a fit."""
    log = FitLog()
    root = logging.getLogger("autogluon")
    root.addHandler(log)
    try:
        yield log
    finally:
        root.removeHandler(log)


__all__ = ["FitLog", "NoModelTrained", "watching"]
