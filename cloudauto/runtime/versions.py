"""The one AutoGluon release every backend trains and serves with.

AutoGluon refuses to load a predictor saved by any other version (`require_version_match`),
so a model is only portable between backends that run the same release: the local backend
(constraints.txt), docker mode's image (backends/local/Dockerfile), the Azure ML environment
and the SageMaker AutoGluon DLC all pin this one. Tests hold each of them to it.
"""

from __future__ import annotations

from typing import Optional

AUTOGLUON_VERSION = "1.6.3"
MODEL_INFO = "cloudauto_model.json"


def installed_autogluon() -> Optional[str]:
    """The AutoGluon here, without importing it (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("autogluon.core", "autogluon.common"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def mismatch(model_version: Optional[str], serving_version: Optional[str], where: str) -> Optional[str]:
    """Why `where` cannot serve a model of `model_version` (None when it can, or when either is unknown)."""
    if not model_version or not serving_version or model_version == serving_version:
        return None
    return (
        f"the model was trained with AutoGluon {model_version} and {where} runs AutoGluon {serving_version}; "
        "AutoGluon loads only predictors saved by its own release: serve it where the same release runs"
    )


__all__ = ["AUTOGLUON_VERSION", "MODEL_INFO", "installed_autogluon", "mismatch"]
