"""AutoGluon fit callbacks (imports AutoGluon: load only inside a trial)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

from autogluon.core.callbacks import AbstractCallback

CURVE_POINTS = 20  # steps reported per model's validation curve: enough for a policy to compare, few enough to log


class ReportAfterEachModel(AbstractCallback):
    """Report the trial's best validation score so far (in the metric's own units) as AutoGluon
    fits: each point of a model's validation curve where AutoGluon records one (LightGBM,
    XGBoost, the torch MLP: `learning_curves`), then the model's own score; stop the fit when
    the scheduler says so. A policy can then act within the first model, not only between models.

    AutoGluon pickles its trainer with the callbacks, so the reporter (a closure over the
    worker's channel) is left out of the pickled state.
    """

    def __init__(self, report: Callable[[float], bool]):
        super().__init__()
        self._report: Optional[Callable[[float], bool]] = report
        self.stopped = False
        self.reports = 0
        self._best: Optional[float] = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_report"] = None
        return state

    def _emit(self, trainer: Any, score: float) -> None:
        """One step: the best score so far, given in AutoGluon's higher-is-better form."""
        if not math.isfinite(score) or self.stopped or self._report is None:
            return
        self._best = score if self._best is None else max(self._best, score)
        self.reports += 1
        self.stopped = bool(self._report(float(trainer.eval_metric.convert_score_to_original(self._best))))

    def _curve(self, trainer: Any, name: str) -> list[float]:
        """A model's validation curve in score form, thinned to CURVE_POINTS (the last point kept); [] if it has none."""
        try:
            sets, metrics, curves = trainer.get_model_learning_curves(model=name)
            values = curves[metrics.index(trainer.eval_metric.name)][sets.index("val")]
        except Exception:  # a model without curve support, a bagged one, a metric not recorded: one step for it
            return []
        every = max(1, math.ceil(len(values) / CURVE_POINTS))
        return [float(v) for v in values[every - 1 :: every]] + ([float(values[-1])] if len(values) % every else [])

    def _after_model_fit(self, trainer: Any, model_names: list[str], **kwargs: Any) -> bool:
        if self._report is None or self.stopped or not model_names:
            return self.stopped
        for name in model_names:
            for score in self._curve(trainer, name):
                self._emit(trainer, score)
            score = trainer.get_model_attribute(name, "val_score", default=None)
            if score is not None:
                self._emit(trainer, float(score))
        return self.stopped


__all__ = ["CURVE_POINTS", "ReportAfterEachModel"]
