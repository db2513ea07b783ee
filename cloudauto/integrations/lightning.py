"""A Lightning `Callback`: each validation reported, `trainer.should_stop` when the sweep says so."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from . import report_numbers


class CloudautoCallback(pl.Callback):
    """`Trainer(callbacks=[CloudautoCallback()])`: what `self.log(...)` put in `trainer.callback_metrics`
    after each validation, reported at the epoch; a stop verdict ends the fit after this epoch."""

    def __init__(self) -> None:
        self.stopped = False
        self.reason = ""

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        verdict = report_numbers(dict(trainer.callback_metrics), trainer.current_epoch)
        if verdict is not None and verdict.should_stop:
            self.stopped, self.reason = True, verdict.reason
            trainer.should_stop = True


__all__ = ["CloudautoCallback"]
