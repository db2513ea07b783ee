"""cloudauto: one declarative AutoML job spec, compiled for local, SageMaker and Azure ML.

Names are loaded on first use so that `import cloudauto` (and `cloudauto validate`) stay
fast and never pull a cloud SDK, pandas, torch or AutoGluon.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "JobSpec": "cloudauto.spec.models",
    "Task": "cloudauto.spec.metrics",
    "Goal": "cloudauto.spec.metrics",
    "Engine": "cloudauto.spec.models",
    "Sampling": "cloudauto.spec.models",
    "SpecError": "cloudauto.spec.errors",
    "SpecIssue": "cloudauto.spec.errors",
    "CloudautoError": "cloudauto.spec.errors",
    "load_spec": "cloudauto.spec.loader",
    "Backend": "cloudauto.backend",
    "CompiledJob": "cloudauto.backend",
    "JobHandle": "cloudauto.backend",
    "Trial": "cloudauto.backend",
    "Endpoint": "cloudauto.backend",
    "get_backend": "cloudauto.registry",
    "available_backends": "cloudauto.registry",
    "compile": "cloudauto.api",
    "submit": "cloudauto.api",
    "attach": "cloudauto.api",
    "report": "cloudauto.reporting",
    "Verdict": "cloudauto.reporting",
    "checkpoint_dir": "cloudauto.checkpoints",
}

if TYPE_CHECKING:  # pragma: no cover
    from .api import attach, compile, submit
    from .backend import Backend, CompiledJob, Endpoint, JobHandle, Trial
    from .checkpoints import checkpoint_dir
    from .registry import available_backends, get_backend
    from .reporting import Verdict, report
    from .spec.errors import CloudautoError, SpecError, SpecIssue
    from .spec.loader import load_spec
    from .spec.metrics import Goal, Task
    from .spec.models import Engine, JobSpec, Sampling


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cloudauto' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
