"""A picture of a sweep: each trial's reported metric per step, terminated trials marked.

Works on any backend's handle (it only reads `trials()`); matplotlib loads here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .backend import TrialStatus

if TYPE_CHECKING:  # pragma: no cover
    from .backend import JobHandle, Trial

FAILED_STATES = (TrialStatus.FAILED, TrialStatus.TIMED_OUT)


def last_line(error: str) -> str:
    """The line of an error that says what went wrong: its last, in a log tail ('log ends: a | b') too."""
    text = error.strip().replace("log ends: ", "\n")
    lines = [part.strip() for line in text.splitlines() for part in line.split(" | ") if part.strip()]
    return lines[-1] if lines else error.strip()


def failure_groups(trials: Iterable[Trial]) -> list[str]:
    """One line per distinct error: how many trials, which, and the error's last line."""
    groups: dict[str, list[int]] = {}
    for trial in trials:
        if trial.status in FAILED_STATES and trial.error:
            groups.setdefault(last_line(trial.error), []).append(trial.number)
    lines = []
    for error, numbers in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        which = ", ".join(map(str, numbers[:20])) + (" ..." if len(numbers) > 20 else "")
        lines.append(f"{len(numbers)} trial{'s' if len(numbers) > 1 else ''} failed ({which}): {error}")
    return lines


def leaderboard_text(job: JobHandle) -> str:
    board = job.leaderboard()
    if board.empty:
        return "no trials yet"
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
        return board.to_string(index=False)


def sweep_png(job: JobHandle, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .backend import TrialStatus

    spec = job.spec
    trials = job.trials()
    best = job.best_trial()
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for trial in trials:
        if not trial.metrics:
            continue
        steps = [m.step for m in trial.metrics]
        values = [m.value for m in trial.metrics]
        is_best = best is not None and trial.number == best.number
        (line,) = ax.plot(
            steps,
            values,
            marker="o",
            markersize=3,
            linewidth=2.5 if is_best else 1,
            label=f"trial {trial.number}" + (" (best)" if is_best else ""),
            alpha=1 if is_best else 0.7,
        )
        if trial.status is TrialStatus.TERMINATED:
            ax.plot(steps[-1], values[-1], marker="x", markersize=10, color=line.get_color(), markeredgewidth=2)
        elif trial.status in (TrialStatus.FAILED, TrialStatus.TIMED_OUT, TrialStatus.CANCELED):
            ax.plot(steps[-1], values[-1], marker="s", markersize=7, color=line.get_color(), fillstyle="none")
    ax.set_xlabel("step (one report of the metric)")
    ax.set_ylabel(f"{spec.objective.name} ({spec.objective.goal.value})")
    policy = spec.policy.policy if spec.policy else "none"
    ax.set_title(f"{job.id}\n{len(trials)} trials, early termination: {policy} (x = terminated, square = failed)", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(trials) <= 20:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


__all__ = ["failure_groups", "last_line", "leaderboard_text", "sweep_png"]
