"""Deleting a local job: its folder (store, logs, every trial's model), its link in the home, its batches' parts and
the records of endpoints that served it and no longer run.

Refused while the job is in use: a live scheduler runs it (the check holds the store's write lock, which a `resume`
claim also takes, so no scheduler starts between the check and the removal), a batch scores with its model, or an
endpoint deployed from it serves or is being deployed. The folder is first renamed aside (one rename: a second delete,
or a reader, finds no job) and its store removed, then the rest is removed; a removal killed half-way leaves a
`.<id>.deleting-<pid>` folder that `prune` removes.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from cloudauto.backend import JobInUse, JobStatus
from cloudauto.spec.errors import CloudautoError

from .paths import runs_home
from .store import CREATING, WATCHERS, StoreError, owner_alive, unborn

if TYPE_CHECKING:  # pragma: no cover
    from .handle import LocalJobHandle

SUBMITTING_S = 60.0  # a pending job with no scheduler yet this young is being submitted
TRASH = ".deleting-"


class JobGone(CloudautoError):
    """The job was deleted (by another command) before this one could."""

    exit_code = 3


def footprint(path: Path) -> int:
    """Bytes of the files under `path` (links not followed)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _endpoints_of(job_id: str) -> tuple[list[tuple[str, str]], list[object]]:
    """(live endpoints deployed from the job: name and what it does; records of its endpoints that no longer run)."""
    from .endpoint import LocalEndpoint, _records, list_endpoints

    live, dead = [], []
    status = {info.name: info for info in list_endpoints() if info.job == job_id}
    for record in _records():
        info = status.get(record.name)
        if info is None:
            continue
        if info.status in ("serving", "starting"):
            live.append((record.name, f"{info.status} at {record.url}"))
        else:
            dead.append(LocalEndpoint(record))
    return live, dead


def _batches_of(job_id: str) -> tuple[list[str], list[Path]]:
    """(running batches scoring with the job's models, described; folders of its ended batches)."""
    from .batch import LocalBatchJob, batches_dir

    running, ended = [], []
    folder = batches_dir()
    for plan in sorted(folder.glob("*/batch.json")) if folder.is_dir() else []:
        try:
            if json.loads(plan.read_text()).get("job_id") != job_id:
                continue
            status = LocalBatchJob(plan.parent).status()
        except (OSError, ValueError, CloudautoError):
            continue
        if status in (JobStatus.RUNNING, JobStatus.PENDING):
            running.append(f"batch {plan.parent.name} (writing {json.loads(plan.read_text()).get('output')})")
        else:
            ended.append(plan.parent)
    return running, ended


def delete(handle: LocalJobHandle, *, dry_run: bool = False) -> int:
    """Remove the job and all it left in the home; the bytes it held (what would be freed, with `dry_run`)."""
    link = runs_home() / handle.id
    link = link if link.is_symlink() else None
    try:
        with handle.store._db() as db, ExitStack() as held:  # the write lock: a resume's claim waits for it, then finds no store
            job = handle.store._job(db)
            in_use = []
            if not _no_watcher(handle.dir, held):
                in_use.append("a `cloudauto run` (or submit --wait) waits on it and reads its results: let it end first")
            if owner_alive(job):
                in_use.append(f"its scheduler (pid {job.orchestrator_pid}) is running it: cloudauto cancel {handle.id} first")
            elif job.status is JobStatus.PENDING and not job.orchestrator_pid and time.time() - job.created < SUBMITTING_S:
                in_use.append("it is being submitted")
            live, dead = _endpoints_of(handle.id)
            in_use += [f"endpoint '{n}' ({what}) serves its model: cloudauto delete-endpoint {n} first" for n, what in live]
            running, ended = _batches_of(handle.id)
            in_use += [f"{b} scores with its model: wait for it to end" for b in running]
            if in_use:
                raise JobInUse(f"job {handle.id} is in use, nothing was deleted: " + "; ".join(in_use))
            size = footprint(handle.dir) + sum(footprint(b) for b in ended)
            if dry_run:
                return size
            trash = handle.dir.with_name(f".{handle.id}{TRASH}{os.getpid()}")
            os.rename(handle.dir, trash)
    except (StoreError, FileNotFoundError) as exc:
        if unborn(handle.dir):  # a job folder an earlier release's killed submit left with no job in its store
            size = footprint(handle.dir)
            if not dry_run:
                trash = handle.dir.with_name(f".{handle.id}{TRASH}{os.getpid()}")
                os.rename(handle.dir, trash)
                if link is not None:
                    link.unlink(missing_ok=True)
                shutil.rmtree(trash, ignore_errors=True)
            return size
        if not (handle.dir / "run.db").exists():
            raise JobGone(f"no local job '{handle.id}': it was deleted meanwhile") from None
        raise exc
    for name in ("run.db", "run.db-wal", "run.db-shm"):  # no listing finds a job in the trash
        (trash / name).unlink(missing_ok=True)
    if link is not None:
        link.unlink(missing_ok=True)
    for endpoint in dead:
        endpoint.delete(why=f"its job {handle.id} was deleted")
    for folder in ended:
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)
    return size


def _no_watcher(folder: Path, held: ExitStack) -> bool:
    """Whether no `run` waits on the job (LocalJobHandle.watched): its lock is then held exclusively until `held` closes."""
    import fcntl

    try:
        fh = held.enter_context(open(folder / WATCHERS))
    except FileNotFoundError:  # no run ever waited on it here
        return True
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def leftovers(root: Optional[Path] = None) -> list[tuple[Path, str]]:
    """What deletes and submits killed half-way left (their process is gone), with what left it: a delete's trash
    folder, a submit's job folder still being built (RunStore.create), in the runs folder and in the folders specs'
    run_dir put jobs in; then the home's links to a job folder such a submit never made."""
    root = root or runs_home()
    links = [
        (link, "a submit that was stopped half-way (a link to a job folder it never made)")
        for link in (sorted(root.iterdir()) if root.is_dir() else [])
        if not link.name.startswith(".") and link.is_symlink() and _never_made(link)
    ]
    found = []
    for folder in _job_folders(root):
        for marker, why in ((TRASH, "a delete that was stopped half-way"), (CREATING, "a submit that was stopped half-way")):
            for path in folder.glob(f".*{marker}*") if folder.is_dir() else []:
                if (path.is_symlink() or path.is_dir()) and not _alive(path.name.rsplit(marker, 1)[-1]):
                    found.append((path, why))
    return links + found  # each link before the `.creating-` folder that marks it: a prune stopped between keeps neither


def _alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists() and int(pid) != os.getpid()


def _never_made(link: Path) -> bool:
    """Whether `link` (the home's, to a job elsewhere) names a folder a killed submit never made: none there, its
    run_dir there (not a disk unmounted), and beside it the `.<id>.creating-<pid>` folder of a submit that is gone.
    RunStore.create makes the link while it builds that folder and renames the folder into place when the job is
    whole: a link with no such folder beside it is a job that was made, its folder since moved or deleted by hand
    (`runs` says it is missing; prune keeps the link)."""
    try:
        target = Path(os.path.abspath(link.parent / os.readlink(link)))
    except OSError:  # removed meanwhile
        return False
    if target.exists() or not target.parent.is_dir():
        return False
    building = list(target.parent.glob(f".{glob.escape(target.name)}{CREATING}*"))
    if not building or any(_alive(p.name.rsplit(CREATING, 1)[-1]) for p in building):
        return False
    return not target.exists()  # renamed into place since the first look: a live job


def _job_folders(root: Path) -> list[Path]:
    """The runs folder, the folders specs' run_dir recorded (paths.run_dirs) and those the runs folder's links point into."""
    from .paths import run_dirs

    folders = {root}
    if root == runs_home():
        folders.update(run_dirs())
    for link in root.iterdir() if root.is_dir() else []:
        if link.is_symlink() and not link.name.startswith("."):
            folders.add(Path(os.path.abspath(link.parent / os.readlink(link))).parent)
    return sorted(f for f in folders if f.is_dir())


def remove(path: Path) -> bool:
    """Remove a folder, or a link in its place (the link only, its target never followed); whether it is gone."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
    return not (path.exists() or path.is_symlink())


def stale_standby_logs(root: Optional[Path] = None) -> list[Path]:
    """Logs of standby schedulers (standby.py) whose submit was killed before it handed them a job: in the runs folder,
    and in the folders specs' `backends.local.run_dir` put jobs in (recorded before the standby starts)."""
    from .standby import stale_logs

    return [log for folder in _job_folders(root or runs_home()) for log in stale_logs(folder)]


def old_batches(older_than: float, *, dry_run: bool = False) -> list[tuple[str, int]]:
    """Remove the folders of batches that ended `older_than` seconds ago or more (completed, failed or interrupted),
    and the temporary files a killed one left beside its output; (what, bytes) for each.

    A batch's folder is working state: a completed one keeps only its record (its parts go once the output is in
    place), a failed or interrupted one the parts a rerun would carry on from. Each is removed while its output's lock
    is held, so no batch into that output starts meanwhile; one still running, or starting, is left alone.
    """
    import fcntl

    from cloudauto.runtime.batch_io import stale_temps

    from .batch import LocalBatchJob, _lock_file, batches_dir

    root, now, removed = batches_dir(), time.time(), []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name == "locks" or not (folder / "batch.json").is_file():
            continue
        try:
            batch = LocalBatchJob(folder)
            status = batch.status()
            ended = max(p.stat().st_mtime for p in folder.iterdir())
        except (OSError, ValueError, TypeError, CloudautoError):
            continue
        if status in (JobStatus.RUNNING, JobStatus.PENDING) or now - ended < older_than:
            continue
        try:
            fd = os.open(_lock_file(batch.output), os.O_RDWR)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # a batch into that output runs (this one, started again, or another)
                    continue
            temps = [t for t in stale_temps(batch.output) if t.is_file()]
            size = footprint(folder) + sum(t.stat().st_size for t in temps)
            if not dry_run:
                for temp in temps:
                    temp.unlink(missing_ok=True)
                shutil.rmtree(folder, ignore_errors=True)
            removed.append((f"batch {folder.name} ({status.value}, {batch.output})", size))
        finally:
            if fd is not None:
                os.close(fd)
    return removed


__all__ = ["JobGone", "delete", "footprint", "leftovers", "remove", "old_batches", "stale_standby_logs"]
