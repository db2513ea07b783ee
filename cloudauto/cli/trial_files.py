"""`cloudauto trials JOB --trial N --models | --importance`: what a trial saved beside its model, read without AutoGluon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..backend import NotSupportedError
from ..spec.errors import CloudautoError
from ..spec.metrics import Task
from .app import EXIT_OK, echo


class NoTrialFile(CloudautoError):
    """The trial saved no models.json / importance.json: what the job produced, like a job without a model (exit 4)."""

    exit_code = 4


class TrialFileElsewhere(NotSupportedError):
    """A cloud backend keeps the file in the model output: `trials` does not read it from there (exit 2)."""


def _why_none(job: Any, name: str, kind: str) -> str:
    tabular = job.spec.task in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION)
    if kind == "models":
        return "only AutoGluon trials (tabular and forecasting) that ended with a model save it; trials run before cloudauto saved it have none"
    if not tabular:
        return f"permutation feature importance is for tabular tasks; a {job.spec.task.value} trial has none"
    return "set autogluon.feature_importance: true in the spec to compute it"


def _read(job: Any, trial: Any, kind: str) -> dict[str, Any]:
    from ..runtime.trial_extras import IMPORTANCE_FILE, MODELS_FILE, read_json

    name = MODELS_FILE if kind == "models" else IMPORTANCE_FILE
    folder = trial.artifacts.get("dir")
    if folder is None:
        where = "with its model" if trial.status.value == "completed" else "(the trial has no model)"
        raise TrialFileElsewhere(
            f"trial {trial.number} of {job.id}: the {job.backend} backend keeps {name} {where}, in the trial's model output; "
            "download the model to read it"
        )
    found = read_json(Path(folder), name)
    if found is None:
        raise NoTrialFile(f"trial {trial.number} of {job.id} has no {name} ({_why_none(job, name, kind)})")
    return found


def show_trial_file(job: Any, trial: Any, kind: str, fmt: str) -> int:
    found = _read(job, trial, kind)
    if fmt == "json":
        echo(json.dumps(found, indent=2))
        return EXIT_OK
    metric = found.get("eval_metric", "")
    if kind == "models":
        echo(f"{'model':<32} {'score_val (' + metric + ')':>24} {'fit_s':>8} {'pred_val_s':>10}  level")
        for row in found["models"]:
            mark = "  (best)" if row.get("best") else ""
            echo(
                f"{row['model']:<32} {_num(row.get('score_val')):>24} {_num(row.get('fit_time_s'), '.2f'):>8} "
                f"{_num(row.get('pred_time_val_s'), '.3f'):>10}  {row.get('stack_level') or '-'}{mark}"
            )
        return EXIT_OK
    echo(f"permutation importance: the drop in {metric} when the feature is shuffled (best model, validation data)")
    echo(f"{'feature':<32} {'importance':>12} {'stddev':>10} {'p_value':>10}")
    for row in found["features"]:
        echo(f"{row['feature']:<32} {_num(row.get('importance')):>12} {_num(row.get('stddev')):>10} {_num(row.get('p_value')):>10}")
    return EXIT_OK


def _num(value: Any, spec: str = ".6g") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


__all__ = ["show_trial_file"]
