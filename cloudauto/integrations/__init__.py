"""Callbacks that report a framework's evaluations through `cloudauto.report` and obey the sweep's verdict.

Import the one for your framework; each imports that framework only when it is imported:

    from cloudauto.integrations.huggingface import CloudautoCallback   # transformers.Trainer
    from cloudauto.integrations.lightning import CloudautoCallback     # lightning.pytorch.Trainer
    from cloudauto.integrations.keras import CloudautoCallback         # Keras 3 model.fit

Each reports every numeric metric of an evaluation (the spec's metric among them) in one
`cloudauto.report` call, so the same callback works on every backend (the local worker's
pipe, SageMaker's metric lines, Azure ML's MLflow), and ends training cleanly when the
verdict says the early-termination policy stopped the trial.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from ..reporting import _NAME, Verdict, report


def report_numbers(metrics: Mapping[str, Any], step: Optional[int], skip: Iterable[str] = ()) -> Optional[Verdict]:
    """Report the finite numbers among `metrics` (tensors and NumPy scalars too); None when there are none."""
    numbers: dict[str, float] = {}
    skipped = set(skip)
    for name, value in metrics.items():
        if name in skipped or not _NAME.match(str(name)):
            continue
        try:
            number = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            numbers[str(name)] = number
    return report(step=step, **numbers) if numbers else None


__all__ = ["report_numbers"]
