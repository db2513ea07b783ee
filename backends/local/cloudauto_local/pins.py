"""A local job pins its data: each local input file's size and sha256, recorded at submit.

Finished trials were trained and scored on the data as it was at submit; a `resume` that
ran the rest on changed data would mix both on one leaderboard with no word. So `resume`
hashes the files again (a rewrite of the same size and mtime is caught too) and refuses
a job whose data changed, naming the file and what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from cloudauto.runtime.data import resolve
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.models import JobSpec
from cloudauto.spec.types import scheme_of

CHUNK = 1 << 20


class DataChanged(CloudautoError):
    """A job's input data is no longer what it was trained on: the job's inputs are invalid for it (exit 1)."""

    exit_code = 1


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()


def _local(uri: str, base_dir: Optional[str]) -> Optional[Path]:
    """The local path of a data URI (a plain path or file://), or None for remote data."""
    uri = resolve(uri, base_dir)
    scheme = scheme_of(uri)
    if scheme is None:
        return Path(uri)
    return Path(urlparse(uri).path) if scheme == "file" else None


def _files(path: Path) -> list[Path]:
    """The file itself, or every file under a folder of data files."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def pin(spec: JobSpec, base_dir: Optional[str]) -> dict[str, dict[str, object]]:
    """path -> {role, size, sha256} for every local file the spec's data names (a file that cannot be read is skipped:
    submit's own data check says why)."""
    pins: dict[str, dict[str, object]] = {}
    for role, uri in spec.data.uris().items():
        path = _local(uri, base_dir)
        if path is None or not path.exists():
            continue
        for file in _files(path):
            try:
                pins[str(file)] = {"role": role, "size": file.stat().st_size, "sha256": digest(file)}
            except OSError:
                continue
    return pins


def code_digests(spec: JobSpec, base_dir: Optional[str]) -> Optional[dict[str, str]]:
    """engine: command: file -> sha256 of its `command.code` snapshot (the files a trial gets, as bundles ship them),
    what a same_data warm start compares; None without a command or where the folder cannot be read."""
    if spec.command is None:
        return None
    from cloudauto.runtime.bundle import BundleError, code_files, spec_leaves_out

    try:  # sizes are checked before a file is read: a folder over the code limit is never read whole
        files = code_files(Path(resolve(spec.command.code, base_dir)), prefix="", leave_out=spec_leaves_out(spec))
    except (BundleError, OSError):
        return None
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def check(job_id: str, pins: dict[str, dict[str, object]]) -> None:
    """Refuse (DataChanged) where a pinned file is gone or its content differs from what was recorded at submit."""
    problems = []
    for name, pinned in pins.items():
        path = Path(name)
        role = pinned.get("role", "data")
        try:
            size = path.stat().st_size
            changed = size != pinned["size"] or digest(path) != pinned["sha256"]
        except OSError as exc:
            problems.append(f"its {role} data {path} is gone or unreadable since submit ({exc.strerror or exc})")
            continue
        if changed:
            was = f"{pinned['size']} bytes, sha256 {str(pinned['sha256'])[:12]}"
            problems.append(f"its {role} data {path} changed since submit (was {was}; now {size} bytes)")
    if problems:
        raise DataChanged(
            f"job {job_id} cannot resume: "
            + "; ".join(problems)
            + ". Its finished trials were trained and scored on the data as it was at submit. "
            "Put the file back as it was and resume, or submit a new job for the new data (cloudauto submit SPEC)."
        )


__all__ = ["DataChanged", "check", "code_digests", "digest", "pin"]
