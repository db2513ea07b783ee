"""A scheduler started before its job exists, so its first workers import AutoGluon while submit checks the data.

`submit` starts it (`python -m cloudauto_local.standby PRELOAD WORKERS CWD`) before the data
check: it starts its warm workers at once, imports the scheduler, and waits on stdin. When
submit has written the job's store and claimed it, it writes the run folder on stdin: this
process becomes the job's scheduler (the claim records its pid), with the workers already
importing. Anything else (submit refused the spec or the data, or died) closes stdin: the
workers are killed and it exits, having written nothing. Its output and its workers' go to
a log file beside the job's folder that submit renames to the job's `orchestrator.log`.

That log is flocked (shared) from its creation by every process that writes it (submit, this process and its
workers share the one open file): a submit killed with -9 leaves it behind, unlocked once its standby has
exited, and `prune` removes it then (stale_logs); a live standby's is never taken for stale.

Only the standard library is imported before the workers start (the package's `__init__`
is lazy for that reason).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Optional

LOG_GLOB = ".standby-*.log"
STALE_AFTER_S = 10.0  # a log this young may be between its creation and its lock


def stale_logs(root: Path) -> list[Path]:
    """The logs in `root` of standbys that are gone (a submit killed before it handed one the job or abandoned it)."""
    import time

    found = []
    for path in sorted(root.glob(LOG_GLOB)) if root.is_dir() else []:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # renamed into its job's folder meanwhile, or not a file of ours
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live standby (or one of its workers) writes it
                continue
            found.append(path)
        finally:
            os.close(fd)
    return found


def preload_for(spec: Any) -> str:
    """What a worker of this spec (a JobSpec) imports before its first trial (cloudauto_local.worker.PRELOAD)."""
    from cloudauto.runtime.autogluon_params import MULTIMODAL_TASKS
    from cloudauto.spec.models import Engine

    if spec.engine is Engine.COMMAND or spec.backends.local.mode.value == "docker":
        return "none"
    return "multimodal" if spec.task in MULTIMODAL_TASKS else "autogluon"


def spawn_worker(preload: str, cwd: Optional[str], stderr: IO[bytes] | int | None) -> subprocess.Popen:
    """A warm worker (cloudauto_local.worker) in its own session: JSON lines on its stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "cloudauto_local.worker", "--preload", preload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        cwd=cwd or None,
    )


def _kill(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Standby:
    """Submit's side: a standby scheduler, started before the data check and handed the job once it is claimed."""

    def __init__(self, proc: subprocess.Popen, log: Path, made: Optional[Path]):
        self.proc, self.log, self.made = proc, log, made
        self.handed = False

    @classmethod
    def start(cls, root: Path, preload: str, workers: int, cwd: Optional[str]) -> Standby:
        """Its log is a hidden file in `root`, the folder the job's folder will be made in (a rename moves it there)."""
        made = None if root.exists() else root
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".standby-", suffix=".log", dir=root)
        fcntl.flock(fd, fcntl.LOCK_SH)  # held while any process has the log open: `prune` leaves it alone
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloudauto_local.standby", preload, str(workers), cwd or ""],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,  # detached: a closed terminal does not end the sweep
            )
        return cls(proc, Path(name), made)

    def hand_over(self, run_dir: Path) -> Optional[int]:
        """Make it the scheduler of the job in `run_dir`: its pid, or None when it is gone (start one the usual way)."""
        try:
            os.replace(self.log, run_dir / "orchestrator.log")  # the same file system: its open files follow
        except OSError:
            return None
        if self.proc.poll() is not None:
            return None
        try:
            self.proc.stdin.write(os.fsencode(run_dir) + b"\n")  # a folder name need not be UTF-8
            self.proc.stdin.close()
        except OSError:  # BrokenPipeError: it died a moment ago
            return None
        self.handed = True
        return self.proc.pid

    def abandon(self) -> None:
        """Submit did not hand it a job: it kills its workers and exits; its log goes, and a runs folder made for it."""
        if self.handed:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        try:
            self.log.unlink()
        except FileNotFoundError:  # handed over, then the hand-over failed: the log is the job's
            pass
        if self.made is not None:
            try:
                self.made.rmdir()
            except OSError:  # not empty: another job's folder is there by now
                pass


def main() -> None:
    os.umask(0o077)  # what the scheduler and its workers write into the home is the user's alone
    preload, count, cwd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    workers = [spawn_worker(preload, cwd, None) for _ in range(count)]  # their stderr: ours, the log beside the job
    handed: list[str] = []

    def wait_for_the_job() -> None:
        line = os.fsdecode(sys.stdin.buffer.readline().strip())
        if not line:  # submit refused the job or died: nothing runs
            _kill(workers)
            os._exit(0)
        handed.append(line)

    waiter = threading.Thread(target=wait_for_the_job, name="standby", daemon=True)
    waiter.start()
    from . import orchestrator  # the scheduler's own imports, while the workers import theirs

    waiter.join()
    orchestrator.main(Path(handed[0]), ready=workers)


if __name__ == "__main__":
    main()
