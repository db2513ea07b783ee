"""Why a job's scheduler died, kept where it can still be written when the store cannot (a full disk).

As it starts, while there is room, the scheduler fills `scheduler.exit` with blanks; on its way
out it overwrites those bytes in place, which takes no new block, so the cause survives a disk
that filled up under it. The record names the scheduler's pid: an older one is not read as the
death of a newer scheduler.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

NAME = "scheduler.exit"
SIZE = 4096


def reserve(run_dir: Path, pid: int) -> None:
    """The blank record, written while the disk has room (best effort: a scheduler that cannot is not stopped)."""
    try:
        _write(Path(run_dir) / NAME, {"pid": pid, "cause": None}, create=True)
    except OSError:
        pass


def record(run_dir: Path, pid: int, cause: str) -> bool:
    """Overwrite the reserved bytes with the cause; False where even that failed."""
    try:
        _write(Path(run_dir) / NAME, {"pid": pid, "cause": cause[: SIZE - 200]}, create=False)
        return True
    except OSError:
        return False


def read(run_dir: Path, pid: Optional[int]) -> Optional[str]:
    """The cause the scheduler `pid` recorded as it died, if it did."""
    try:
        found = json.loads((Path(run_dir) / NAME).read_text(encoding="utf-8", errors="replace").strip() or "{}")
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("pid") != pid:
        return None
    return found.get("cause") or None


def _write(path: Path, content: dict, *, create: bool) -> None:
    data = json.dumps(content).encode()[:SIZE].ljust(SIZE, b" ")
    fd = os.open(path, os.O_WRONLY | (os.O_CREAT if create else 0), 0o600)
    try:
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["read", "record", "reserve"]
