from __future__ import annotations

import pytest

from cloudauto.spec.metrics import Goal, Task, UnknownMetricError, lookup, metrics_for


@pytest.mark.parametrize(
    ("name", "task", "canonical", "goal", "autogluon", "azureml"),
    [
        ("accuracy", Task.TABULAR_CLASSIFICATION, "accuracy", Goal.MAXIMIZE, "accuracy", "accuracy"),
        ("AUC_weighted", Task.TABULAR_CLASSIFICATION, "roc_auc", Goal.MAXIMIZE, "roc_auc", "AUC_weighted"),
        ("roc_auc", Task.TEXT_CLASSIFICATION, "roc_auc", Goal.MAXIMIZE, "roc_auc", "AUC_weighted"),
        ("f1_macro", Task.IMAGE_CLASSIFICATION, "f1_macro", Goal.MAXIMIZE, "f1_macro", None),
        ("log_loss", Task.TABULAR_CLASSIFICATION, "log_loss", Goal.MINIMIZE, "log_loss", None),
        (
            "precision_score_weighted",
            Task.TABULAR_CLASSIFICATION,
            "precision_weighted",
            Goal.MAXIMIZE,
            "precision_weighted",
            "precision_score_weighted",
        ),
        ("norm_macro_recall", Task.TABULAR_CLASSIFICATION, "norm_macro_recall", Goal.MAXIMIZE, None, "norm_macro_recall"),
        (
            "rmse",
            Task.TABULAR_REGRESSION,
            "root_mean_squared_error",
            Goal.MINIMIZE,
            "root_mean_squared_error",
            "normalized_root_mean_squared_error",
        ),
        (
            "normalized_root_mean_squared_error",
            Task.TABULAR_REGRESSION,
            "root_mean_squared_error",
            Goal.MINIMIZE,
            "root_mean_squared_error",
            "normalized_root_mean_squared_error",
        ),
        ("r2_score", Task.TABULAR_REGRESSION, "r2", Goal.MAXIMIZE, "r2", "r2_score"),
        (
            "mae",
            Task.TABULAR_REGRESSION,
            "mean_absolute_error",
            Goal.MINIMIZE,
            "mean_absolute_error",
            "normalized_mean_absolute_error",
        ),
        (
            "mape",
            Task.TABULAR_REGRESSION,
            "mean_absolute_percentage_error",
            Goal.MINIMIZE,
            "mean_absolute_percentage_error",
            None,
        ),
        ("MASE", Task.TIME_SERIES_FORECASTING, "MASE", Goal.MINIMIZE, "MASE", None),
        ("WQL", Task.TIME_SERIES_FORECASTING, "WQL", Goal.MINIMIZE, "WQL", None),
        ("mape", Task.TIME_SERIES_FORECASTING, "MAPE", Goal.MINIMIZE, "MAPE", None),
        (
            "normalized_root_mean_squared_error",
            Task.TIME_SERIES_FORECASTING,
            "RMSE",
            Goal.MINIMIZE,
            "RMSE",
            "normalized_root_mean_squared_error",
        ),
        (
            "mean_average_precision",
            Task.IMAGE_OBJECT_DETECTION,
            "mean_average_precision",
            Goal.MAXIMIZE,
            "map",
            "mean_average_precision",
        ),
        ("mAP", Task.IMAGE_OBJECT_DETECTION, "mean_average_precision", Goal.MAXIMIZE, "map", "mean_average_precision"),
    ],
)
def test_lookup(name, task, canonical, goal, autogluon, azureml):
    metric = lookup(name, task)
    assert (metric.name, metric.goal, metric.autogluon, metric.azureml) == (canonical, goal, autogluon, azureml)


def test_metric_of_another_task_is_unknown_with_the_valid_list():
    with pytest.raises(UnknownMetricError) as info:
        lookup("accuracy", Task.TABULAR_REGRESSION)
    assert "r2 (r2_score)" in str(info.value) and "unknown metric 'accuracy'" in str(info.value)


def test_every_azure_name_is_one_azure_accepts():
    azure = {
        "accuracy",
        "AUC_weighted",
        "average_precision_score_weighted",
        "norm_macro_recall",
        "precision_score_weighted",
        "normalized_root_mean_squared_error",
        "normalized_mean_absolute_error",
        "r2_score",
        "spearman_correlation",
        "mean_average_precision",
    }
    for task in Task:
        for metric in metrics_for(task):
            assert metric.azureml is None or metric.azureml in azure, metric


def test_aliases_are_unambiguous_within_a_task():
    for task in Task:
        seen: dict[str, str] = {}
        for metric in metrics_for(task):
            for key in (metric.name, *metric.aliases):
                assert seen.setdefault(key, metric.name) == metric.name, (task, key)
