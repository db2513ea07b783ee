"""One pool of trial slots for every local job of a home: the machine shared fairly, in submit order.

`CLOUDAUTO_LOCAL_SLOTS` (default: the cores this process may run on) is how many trials of all
local jobs run at once; a job's own `max_concurrent_trials` still caps its share. A running trial
holds one slot, whatever its number of CPUs (those are the cores divided among the job's own
concurrent trials, as before; GPUs are not pooled). The scheduler holds the slot for its trial
(in docker mode too: the container's trial is the scheduler's), so its workers and containers
need nothing of this.

Everything is an OS lock that dies with its process, never a count a crash could leave wrong:
slot N is an flock on `<home>/slots/slot-N`; a scheduler killed with -9 frees its slots as the
kernel closes its files. A scheduler that finds no slot it may take queues a ticket,
`<home>/slots/queue/<time>-<pid>.ticket`, flocked as long as it waits; tickets are served oldest
first (a job queues again after each trial it starts, so jobs take turns). A ticket whose lock
is free is a dead scheduler's, and whoever finds it removes it. What a slot or ticket file says
(the job, its pid) is for `status`; a file left behind is harmless: only the lock counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import NotSupportedError

from .paths import home, private
from .store import process_start

SLOTS_ENV = "CLOUDAUTO_LOCAL_SLOTS"

log = logging.getLogger("cloudauto.scheduler")  # the scheduler's log: orchestrator.log


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def slot_count() -> int:
    """How many trials of all local jobs may run at once: CLOUDAUTO_LOCAL_SLOTS, else the cores."""
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if not raw:
        return cores()
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise NotSupportedError(
            f"{SLOTS_ENV}={raw!r} is not a whole number of at least 1: it is how many trials of all local jobs "
            f"run at once on this machine; set it to a count, or unset it for the {cores()} cores"
        )
    return count


def slots_dir() -> Path:
    return home() / "slots"


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class Pool:
    """This scheduler's view of the slots: take one before a trial starts, keep as many as run."""

    def __init__(self, job_id: str, count: int, folder: Optional[Path] = None):
        self.job_id, self.count = job_id, count
        self.folder = folder or slots_dir()
        self.queue = self.folder / "queue"
        with private():  # 0700 folders, 0600 files, as the rest of the home
            self.queue.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        self.me = {"job": job_id, "pid": pid, "start": process_start(pid)}
        self._fds: dict[int, int] = {}
        self.held: list[int] = []
        self._ticket: Optional[tuple[Path, int]] = None
        self._queued = 0.0

    # slots -----------------------------------------------------------------------------------
    def _fd(self, index: int) -> int:
        fd = self._fds.get(index)
        if fd is None:
            fd = self._fds[index] = os.open(self.folder / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600)
        return fd

    def _free(self, index: int) -> None:
        fd = self._fds[index]
        os.ftruncate(fd, 0)  # before the unlock: no one reads this holder in a slot it no longer holds
        fcntl.flock(fd, fcntl.LOCK_UN)

    def take(self) -> bool:
        """One more slot, if one is free and no older waiter needs it; else queue (once) and say False.

        A waiter takes a slot only when there are more free slots than live tickets ahead of it, so
        the oldest ticket is served first and none waits for ever behind jobs that come later.
        """
        need = self._ahead() + 1
        got: list[int] = []
        for index in range(self.count):
            if index not in self.held and _lock(self._fd(index)):
                got.append(index)
                if len(got) == need:
                    break
        if len(got) < need:
            for index in got:
                fcntl.flock(self._fds[index], fcntl.LOCK_UN)
            if self._ticket is None:
                self._enqueue(need - 1)
            return False
        first, *others = got
        for index in others:
            fcntl.flock(self._fds[index], fcntl.LOCK_UN)
        os.ftruncate(self._fds[first], 0)  # a killed holder's words may still be there
        os.pwrite(self._fds[first], json.dumps({**self.me, "since": time.time()}).encode(), 0)
        self.held.append(first)
        if self._ticket is not None:
            log.info("slot %d is free: the next trial starts after %.1fs in the queue", first, time.time() - self._queued)
        self._dequeue()
        return True

    def keep(self, running: int) -> None:
        """Free the slots beyond the trials running now (a trial ended, failed, or its worker died)."""
        while len(self.held) > running:
            self._free(self.held.pop())

    def close(self) -> None:
        """Free everything (the scheduler is ending; a kill does the same, by the kernel)."""
        self.keep(0)
        self._dequeue()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # the queue -------------------------------------------------------------------------------
    def _enqueue(self, ahead: int) -> None:
        stamp = time.time_ns()
        pid = self.me["pid"]
        hidden = self.queue / f".{pid}-{stamp}.tmp"  # locked before it is visible: no one takes it for a dead one
        fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({**self.me, "since": time.time(), "count": self.count}).encode())
        path = self.queue / f"{stamp:020d}-{pid}.ticket"
        os.rename(hidden, path)
        self._ticket, self._queued = (path, fd), time.time()
        log.info(
            "the next trial waits its turn for a slot: %d of %d held, %d queued ahead (%s)",
            len(holders(self.folder)),
            self.count,
            ahead,
            SLOTS_ENV,
        )

    def _dequeue(self) -> None:
        if self._ticket is not None:
            path, fd = self._ticket
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.close(fd)
            self._ticket = None

    def _ahead(self) -> int:
        """Live tickets older than ours (all of them while we have none)."""
        mine = self._ticket[0].name if self._ticket else None
        return sum(1 for _ in live_tickets(self.queue, before=mine))


def live_tickets(queue: Path, before: Optional[str] = None) -> list[dict[str, Any]]:
    """The waiting schedulers' tickets, oldest first; a dead one's is removed on the way."""
    try:
        names = sorted(n for n in os.listdir(queue) if n.endswith(".ticket"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if before is not None and name >= before:
            break
        path = queue / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if _lock(fd):  # no one holds it: its scheduler is gone
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            found.append(_json(os.pread(fd, 4096, 0)))
        finally:
            os.close(fd)
    return found


def holders(folder: Optional[Path] = None) -> list[dict[str, Any]]:
    """Who holds a slot now, read from the slot files (a dead holder's leftover is not counted; nothing is locked)."""
    folder = folder or slots_dir()
    out = []
    for path in sorted(folder.glob("slot-*")):
        try:
            found = _json(path.read_bytes())
        except OSError:
            continue
        if _alive(found):
            out.append(found)
    return out


def _alive(holder: dict[str, Any]) -> bool:
    """Is the process a slot file names still the one that wrote it (same pid, same start)?"""
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if holder.get("start") is not None:
        return process_start(pid) == holder["start"]
    try:  # no /proc to read a start from: the pid alone
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def waiting(job_id: str, folder: Optional[Path] = None) -> Optional[str]:
    """What `status` says of a job whose next trial waits for a slot; None when it does not wait."""
    folder = folder or slots_dir()
    tickets = live_tickets(folder / "queue")
    index = next((i for i, t in enumerate(tickets) if t.get("job") == job_id), None)
    if index is None:
        return None
    ticket = tickets[index]
    held = holders(folder)
    jobs: dict[str, int] = {}
    for holder in held:
        jobs[str(holder.get("job"))] = jobs.get(str(holder.get("job")), 0) + 1
    by = ", ".join(f"{job}: {n}" for job, n in sorted(jobs.items(), key=lambda kv: (-kv[1], kv[0])))
    since = time.strftime("%H:%M:%S", time.localtime(ticket.get("since") or time.time()))
    parts = [f"a trial waits for a slot since {since} ({ticket.get('count', '?')} slots, {SLOTS_ENV})"]
    if index:
        parts.append(f"{index} queued ahead of it")
    parts.append(f"held by {by}" if by else "none held at this moment: it is next")
    return "; ".join(parts)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw.decode(errors="replace").strip() or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


__all__ = ["SLOTS_ENV", "Pool", "cores", "holders", "live_tickets", "slot_count", "slots_dir", "waiting"]
