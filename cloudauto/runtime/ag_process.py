"""What AutoGluon 1.6.3 computes again on every fit that a process running trial after trial computes once.

Found by profiling a warm worker (issue 29); both are narrow replacements of a name in the
predictor modules, which import these functions by name, so nothing else of AutoGluon changes:

1. `TabularPredictor.save` (twice per fit) writes `metadata.json` from `get_autogluon_metadata()`,
   which parses the metadata of every installed distribution: 0.2 s in a 350-package venv, a
   third of a small fit. The answer changes only when a distribution is installed or removed,
   which adds or removes a `*.dist-info` folder and so changes the modification time of a
   `sys.path` folder: it is kept per process and read again when one of those changes. The
   file AutoGluon writes is the same.
2. `fit` calls `warn_if_mlflow_autologging_is_enabled()`, which imports mlflow (1.5 s where it
   is installed) to warn when its sklearn autologging is on. Autologging can be on only in a
   process that has imported mlflow; in one that has not, there is nothing to warn about and
   the import is skipped. Where mlflow is imported the check runs as before.

This module imports AutoGluon: load it only inside a trial.
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Any, Optional

from autogluon.common.utils import log_utils, utils

_metadata: Optional[tuple[tuple, dict[str, Any]]] = None  # (what the answer depends on, the answer)


def _installed_state() -> tuple:
    """The folders distributions are found in, each with its modification time (a new or removed dist-info changes it)."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


def autogluon_metadata() -> dict[str, Any]:
    """`get_autogluon_metadata()`, computed again only when the installed distributions may have changed."""
    global _metadata
    state = _installed_state()
    if _metadata is None or _metadata[0] != state:
        _metadata = (state, utils.get_autogluon_metadata())
    return copy.deepcopy(_metadata[1])


def warn_if_mlflow_autologging_is_enabled(logger: Any = None) -> None:
    """AutoGluon's check, where mlflow is imported: elsewhere its autologging cannot be on."""
    if "mlflow" in sys.modules:
        log_utils.warn_if_mlflow_autologging_is_enabled(logger=logger)


def install() -> None:
    """Point the loaded predictor modules (tabular, time series) at the functions above; idempotent."""
    for name in ("autogluon.tabular.predictor.predictor", "autogluon.timeseries.predictor"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, "get_autogluon_metadata"):
            module.get_autogluon_metadata = autogluon_metadata
        if hasattr(module, "warn_if_mlflow_autologging_is_enabled"):
            module.warn_if_mlflow_autologging_is_enabled = warn_if_mlflow_autologging_is_enabled


__all__ = ["autogluon_metadata", "install", "warn_if_mlflow_autologging_is_enabled"]
