"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from .backend import CompiledJob, JobHandle
from .registry import get_backend
from .spec.models import JobSpec

SpecLike = Union[JobSpec, str, "os.PathLike[str]", dict]


def as_spec(spec: SpecLike) -> JobSpec:
    """A JobSpec from a spec object, a file path (YAML or JSON) or a plain mapping."""
    if isinstance(spec, JobSpec):
        return spec
    if isinstance(spec, dict):
        from .spec.loader import validate_data

        return validate_data(spec)
    return JobSpec.from_file(Path(spec))


def compile(spec: SpecLike, backend: Optional[str] = None, *, strict: bool = False) -> CompiledJob:  # noqa: A001
    """Compile a spec into the backend's native job without submitting it (a dry run); backend as for submit."""
    spec = as_spec(spec)
    return get_backend(backend or spec.backend or "local").compile(spec, strict=strict)


def submit(spec: SpecLike, backend: Optional[str] = None, *, strict: bool = False, **options: Any) -> JobHandle:
    """Compile and submit; returns the job's handle. `backend` defaults to the spec's `backend:`, else local."""
    spec = as_spec(spec)
    return get_backend(backend or spec.backend or "local").submit(spec, strict=strict, **options)


def attach(job_id: str, backend: str = "local") -> JobHandle:
    """A handle to a job submitted earlier, from any process: `cloudauto.attach("iris-2026...", backend="local")`."""
    return get_backend(backend).attach(job_id)


__all__ = ["as_spec", "attach", "compile", "submit"]
