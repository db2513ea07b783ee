"""What a trial keeps beside its model at its end: more metrics, its models' board, feature importance.

- `metrics:` of the spec: each scored, as AutoGluon scores `score_val`, on the validation rows the
  fit held out (or the user's validation file; a bagged fit's out-of-fold rows) and on the test file.
- `models.json`: AutoGluon's leaderboard of every model the trial fit (tabular and forecasting trials), so
  `cloudauto trials --models` shows it without importing AutoGluon.
- `importance.json`: permutation importance (`predictor.feature_importance`) when
  `autogluon.feature_importance` is set, for `trials --importance` and the report.

The two files sit in the trial's folder (the local run store; on SageMaker and Azure ML the model
output, so the downloaded model carries them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec.metrics import Metric

MODELS_FILE = "models.json"
IMPORTANCE_FILE = "importance.json"
IMPORTANCE_TIME_LIMIT_S = 20.0  # a trial's end is no place for a long computation: a few shuffles suffice to rank
IMPORTANCE_SHUFFLES = 3
IMPORTANCE_ROWS = 2000


def _original(scorer: Any, score: float) -> Optional[float]:
    value = float(scorer.convert_score_to_original(score))
    return value if math.isfinite(value) else None


def score_internal(predictor: Any, X: pd.DataFrame, y: Any, metrics: list[Metric], proba: Any = None) -> dict[str, float]:
    """Each metric of the best model on rows in AutoGluon's internal form: the trainer's own scoring, so
    the primary metric's value equals the leaderboard's, and f1/precision/recall follow positive_class."""
    from autogluon.core.metrics import get_metric

    trainer = predictor._learner.load_trainer()
    if proba is None:
        proba = trainer.predict_proba(X, model=predictor.model_best)
    out: dict[str, float] = {}
    for metric in metrics:
        scorer = get_metric(metric.autogluon, predictor.problem_type, "eval_metric")
        value = _original(scorer, trainer.score_with_y_pred_proba(y=y, y_pred_proba=proba, metric=scorer))
        if value is not None:
            out[metric.name] = value
    return out


def validation_scores(predictor: Any, metrics: list[Metric]) -> dict[str, float]:
    """`val_<name>` for each metric on the validation rows the fit scored its models on."""
    if not metrics:
        return {}
    trainer = predictor._learner.load_trainer()
    X, y = predictor.load_data_internal("val") if not trainer.bagged_mode else (None, None)
    if X is None or y is None:  # a bagged fit holds no rows out: its out-of-fold predictions are its validation
        y, proba = trainer.load_y(), trainer.get_model_oof(predictor.model_best)
        return {f"val_{k}": v for k, v in score_internal(predictor, None, y, metrics, proba=proba).items()}
    return {f"val_{k}": v for k, v in score_internal(predictor, X, y, metrics).items()}


def test_scores(predictor: Any, test: pd.DataFrame, metrics: list[Metric]) -> dict[str, float]:
    """`test_<name>` for each metric on the test file (raw rows, transformed as predict would)."""
    if not metrics:
        return {}
    X = predictor.transform_features(test)
    y = predictor.transform_labels(test[predictor.label])
    return {f"test_{k}": v for k, v in score_internal(predictor, X, y, metrics).items()}


def _to_original(metric: Any, score: float) -> float:
    """A leaderboard's score in the metric's own sign: a TabularPredictor's scorer converts it; a time-series
    metric's leaderboard holds it higher-is-better (MASE negated)."""
    if hasattr(metric, "convert_score_to_original"):
        return float(metric.convert_score_to_original(score))
    return float(score) if metric.greater_is_better_internal else -float(score)


def save_models(predictor: Any, folder: Path, board: Any = None) -> Path:
    """Every model the trial fit, best first: name, validation score (the metric's own sign), fit and predict time.
    A TabularPredictor's or a TimeSeriesPredictor's leaderboard (fit_time_marginal there, no stack level)."""
    board = predictor.leaderboard(silent=True) if board is None else board
    metric = predictor.eval_metric
    rows = []
    for _, row in board.iterrows():
        score = row.get("score_val")
        value = None if score is None or not math.isfinite(float(score)) else _to_original(metric, score)
        rows.append(
            {
                "model": str(row["model"]),
                "score_val": value,
                "fit_time_s": _number(row.get("fit_time", row.get("fit_time_marginal"))),
                "pred_time_val_s": _number(row.get("pred_time_val")),
                "stack_level": int(row["stack_level"]) if "stack_level" in row and row["stack_level"] == row["stack_level"] else None,
                "best": str(row["model"]) == predictor.model_best,
            }
        )
    path = Path(folder) / MODELS_FILE
    path.write_text(json.dumps({"eval_metric": metric.name, "models": rows}, indent=2))
    return path


def save_importance(predictor: Any, folder: Path, data: Optional[pd.DataFrame] = None, time_limit: Optional[float] = None) -> Path:
    """Permutation importance of each feature for the best model, on `data` (the validation file) or the rows
    the fit held out (there AutoGluon shuffles its preprocessed columns, which keep the features' names)."""
    frame = predictor.feature_importance(
        data=data,
        feature_stage="original" if data is not None else "transformed",
        time_limit=time_limit or IMPORTANCE_TIME_LIMIT_S,
        num_shuffle_sets=IMPORTANCE_SHUFFLES,
        subsample_size=IMPORTANCE_ROWS,
        silent=True,
    )
    rows = [
        {"feature": str(name), "importance": _number(row.get("importance")), "stddev": _number(row.get("stddev")),
         "p_value": _number(row.get("p_value"))}
        for name, row in frame.iterrows()
    ]
    path = Path(folder) / IMPORTANCE_FILE
    path.write_text(json.dumps({"eval_metric": predictor.eval_metric.name, "features": rows}, indent=2))
    return path


def _number(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_json(folder: Path, name: str) -> Optional[dict[str, Any]]:
    """A file a trial saved, or None where it saved none (no AutoGluon import)."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    return json.loads(path.read_text())


__all__ = [
    "IMPORTANCE_FILE",
    "MODELS_FILE",
    "read_json",
    "save_importance",
    "save_models",
    "score_internal",
    "test_scores",
    "validation_scores",
]
