"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from .backend import CompiledJob, JobHandle
from .registry import get_backend
from .spec.errors import CloudautoError
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


class NoSuchJob(CloudautoError):
    exit_code = 3


LATEST = "latest"
MAX_JOB_ID = 255  # a job id is a file name locally and a resource name in the clouds: none is longer


def attach(job_id: str, backend: str = "local") -> JobHandle:
    """A handle to a job submitted earlier, from any process: `cloudauto.attach("iris-2026...", backend="local")`.

    `job_id` is an id (or a unique start of it), `latest` (the newest job) or `NAME@latest` (the newest job of the
    spec named NAME), as every CLI command that takes a job reads it."""
    plugin = get_backend(backend)
    if len(job_id) > MAX_JOB_ID or "/" in job_id or "\x00" in job_id or job_id in ("", ".", ".."):
        shown = job_id if len(job_id) <= 60 else job_id[:57] + "..."
        raise NoSuchJob(f"no {backend} job '{shown}': a job id is a name of at most {MAX_JOB_ID} characters, without '/'")
    if job_id == LATEST or job_id.endswith("@" + LATEST):
        return _latest(plugin, None if job_id == LATEST else job_id[: -len(LATEST) - 1])
    return plugin.attach(job_id)


def _latest(plugin: Any, name: Optional[str]) -> JobHandle:
    """The newest job (by submit time), of the spec `name` where given."""
    if name == "":
        raise NoSuchJob("@latest needs the spec's name before it: NAME@latest (or latest for the newest job)")
    found, names = [], set()
    for index, job in enumerate(plugin.jobs()):
        try:
            spec_name = job.spec.name if name is not None else None
            created = job.created()
        except CloudautoError:  # a broken store is no one's latest
            continue
        names.add(spec_name)
        if spec_name == name:
            found.append((created or 0.0, index, job))
    if not found:
        if name is None:
            raise NoSuchJob(f"no {plugin.name} job yet: latest names the newest job")
        known = ", ".join(sorted(n for n in names if n))
        from .registry import suggest

        raise NoSuchJob(
            f"no {plugin.name} job of a spec named '{name}'; {suggest(name, names - {None})}"
            + (f"specs with jobs: {known}" if known else "there are no jobs")
        )
    return max(found, key=lambda f: (f[0], f[1]))[2]


__all__ = ["as_spec", "attach", "compile", "submit"]
