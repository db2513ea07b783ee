"""How a submitted job ends for the command that waits on it: the exit code, the leaderboard printed, CI's result and summary files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError
from .app import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_STILL_RUNNING,
    _duration,
    echo,
)


@dataclass
class CIOutputs:
    """What a CI step asked of submit / run: how long to wait, and where the result and the report go."""

    timeout: Optional[float] = None
    cancel_on_timeout: bool = False
    result: Optional[Path] = None
    summary: Optional[Path] = None
    picture: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)
    spec: Any = None  # the spec as loaded: its file, and the secrets it took from the environment
    estimate: Any = None  # the compile's worst-case cost (cloudauto.cost.Estimate), on a backend that bills

    def check(self) -> None:
        """Before anything is submitted: a result or summary that could not be written is said now, not after the job."""
        for target, option in ((self.result, "--result"), (self.summary, "--summary"), (self.picture, "--picture")):
            if target is not None and not target.resolve().parent.is_dir():
                raise click.UsageError(f"{option} {target}: there is no folder {target.resolve().parent}")


def ci_options(command: Callable) -> Callable:
    for option in reversed(
        [
            click.option(
                "--timeout",
                "timeout",
                metavar="DURATION",
                help="Stop waiting after this long (90s, 30m, 2h); the job goes on (exit 6).",
            ),
            click.option(
                "--cancel-on-timeout", is_flag=True, help="With --timeout: cancel the job instead of leaving it running."
            ),
            click.option(
                "--result",
                "result",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the result as JSON here (docs/ci.md).",
            ),
            click.option(
                "--summary",
                "summary",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Append a Markdown report here (default: $GITHUB_STEP_SUMMARY when set).",
            ),
            click.option(
                "--picture",
                type=click.Path(dir_okay=False, path_type=Path),
                help="With a summary: the sweep's PNG (default: <job>.png).",
            ),
        ]
    ):
        command = option(command)
    return command


def _ci_outputs(
    timeout: Optional[str],
    cancel_on_timeout: bool,
    result: Optional[Path],
    summary: Optional[Path],
    picture: Optional[Path],
    wait: bool,
) -> CIOutputs:

    if (timeout or cancel_on_timeout) and not wait:
        raise click.UsageError("--timeout and --cancel-on-timeout are for a job cloudauto waits for (--wait, or run)")
    if cancel_on_timeout and not timeout:
        raise click.UsageError("--cancel-on-timeout needs --timeout")
    seconds = _duration("--timeout", timeout)
    if summary is None and os.environ.get("GITHUB_STEP_SUMMARY"):
        summary = Path(os.environ["GITHUB_STEP_SUMMARY"])
    outputs = CIOutputs(seconds, cancel_on_timeout, result, summary, picture)
    outputs.check()
    return outputs


def _finish(
    job, wait: bool, verb: str = "submitted", ci: Optional[CIOutputs] = None, detach_on_interrupt: bool = False
) -> int:
    """Wait for a job (when asked), write the result and the report asked for, and turn the job's end into an exit code.

    Ctrl-C while waiting cancels the job (with `detach_on_interrupt`, leaves it running: exit 6).
    """
    ci = ci or CIOutputs()
    if verb == "submitted":
        echo(f"job {job.id} submitted to {job.backend}", err=True)
    if not wait:
        echo(job.id)
        _write_ci(job, ci, EXIT_OK)
        return EXIT_OK
    with job.watched():  # `delete` is refused until the results are read
        return _wait_and_say(job, ci, detach_on_interrupt)


def _wait_and_say(job, ci: CIOutputs, detach_on_interrupt: bool) -> int:
    import time

    from ..backend import JobStatus

    started = time.monotonic()
    detached = canceled = interrupted = False
    try:
        try:
            status = job.wait(timeout=ci.timeout)
        except TimeoutError:
            if not ci.cancel_on_timeout:
                detached = True
                status = job.status()
                echo(
                    f"cloudauto stopped waiting after {ci.timeout:.0f} s; job {job.id} goes on "
                    f"(cloudauto status {job.id} -b {job.backend})",
                    err=True,
                )
            else:
                echo(f"--timeout: canceling {job.id} ...", err=True)
                job.cancel()
                status = job.wait(progress=False)
                canceled = True
        except KeyboardInterrupt:
            if detach_on_interrupt:
                detached, status = True, job.status()
                echo(
                    f"\nleft job {job.id} running (--detach-on-interrupt): cloudauto status {job.id} -b {job.backend}; "
                    f"cloudauto cancel {job.id} -b {job.backend} stops it",
                    err=True,
                )
            else:
                interrupted = True
                status, left = _cancel_on_interrupt(job)
                detached = left and not status.is_final
    except CloudautoError as exc:  # the scheduler is gone: the file says so too
        _write_ci(job, ci, exc.exit_code, waited=time.monotonic() - started)
        raise
    # after a Ctrl-C the waiting is over: another one, while the outcome is said, changes nothing (it would leave
    # `aborted` and exit 130 in place of the job's exit code, and the CI files unwritten)
    with _held_interrupts(to_exit=True) if interrupted else contextlib.nullcontext():
        _print_summary(job)
        code = EXIT_STILL_RUNNING if detached else EXIT_OK if status is JobStatus.COMPLETED else EXIT_JOB_FAILED
        _write_ci(job, ci, code, detached=detached, canceled=canceled, waited=time.monotonic() - started)
    return code


def _cancel_on_interrupt(job) -> tuple[Any, bool]:
    """The first Ctrl-C: cancel the job and wait for it to end; (its status, whether a second Ctrl-C stopped the wait).

    The cancel request itself is sent whole (a Ctrl-C during it is held until it is done), so a
    second Ctrl-C never leaves a request half-made: it only stops the waiting, and the job's
    scheduler finishes the cancel on its own.
    """
    echo(
        f"\ncanceling job {job.id} (Ctrl-C again to stop waiting: the cancel goes on; "
        "run --detach-on-interrupt next time to keep a job running)",
        err=True,
    )
    with _held_interrupts() as held:
        job.cancel()
    if not held:
        try:
            return job.wait(progress=False), False
        except KeyboardInterrupt:
            pass
    status = job.status()
    if not status.is_final:
        echo(
            f"stopped waiting; job {job.id} is being canceled by its scheduler (cloudauto status {job.id} -b {job.backend})",
            err=True,
        )
    return status, True


@contextlib.contextmanager
def _held_interrupts(to_exit: bool = False) -> Iterator[list[int]]:
    """SIGINT held off while the block runs (main thread only); the list says whether one came.

    `to_exit`: in the `cloudauto` process, held until it exits: the command is done, and a Ctrl-C after the block
    (while the interpreter shuts down) ended the process by SIGINT in place of the job's exit code."""
    import signal
    import threading

    from .app import CONSOLE

    came: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    if to_exit and CONSOLE:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # SIG_IGN outlives the interpreter's shutdown; a handler does not
        yield came
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield came
    finally:
        signal.signal(signal.SIGINT, previous)


def _step_outputs(**values: str) -> None:
    """A GitHub Actions step's outputs (steps.<id>.outputs.job-id ...), where the runner asks for them."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.writelines(f"{key.replace('_', '-')}={value}\n" for key, value in values.items())
    except OSError as exc:
        raise CloudautoError(f"cannot write the step's outputs to $GITHUB_OUTPUT ({target}): {exc.strerror or exc}") from None


def _write_ci(
    job, ci: CIOutputs, code: int, *, detached: bool = False, canceled: bool = False, waited: Optional[float] = None
) -> None:
    _step_outputs(job_id=job.id, backend=job.backend, status=job.status().value)
    if ci.result is None and ci.summary is None:
        return
    from .. import run_result

    spec = ci.spec or job.spec
    trials = job.trials()  # once: on a cloud backend each read is a round of service calls
    result = run_result.build(
        job,
        trials=trials,
        spec_file=spec.source,
        estimate=ci.estimate,
        exit_code=code,
        warnings=ci.warnings,
        detached=detached,
        canceled_on_timeout=canceled,
        waited_s=waited,
        planned=_planned(job),
    )
    if ci.result is not None:
        echo(f"wrote {run_result.write(result, ci.result, spec=spec)}", err=True)
    if ci.summary is not None:
        from ..report import sweep_png
        from ..summary import append, markdown

        picture = sweep_png(job, ci.picture or Path(f"{job.id}.png")) if trials else None
        echo(f"wrote the summary to {append(ci.summary, markdown(result, trials, picture=picture), spec=spec)}", err=True)


def _status_line(job) -> str:
    """`<id>: <status> (<why>)`: what the job is doing, with the reason when the backend knows one."""
    reason = job.status_reason()
    return f"{job.id}: {job.status().value}" + (f" ({reason})" if reason else "")


def _print_failures(job, trials=None) -> None:
    from ..report import failure_groups

    for line in failure_groups(job.trials() if trials is None else trials):
        echo(f"  {line}", err=True)


def _print_summary(job) -> None:
    from ..report import leaderboard_text

    echo(f"job {_status_line(job)}")
    echo(leaderboard_text(job))
    _print_failures(job)
    best = job.best_trial()
    if best is not None:
        scores = ", ".join(f"{k}={v:.4g}" for k, v in best.scores.items() if isinstance(v, (int, float)))
        echo(
            f"best trial: {best.number} {job.spec.objective.name}={best.objective:.4g} {best.params}"
            + (f" ({scores})" if scores else "")
        )
        _say_test_set(best)


def _say_test_set(best) -> None:
    from ..run_result import test_set_note

    note = test_set_note(best)
    if note:
        echo(f"warning: {note}", err=True)


def _ended_badly(status) -> bool:
    from ..backend import JobStatus

    return status in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.INTERRUPTED)


def _planned(job) -> int:
    """How many trials the job will run: max_trials, or fewer where the grid has fewer points."""
    from ..tuning.samplers import planned_trials

    return planned_trials(job.spec, job.parent_trials())
