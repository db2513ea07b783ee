"""AutoGluon fit callbacks (imports AutoGluon: load only inside a trial)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from autogluon.core.callbacks import AbstractCallback


class ReportAfterEachModel(AbstractCallback):
    """After every model AutoGluon fits, report the best validation score so far (in the
    metric's own units); stop the fit when the scheduler says so.

    AutoGluon pickles its trainer with the callbacks, so the reporter (a closure over the
    worker's channel) is left out of the pickled state.
    """

    def __init__(self, report: Callable[[float], bool]):
        super().__init__()
        self._report: Optional[Callable[[float], bool]] = report
        self.stopped = False
        self.reports = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_report"] = None
        return state

    def _after_model_fit(self, trainer: Any, model_names: list[str], **kwargs: Any) -> bool:
        scores = [s for s in trainer.get_models_attribute_dict("val_score").values() if s is not None]
        if self._report is None or self.stopped or not model_names or not scores:
            return self.stopped
        value = float(trainer.eval_metric.convert_score_to_original(max(scores)))
        self.reports += 1
        self.stopped = bool(self._report(value))
        return self.stopped
