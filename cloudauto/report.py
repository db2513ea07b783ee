"""A picture of a sweep: each trial's reported metric per step, terminated trials marked.

Works on any backend's handle (it only reads `trials()`); matplotlib loads here only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .backend import TrialStatus

if TYPE_CHECKING:  # pragma: no cover
    from .backend import JobHandle, Trial

FAILED_STATES = (TrialStatus.FAILED, TrialStatus.TIMED_OUT)


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)\b")


def headline(error: str) -> str:
    """The line of an error that says what went wrong.

    A message's first line (AutoGluon's multi-line errors end in lists, e.g. of valid metric
    names); in a traceback or a log tail ('log ends: a | b'), its last exception line.
    """
    text = error.strip()
    if "log ends: " not in text and "Traceback (most recent call last)" not in text:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return first or text
    text = text.replace("log ends: ", "\n")
    lines = [part.strip() for line in text.splitlines() for part in line.split(" | ") if part.strip()]
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    return raised[-1] if raised else lines[-1] if lines else text


last_line = headline  # the name it had before


def failure_groups(trials: Iterable[Trial]) -> list[str]:
    """One line per distinct error: which trial (`trial 2 failed: ...`), or how many and which, and the error's headline."""
    groups: dict[str, list[int]] = {}
    for trial in trials:
        if trial.status in FAILED_STATES and trial.error:
            groups.setdefault(headline(trial.error), []).append(trial.number)
    lines = []
    for error, numbers in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        if len(numbers) == 1:
            lines.append(f"trial {numbers[0]} failed: {error}")
            continue
        which = ", ".join(map(str, numbers[:20])) + (" ..." if len(numbers) > 20 else "")
        lines.append(f"{len(numbers)} trials failed ({which}): {error}")
    return lines


def leaderboard_text(job: JobHandle) -> str:
    board = job.leaderboard()
    if board.empty:
        return "no trials yet"
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
        return board.to_string(index=False)


MARKERS = "o^Dvp<>h*"  # never "s" nor "x": those mark how a trial ended (failed, stopped)
LINESTYLES = ("-", "--", "-.", ":")
BOARD_ROWS = 20  # trials in the picture's table; a line says how many more there are


PARAM_WIDTH = 100  # characters of parameters a board line holds: 48 before them, 8 pt monospace over 11 inches
PARAM_LINES = 4  # lines a trial's parameters take at most on the board


def _params_lines(params: dict, width: int = PARAM_WIDTH) -> list[str]:
    """A trial's parameters wrapped between parameters, never cut inside the list: two trials differing only in a
    late parameter (Chronos2.fine_tune after a long model_path) read apart. Beyond PARAM_LINES lines, `…`."""
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()]
    lines: list[str] = []
    for item in items:
        item = item if len(item) <= width else item[: width - 1] + "…"
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += ", " + item
        else:
            if lines:
                lines[-1] += ","
            lines.append(item)
    if len(lines) > PARAM_LINES:
        lines = lines[:PARAM_LINES]
        lines[-1] = lines[-1].rstrip(",") + " …"
    return lines or [""]


def curve_groups(trials: Iterable[Trial]) -> dict[tuple, list[Trial]]:
    """Trials by the values they reported: trials with the same reports would hide one another, so each set is drawn once."""
    drawn: dict[tuple, list[Trial]] = {}
    for trial in trials:
        if trial.metrics:
            key = tuple((m.step, round(m.value, 12)) for m in trial.metrics)
            drawn.setdefault(key, []).append(trial)
    return drawn


def board_lines(ranked: list[Trial], metric: str) -> list[str]:
    """The leaderboard as the picture shows it: rank, trial, how it ended, objective, seconds, parameters.

    A trial without an objective (interrupted, still running) gets no rank and `-`.
    """
    lines = [f"{'rank':>4}  {'trial':>5}  {'status':<10} {metric:>12}  {'seconds':>8}  parameters"]
    for rank, trial in enumerate(ranked, 1):
        seconds = f"{trial.duration:.1f}" if trial.duration is not None else "-"
        scored = trial.objective is not None
        value = f"{trial.objective:>12.6g}" if scored else f"{'-':>12}"
        head = f"{rank if scored else '-':>4}  {trial.number:>5}  {trial.status.value:<10} {value}  {seconds:>8}  "
        first, *more = _params_lines(trial.params)
        lines.append(head + first)
        lines.extend(" " * len(head) + line for line in more)
    if not any(t.objective is not None for t in ranked):
        lines.append("      no trial has a result")
    return lines


def board_trials(trials: list[Trial], maximize: bool) -> list[Trial]:
    """Every trial the failure lines do not name: the scored ones best first, then the others by number."""
    ranked = sorted((t for t in trials if t.objective is not None), key=lambda t: t.objective, reverse=maximize)
    grouped = {id(t) for t in trials if t.status in FAILED_STATES and t.error}  # failure_groups names these
    return ranked + [t for t in trials if t.objective is None and id(t) not in grouped]


IMPORTANCE_BARS = 15


def best_importance(best: Optional[Trial]) -> list[dict]:
    """The best trial's permutation importance (autogluon.feature_importance), most important first; [] where it saved none."""
    if best is None or "dir" not in best.artifacts:
        return []
    from .runtime.trial_extras import IMPORTANCE_FILE, read_json

    try:
        found = read_json(Path(best.artifacts["dir"]), IMPORTANCE_FILE)
    except (OSError, ValueError):
        return []
    rows = [r for r in (found or {}).get("features", []) if isinstance(r.get("importance"), (int, float))]
    return sorted(rows, key=lambda r: r["importance"], reverse=True)[:IMPORTANCE_BARS]


def _draw_importance(ax: Any, rows: list[dict], number: int) -> None:
    names = [r["feature"] for r in rows][::-1]
    values = [r["importance"] for r in rows][::-1]
    errors = [r.get("stddev") or 0.0 for r in rows][::-1]
    ax.barh(names, values, xerr=errors, color="tab:blue", alpha=0.8, capsize=2)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("drop in the metric when the feature is shuffled (permutation importance, validation data)")
    ax.set_title(f"feature importance of the best trial ({number})", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


def sweep_png(job: JobHandle, out: str | Path) -> Path:
    """The sweep as a reviewer reads it: every trial's reported metric over its steps (trials whose
    values coincide drawn once and named together), how each ended, the leaderboard of the best
    trials with their parameters, and the failures grouped by error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    spec = job.spec
    trials = job.trials()
    best = job.best_trial()
    goal = spec.objective.goal
    name = spec.objective.name

    listed = board_trials(trials, goal.value == "maximize")
    failures = failure_groups(trials)
    board_rows = min(BOARD_ROWS, len(listed))
    if len(listed) > board_rows:  # the line saying so takes the last row
        board_rows -= 1
        failures.insert(0, f"... and {len(listed) - board_rows} more: cloudauto trials {job.id}")
    lines = board_lines(listed[:board_rows], name) + failures
    board_height = 0.17 * (1 + max(len(lines), 2))  # inches: one line of 8 pt monospace each
    importance = best_importance(best)
    importance_height = 0.9 + 0.22 * len(importance) if importance else 0.0
    heights = [5.2, board_height] + ([importance_height] if importance else [])
    fig = plt.figure(figsize=(11, sum(heights)), dpi=110, layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights)
    curve_ax, board_ax = axes[0], axes[1]
    if importance:
        _draw_importance(axes[2], importance, best.number)

    drawn = curve_groups(trials)
    colors = plt.get_cmap("tab10").colors
    for i, (key, group) in enumerate(drawn.items()):
        steps, values = [k[0] for k in key], [k[1] for k in key]
        is_best = best is not None and any(t.number == best.number for t in group)
        numbers = ", ".join(str(t.number) for t in group)
        label = f"trial{'s' if len(group) > 1 else ''} {numbers}" + (" (best)" if is_best else "")
        if len(group) > 1:
            label += " (same values)"
        (line,) = curve_ax.plot(
            steps,
            values,
            color="black" if is_best else colors[i % len(colors)],
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            linestyle=LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)],
            linewidth=2.6 if is_best else 1.2,
            alpha=1 if is_best else 0.8,
            label=label,
            zorder=3 if is_best else 2,
        )
        end = group[0].status
        if end is TrialStatus.TERMINATED:
            curve_ax.plot(steps[-1], values[-1], marker="x", markersize=11, color=line.get_color(), markeredgewidth=2.2)
        elif end in (TrialStatus.FAILED, TrialStatus.TIMED_OUT, TrialStatus.CANCELED):
            curve_ax.plot(steps[-1], values[-1], marker="s", markersize=8, color=line.get_color(), fillstyle="none")
        curve_ax.annotate(
            numbers if len(group) <= 3 else f"{group[0].number}+{len(group) - 1}",
            (steps[-1], values[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            color=line.get_color(),
            va="center",
        )
    silent = [t for t in trials if not t.metrics]
    curve_ax.set_xlabel("step (one report of the metric)")
    curve_ax.set_ylabel(f"{name} ({goal.value})")
    curve_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    curve_ax.grid(alpha=0.3)
    policy = spec.policy.policy if spec.policy else "none"
    reason = job.status_reason()
    status = job.status().value + (f" ({reason})" if reason and len(reason) < 90 else "")
    counts = ", ".join(
        f"{n} {s}" for s, n in sorted({t.status.value: sum(1 for u in trials if u.status is t.status) for t in trials}.items())
    )
    curve_ax.set_title(
        f"{job.id}: {status}; {len(trials)} trials ({counts or 'none yet'}); early termination: {policy}\n"
        "x = stopped by the policy, square = failed / timed out / canceled"
        + (f"; no reports from trials {', '.join(str(t.number) for t in silent)}" if silent else ""),
        fontsize=9,
    )
    if drawn and len(drawn) <= 24:
        curve_ax.legend(fontsize=7, loc="best", ncols=2 if len(drawn) > 12 else 1)
    elif not drawn:
        curve_ax.text(0.5, 0.5, "no trial has reported a value", ha="center", va="center", transform=curve_ax.transAxes)

    board_ax.axis("off")
    board_ax.text(0, 1, "\n".join(lines), family="monospace", fontsize=8, va="top", ha="left", transform=board_ax.transAxes)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


__all__ = ["board_lines", "board_trials", "curve_groups", "failure_groups", "headline", "last_line", "leaderboard_text", "sweep_png"]
