"""A `transformers.TrainerCallback`: each evaluation reported, training stopped when the sweep says so."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from . import report_numbers

# the Trainer's bookkeeping in an evaluation's metrics: not model quality
_BOOKKEEPING = ("epoch", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "total_flos")


class CloudautoCallback(TrainerCallback):
    """`Trainer(..., callbacks=[CloudautoCallback()])` with `eval_strategy="epoch"` (or "steps").

    Reports `eval_*` metrics at the Trainer's global step; a stop verdict sets
    `control.should_training_stop`, so the Trainer ends its loop and the script goes on to
    save, evaluate or exit as it would after the last epoch.
    """

    def __init__(self) -> None:
        self.stopped = False
        self.reason = ""

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> Any:
        verdict = report_numbers(metrics or {}, state.global_step, skip=_BOOKKEEPING)
        if verdict is not None and verdict.should_stop:
            self.stopped, self.reason = True, verdict.reason
            control.should_training_stop = True
        return control


__all__ = ["CloudautoCallback"]
