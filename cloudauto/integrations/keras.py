"""A Keras 3 `Callback`: each epoch's logs reported, `model.stop_training` when the sweep says so."""

from __future__ import annotations

from typing import Any, Optional

import keras

from . import report_numbers


class CloudautoCallback(keras.callbacks.Callback):
    """`model.fit(..., validation_data=..., callbacks=[CloudautoCallback()])`: the epoch's logs (loss, the
    metrics and their `val_` ones) reported at epoch + 1; a stop verdict ends the fit after this epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False
        self.reason = ""

    def on_epoch_end(self, epoch: int, logs: Optional[dict[str, Any]] = None) -> None:
        verdict = report_numbers(logs or {}, epoch + 1)
        if verdict is not None and verdict.should_stop:
            self.stopped, self.reason = True, verdict.reason
            self.model.stop_training = True


__all__ = ["CloudautoCallback"]
