"""One registry of metrics: task -> names users write, their goal, and each backend's name.

A metric has one canonical name (AutoGluon's where it has one) and aliases (Azure ML's
and common spellings). `autogluon` is the `eval_metric` AutoGluon optimises; `azureml`
the AutoML `primary_metric` (None where Azure has no such primary metric, so a native
Azure AutoML job cannot use it). Where the Azure metric is a normalised form of the
AutoGluon one (RMSE vs normalized RMSE), they rank models identically, which is what a
sweep needs; the note says so.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from functools import cache


class Goal(str, Enum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    def better(self, a: float, b: float) -> bool:
        """True when `a` is strictly better than `b`."""
        return a > b if self is Goal.MAXIMIZE else a < b


class Task(str, Enum):
    TABULAR_CLASSIFICATION = "tabular_classification"
    TABULAR_REGRESSION = "tabular_regression"
    TIME_SERIES_FORECASTING = "time_series_forecasting"
    IMAGE_CLASSIFICATION = "image_classification"
    IMAGE_OBJECT_DETECTION = "image_object_detection"
    TEXT_CLASSIFICATION = "text_classification"
    CUSTOM = "custom"

    @property
    def is_time_series(self) -> bool:
        return self is Task.TIME_SERIES_FORECASTING


@dataclass(frozen=True)
class Metric:
    name: str
    goal: Goal
    aliases: tuple[str, ...] = ()
    autogluon: str | None = None
    azureml: str | None = None
    note: str = ""
    tasks: frozenset[Task] = field(default_factory=frozenset)

    @property
    def sagemaker(self) -> str:
        """The objective metric name the SageMaker metric definition captures."""
        return f"cloudauto:{self.name}"


_MAX, _MIN = Goal.MAXIMIZE, Goal.MINIMIZE
_CLS = frozenset({Task.TABULAR_CLASSIFICATION, Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION})
_REG = frozenset({Task.TABULAR_REGRESSION})
_TS = frozenset({Task.TIME_SERIES_FORECASTING})
_OD = frozenset({Task.IMAGE_OBJECT_DETECTION})


def _m(name, goal, tasks, aliases=(), autogluon="same", azureml=None, note="") -> Metric:
    return Metric(
        name=name,
        goal=goal,
        aliases=tuple(aliases),
        autogluon=name if autogluon == "same" else autogluon,
        azureml=azureml,
        note=note,
        tasks=tasks,
    )


_METRICS: tuple[Metric, ...] = (
    # classification (tabular, image, text)
    _m("accuracy", _MAX, _CLS, ["acc"], azureml="accuracy"),
    _m("balanced_accuracy", _MAX, _CLS),
    _m(
        "roc_auc",
        _MAX,
        _CLS,
        ["AUC_weighted", "auc", "roc_auc_ovr_weighted"],
        azureml="AUC_weighted",
        note="binary: AutoGluon roc_auc; Azure AUC_weighted equals it for two classes",
    ),
    _m("average_precision", _MAX, _CLS, ["average_precision_score_weighted"], azureml="average_precision_score_weighted"),
    _m("norm_macro_recall", _MAX, _CLS, [], autogluon=None, azureml="norm_macro_recall"),
    _m("f1", _MAX, _CLS, ["f1_score"]),
    _m("f1_macro", _MAX, _CLS, ["f1_score_macro"]),
    _m("f1_micro", _MAX, _CLS, ["f1_score_micro"]),
    _m("f1_weighted", _MAX, _CLS, ["f1_score_weighted"]),
    _m("precision", _MAX, _CLS),
    _m("precision_macro", _MAX, _CLS, ["precision_score_macro"]),
    _m("precision_micro", _MAX, _CLS, ["precision_score_micro"]),
    _m("precision_weighted", _MAX, _CLS, ["precision_score_weighted"], azureml="precision_score_weighted"),
    _m("recall", _MAX, _CLS),
    _m("recall_macro", _MAX, _CLS, ["recall_score_macro"]),
    _m("recall_micro", _MAX, _CLS, ["recall_score_micro"]),
    _m("recall_weighted", _MAX, _CLS, ["recall_score_weighted"]),
    _m("mcc", _MAX, _CLS, ["matthews_correlation"]),
    _m("log_loss", _MIN, _CLS, ["logloss", "cross_entropy"]),
    # regression
    _m(
        "root_mean_squared_error",
        _MIN,
        _REG,
        ["rmse", "normalized_root_mean_squared_error", "nrmse"],
        azureml="normalized_root_mean_squared_error",
        note="Azure reports RMSE divided by the label range: same ranking",
    ),
    _m("mean_squared_error", _MIN, _REG, ["mse"]),
    _m(
        "mean_absolute_error",
        _MIN,
        _REG,
        ["mae", "normalized_mean_absolute_error"],
        azureml="normalized_mean_absolute_error",
        note="Azure reports MAE divided by the label range: same ranking",
    ),
    _m("median_absolute_error", _MIN, _REG, ["medae"]),
    _m("mean_absolute_percentage_error", _MIN, _REG, ["mape"]),
    _m("symmetric_mean_absolute_percentage_error", _MIN, _REG, ["smape"]),
    _m("r2", _MAX, _REG, ["r2_score"], azureml="r2_score"),
    _m("spearmanr", _MAX, _REG, ["spearman_correlation"], azureml="spearman_correlation"),
    _m("pearsonr", _MAX, _REG, ["pearson_correlation"]),
    # time series (AutoGluon TimeSeriesPredictor names; Azure forecasting names)
    _m("MASE", _MIN, _TS, ["mase"]),
    _m("WQL", _MIN, _TS, ["wql", "weighted_quantile_loss"]),
    _m("SQL", _MIN, _TS, ["sql", "scaled_quantile_loss"]),
    _m("MAPE", _MIN, _TS, ["mape", "mean_absolute_percentage_error"]),
    _m("SMAPE", _MIN, _TS, ["smape"]),
    _m("RMSSE", _MIN, _TS, ["rmsse"]),
    _m("WAPE", _MIN, _TS, ["wape"]),
    _m("RMSLE", _MIN, _TS, ["rmsle"]),
    _m("MSE", _MIN, _TS, ["mse", "mean_squared_error"]),
    _m(
        "RMSE",
        _MIN,
        _TS,
        ["rmse", "root_mean_squared_error", "normalized_root_mean_squared_error", "nrmse"],
        azureml="normalized_root_mean_squared_error",
        note="Azure reports RMSE divided by the target range: same ranking per series set",
    ),
    _m(
        "MAE",
        _MIN,
        _TS,
        ["mae", "mean_absolute_error", "normalized_mean_absolute_error"],
        azureml="normalized_mean_absolute_error",
        note="Azure reports MAE divided by the target range: same ranking per series set",
    ),
    # object detection
    _m(
        "mean_average_precision",
        _MAX,
        _OD,
        ["map", "mAP"],
        autogluon="map",
        azureml="mean_average_precision",
    ),
)


class UnknownMetricError(ValueError):
    def __init__(self, name: str, task: Task, valid: list[str], suggestion: str | None):
        self.name, self.task, self.valid, self.suggestion = name, task, valid, suggestion
        hint = f"did you mean '{suggestion}'? " if suggestion else ""
        super().__init__(f"unknown metric '{name}' for task {task.value}: {hint}valid: {', '.join(valid)}")


def metrics_for(task: Task) -> list[Metric]:
    return [m for m in _METRICS if task in m.tasks]


@cache
def _index(task: Task) -> dict[str, Metric]:
    """name or alias (and its lower case) -> metric, built once per task: every spec loaded looks its metric up."""
    table: dict[str, Metric] = {}
    for metric in metrics_for(task):
        for key in (metric.name, *metric.aliases):
            table[key] = metric
            table.setdefault(key.lower(), metric)
    return table


def lookup(name: str, task: Task) -> Metric:
    """Resolve a metric name or alias for a task; case-insensitive when unambiguous."""
    table = _index(task)
    found = table.get(name) or table.get(name.lower())
    if found is not None:
        return found
    known = sorted({m.name for m in metrics_for(task)} | {a for m in metrics_for(task) for a in m.aliases}, key=str.lower)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    valid = [m.name + (f" ({m.azureml})" if m.azureml and m.azureml != m.name else "") for m in metrics_for(task)]
    raise UnknownMetricError(name, task, valid, close[0] if close else None)


def custom_metric(name: str, goal: Goal) -> Metric:
    """A metric the user's own script reports, unknown to the registry."""
    return Metric(name=name, goal=goal, autogluon=None, azureml=None, note="reported by the user's script")


# the metrics that score one class as positive (autogluon.positive_class matters); roc_auc is the same either way
POSITIVE_CLASS_METRICS = frozenset({"f1", "precision", "recall", "average_precision"})

__all__ = ["Goal", "Metric", "POSITIVE_CLASS_METRICS", "Task", "UnknownMetricError", "custom_metric", "lookup", "metrics_for"]
