"""Where the local backend keeps its jobs and endpoints: one rule, the same from any folder.

`CLOUDAUTO_HOME` when set, else the per-user data folder (`~/.local/share/cloudauto` on
Linux). Jobs are under `<home>/runs/<job-id>`, endpoints under `<home>/endpoints`. A spec's
`backends.local.run_dir` puts one job's files elsewhere; the home keeps a link to it, so
`status`, `report` and `resume` still find the job by its id wherever they run, and a link
to that folder (`runs/.run-dirs/`), so `prune` finds what a killed submit left there.

The home is private to the user: what cloudauto creates there is 0700 (folders) and 0600
(files), for it holds specs, parameters, logs and models. `private()` is how: the processes
cloudauto starts for the home (scheduler, workers, endpoint servers, batch runners) inherit
its umask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

HOME_ENV = "CLOUDAUTO_HOME"


def home() -> Path:
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("cloudauto", appauthor=False)).resolve()


def runs_home() -> Path:
    return home() / "runs"


def endpoints_dir() -> Path:
    return home() / "endpoints"


PRIVATE_UMASK = 0o077
_OURS = ("runs", "endpoints", "batches")


@contextlib.contextmanager
def private() -> Iterator[Path]:
    """Create the home's files and folders (and start its processes) private to the user: 0700 folders, 0600 files.

    The home and its own folders are made private too when an earlier release left them open.
    """
    old = os.umask(PRIVATE_UMASK)
    try:
        root = home()
        root.mkdir(parents=True, exist_ok=True)
        for folder in (root, *(root / name for name in _OURS)):
            try:
                if folder.is_dir() and folder.stat().st_mode & 0o077:
                    folder.chmod(0o700)
            except OSError:  # not ours to change: leave it as it is
                pass
        yield root
    finally:
        os.umask(old)


RUN_DIRS = ".run-dirs"  # in the runs folder: a link to each folder a spec's run_dir put jobs in


def remember_run_dir(folder: Path) -> None:
    """Record `folder` (a spec's `backends.local.run_dir`) in the home before a submit writes anything there, so
    `prune` finds what a killed submit left in it (its `.creating-` folder, its standby's log) from any folder."""
    import hashlib

    folder = Path(folder).resolve()
    if folder == runs_home():
        return
    record = runs_home() / RUN_DIRS / hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    if record.is_symlink():
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another submit recorded it meanwhile
        record.symlink_to(folder, target_is_directory=True)


def run_dirs() -> list[Path]:
    """The folders other than the runs folder that specs' run_dir put jobs in (remember_run_dir), those still there."""
    records = runs_home() / RUN_DIRS
    found = {link.resolve() for link in (records.iterdir() if records.is_dir() else []) if link.is_symlink()}
    return sorted(f for f in found if f.is_dir())


__all__ = ["HOME_ENV", "RUN_DIRS", "endpoints_dir", "home", "private", "remember_run_dir", "run_dirs", "runs_home"]
