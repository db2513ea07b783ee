"""`cloudauto.report()`: how a training script of your own reports its metrics, everywhere.

Dependency-free on purpose (standard library only), so any training image can import it.
Every call prints one line in the fixed format below, which SageMaker's metric
definitions match (`metric_regex`); under Azure ML it also logs the metric to MLflow; under
the local backend it also tells the worker through the pipe the worker gave it, and the
answer says whether the early-termination policy stopped the trial.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Optional

PREFIX = "[cloudauto-metric]"
# one line per metric: [cloudauto-metric] name=val_accuracy value=0.9583 step=3
LINE_FORMAT = PREFIX + " name={name} value={value} step={step}"
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|-inf|Infinity|-Infinity)"
_LINE = re.compile(re.escape(PREFIX) + r" name=(\S+) value=(" + _NUMBER + r") step=(\d+)")

ENV_REPORT_OUT = "CLOUDAUTO_REPORT_OUT_FD"  # local backend: the script writes reports here
ENV_REPORT_IN = "CLOUDAUTO_REPORT_IN_FD"  # ... and reads the verdicts here
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def metric_regex(name: str) -> str:
    """The regex (one capture group: the value) a SageMaker metric definition uses for `name`.

    Kept to plain constructs (no non-capturing groups) so any regex engine reads it alike.
    """
    return re.escape(PREFIX) + r" name=" + re.escape(name) + r" value=([-+]?[0-9.]+[eE]?[-+]?[0-9]*|nan|-?inf) step="


def parse_line(line: str) -> Optional[tuple[str, float, int]]:
    """(name, value, step) from a report line, or None."""
    match = _LINE.search(line)
    if not match:
        return None
    return match.group(1), float(match.group(2)), int(match.group(3))


POSITIVE_CLASS = "positive_class"  # a binary trial's record: the label value its f1, precision and recall score
_POSITIVE_LINE = re.compile(r"^\[cloudauto\] positive_class: (.+?)\s*$")  # the value as JSON, as the entries print it


def positive_class_line(value: object) -> str:
    return f"[cloudauto] {POSITIVE_CLASS}: {json.dumps(value)}"


def positive_class_in(lines: list[str]) -> object:
    """The positive class a trial's log names (its last line of it), or None: how a cloud trial's is read back."""
    for line in reversed(lines):
        match = _POSITIVE_LINE.match(line.strip())
        if match:
            try:
                return json.loads(match.group(1))
            except ValueError:
                return match.group(1)
    return None


class MetricsUnreachable(RuntimeError):
    """The backend reads metrics through a channel this environment lacks."""


@dataclass(frozen=True)
class Verdict:
    """What the scheduler says after a report."""

    should_stop: bool = False
    reason: str = ""


class _Channel:
    """The local worker's pipes, opened once per process."""

    def __init__(self) -> None:
        self.out = self.inp = None
        out_fd, in_fd = os.environ.get(ENV_REPORT_OUT), os.environ.get(ENV_REPORT_IN)
        if out_fd and in_fd:
            try:
                self.out = os.fdopen(int(out_fd), "w", buffering=1)
                self.inp = os.fdopen(int(in_fd), "r")
            except (OSError, ValueError):
                self.out = self.inp = None

    def ask(self, message: dict) -> Verdict:
        if self.out is None:
            return Verdict()
        try:
            self.out.write(json.dumps(message) + "\n")
            self.out.flush()
            answer = self.inp.readline()
        except (OSError, ValueError):
            return Verdict()
        if not answer:
            return Verdict()
        data = json.loads(answer)
        return Verdict(bool(data.get("stop")), str(data.get("reason", "")))


_channel: Optional[_Channel] = None
_steps = 0


def report(step: Optional[int] = None, **metrics: float) -> Verdict:
    """Report metrics from a training script: `cloudauto.report(val_accuracy=0.93, step=epoch)`.

    Returns a Verdict; `should_stop` is True when the sweep's early-termination policy ended
    this trial; every later call then returns should_stop=True at once (its values do not count), and the
    local worker leaves the script 30 s (docs/spec.md) to save its model and exit before it ends it.
    """
    global _channel, _steps
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(val_accuracy=0.93)")
    _steps += 1
    step = _steps if step is None else int(step)
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r}: letters, digits, _ . - / only")
        try:
            clean[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {name} must be a number, got {value!r}") from None
        text = repr(clean[name]) if math.isfinite(clean[name]) else str(clean[name])
        print(LINE_FORMAT.format(name=name, value=text, step=step), flush=True)
    _log_to_mlflow(clean, step)
    if _channel is None:
        _channel = _Channel()
    if _channel.out is None:
        return Verdict()
    return _channel.ask({"step": step, "metrics": clean})


def _log_to_mlflow(metrics: dict[str, float], step: int) -> None:
    """Azure ML reads a sweep trial's metrics from MLflow; elsewhere this does nothing."""
    if not (os.environ.get("AZUREML_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")):
        return
    try:
        import mlflow  # the sweep's only way to see the metric
    except ImportError:
        if os.environ.get("AZUREML_RUN_ID"):  # silence here would leave the sweep unable to rank or stop any trial
            raise MetricsUnreachable(
                f"cloudauto.report({', '.join(metrics)}): this trial runs under Azure ML (AZUREML_RUN_ID is set), whose sweep "
                "reads metrics from MLflow, and mlflow is not installed in its environment: add mlflow and azureml-mlflow "
                "to the environment's conda file (or use a curated AzureML-* environment)"
            ) from None
        return
    try:
        for name, value in metrics.items():
            mlflow.log_metric(name, value, step=step)
    except Exception as exc:  # telemetry must not end the training; say so loudly instead
        import sys

        print(f"cloudauto.report: could not log {sorted(metrics)} to MLflow: {exc}", file=sys.stderr, flush=True)


__all__ = ["LINE_FORMAT", "PREFIX", "MetricsUnreachable", "Verdict", "metric_regex", "parse_line", "report"]
