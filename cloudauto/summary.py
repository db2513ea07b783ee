"""The Markdown report a reviewer reads on a pull request (`--summary FILE`, or GitHub's step summary).

It is built from the result file's figures and the trials they were counted from, so the two never disagree,
and passes through the redactor like every other output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .backend import Trial
    from .run_result import RunResult

TOP_TRIALS = 5
_STATE_WORDS = {
    "completed": "completed",
    "failed": "FAILED",
    "canceled": "canceled",
    "interrupted": "interrupted (its scheduler is gone)",
}


def _cell(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={_cell(v)}`" for k, v in params.items()) or "-"


def markdown(result: RunResult, trials: list[Trial], *, picture: Optional[Path] = None) -> str:
    """The report: a status line, the best trial, the top of the leaderboard, the picture, warnings and failures."""
    job_part, counts, metric = result.job, result.trials, result.spec.metric
    if job_part.detached:
        state = f"still {job_part.status} (cloudauto stopped waiting after {job_part.waited_s:.0f} s; the job goes on)"
    elif job_part.canceled_on_timeout:
        state = f"{job_part.status} at the timeout (--cancel-on-timeout)"
    else:
        state = _STATE_WORDS.get(job_part.status, job_part.status)
    lines = [f"## cloudauto: {result.spec.name} {state}", ""]
    ended = ", ".join(
        f"{n} {word}"
        for word, n in (
            ("completed", counts.completed),
            ("stopped early", counts.terminated),
            ("failed", counts.failed),
            ("timed out", counts.timed_out),
            ("canceled", counts.canceled),
            ("running", counts.running),
            ("pending", counts.pending),
        )
        if n
    )
    lines.append(
        f"Job `{job_part.id}` on **{job_part.backend}**: {counts.total} of {counts.planned} trials"
        + (f" ({ended})" if ended else "")
        + f", {counts.compute_s:.0f} s of trial time."
    )
    if job_part.reason:
        lines += ["", f"> {_cell(job_part.reason)}"]
    if result.best is not None:
        best = result.best
        lines += ["", f"**Best: trial {best.trial}, {metric} = {best.objective:.6g}** ({result.spec.goal})", ""]
        lines += ["| parameter | value |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in best.params.items()]
        scores = {k: v for k, v in best.scores.items() if isinstance(v, (int, float))}
        if scores:
            lines += ["", "Scores: " + ", ".join(f"{_cell(k)} = {v:.6g}" for k, v in scores.items())]
        if result.model:
            lines += ["", f"Model: `{result.model}`"]
    else:
        lines += ["", "No trial has a result."]
    done = [t for t in trials if t.objective is not None]
    ranked = sorted(done, key=lambda t: t.objective, reverse=result.spec.goal == "maximize")
    if ranked:
        lines += ["", f"### Leaderboard (top {min(TOP_TRIALS, len(ranked))} of {len(ranked)} with a result)", ""]
        lines += [f"| rank | trial | status | {metric} | seconds | parameters |", "|---:|---:|---|---:|---:|---|"]
        for rank, trial in enumerate(ranked[:TOP_TRIALS], 1):
            seconds = f"{trial.duration:.1f}" if trial.duration is not None else "-"
            lines.append(
                f"| {rank} | {trial.number} | {trial.status.value} | {trial.objective:.6g} | {seconds} | {_params(trial.params)} |"
            )
    if picture is not None:
        lines += ["", f"Sweep picture (every trial's {metric} per step): `{picture}`"]
    if result.failures:
        lines += ["", "### Failures", ""] + [f"- {_cell(f)}" for f in result.failures]
    if result.warnings:
        lines += ["", "### Warnings", ""] + [f"- {_cell(w)}" for w in result.warnings]
    if result.endpoint is not None:
        lines += [
            "",
            f"Endpoint: `{result.endpoint.name}` on {result.endpoint.backend}"
            + (f" at {result.endpoint.url}" if result.endpoint.url else ""),
        ]
    if result.cost is not None:
        figures = [
            f"at most {result.cost.estimate_max:.2f}" if result.cost.estimate_max is not None else "",
            f"billed {result.cost.billed:.2f}" if result.cost.billed is not None else "",
        ]
        lines += ["", f"Cost ({result.cost.currency}): {', '.join(f for f in figures if f)} ({result.cost.source})"]
    return "\n".join(lines) + "\n"


def append(path: str | Path, text: str, *, spec: Any = None) -> Path:
    """Add the report to `path` (GitHub's step summary file is appended to by each step)."""
    from .secrets import redactor
    from .spec.errors import CloudautoError

    path = Path(path)
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(redactor(spec)(text) + "\n")
    except OSError as exc:
        raise CloudautoError(f"cannot write the summary to {path}: {exc.strerror or exc}") from None
    return path


__all__ = ["append", "markdown"]
