"""One trial of `engine: autogluon`: the sweep's parameters become an AutoGluon fit.

The same function runs in a local worker, in a Docker container and in the SageMaker
training container; where it runs only changes how `report` reaches the scheduler.

Parameters map onto AutoGluon like this:
- `models` / `model_name`: one model family (GBM, CAT, XGB, RF, XT, KNN, LR, NN_TORCH ...,
  or lightgbm, catboost, xgboost, random_forest, extra_trees ...), or several joined by
  commas; the fit trains only those.
- `<FAMILY>.<hyperparameter>` (e.g. `GBM.num_leaves`): that family's hyperparameter.
- `presets`, `time_limit` and the other fit arguments in `FIT_ARGS`: passed to `fit`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..spec.metrics import Task
from .autogluon_params import FAMILY_PARAM, FIT_ARGS, MULTIMODAL_TASKS, family, name_problem
from .data import read_table

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import AutoGluonSettings, JobSpec

Reporter = Callable[[float], bool]  # the objective so far -> True when the trial must stop

# AutoMM's object detection needs mmdet and mmcv, which do not install from PyPI: Azure AutoML trains it (engine: native)
UNTRAINABLE_TASKS = frozenset({Task.IMAGE_OBJECT_DETECTION})


def untrainable(spec: JobSpec, instead: str) -> Optional[str]:
    """Why this spec's trials, when cloudauto's AutoGluon runs them, cannot be (None when they can), and what to use `instead`.

    Said at compile time on every backend, so that no job (on SageMaker, no GPU instance)
    starts only to fail in each trial. A spec with engine: command runs its own script.
    """
    from ..spec.models import Engine

    task = spec.task
    if spec.engine is Engine.COMMAND:
        return None
    if task in UNTRAINABLE_TASKS:
        return (
            f"task {task.value}: cloudauto's AutoGluon trials train tabular, time-series, image and text classification "
            f"models; AutoGluon's object detection needs mmdet and mmcv, which do not install from PyPI. {instead}"
        )
    return None


class ParameterError(ValueError):
    pass


@dataclass
class TrialResult:
    objective: Optional[float]
    metrics: dict[str, float] = field(default_factory=dict)
    model_dir: Optional[str] = None
    stopped: bool = False
    test_error: Optional[str] = None  # why the test set was not scored: the trial keeps its model and objective


def score_test(uri: str, name: str, evaluate: Callable[[], Optional[float]], metrics: dict[str, float]) -> Optional[str]:
    """The test score into `metrics[test_<name>]`, or why it could not be taken.

    Scoring the test set comes after the fit: a test file AutoGluon cannot score must not
    throw the trained model away, so the error is returned (and logged) for the trial to
    keep beside its validation objective.
    """
    try:
        value = evaluate()
    except Exception as exc:
        text = " ".join(str(exc).split())  # one line, whole: the column it names must not be cut off
        reason = f"test set {uri} not scored ({type(exc).__name__}: {text[:2000]}); the model and its validation score are kept"
        print(f"[cloudauto] {reason}", flush=True)
        return reason
    if value is not None and math.isfinite(value):
        metrics[f"test_{name}"] = value
    return None


def check_columns(features: list[str], label: str, columns: Any, role: str) -> None:
    """Raise, naming them, when `columns` lacks any of the model's features or the label to score against."""
    have = set(map(str, columns))
    missing = [f for f in features if f not in have]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(f"the {role} lacks the feature column{plural} {', '.join(map(repr, missing))} of the training data")
    if label not in have:
        raise ValueError(f"the {role} has no label column {label!r} to score against")


def check_parameters(names: list[str], task: Task = Task.TABULAR_CLASSIFICATION) -> list[str]:
    """Problems with parameter names for engine: autogluon (empty when all map); compile checks the values too."""
    return [problem for problem in (name_problem(n, task) for n in names) if problem]


def fit_arguments(params: dict[str, Any], settings: Optional[AutoGluonSettings] = None) -> dict[str, Any]:
    """The `TabularPredictor.fit` keyword arguments for one trial's parameters, over the spec's `autogluon:` block."""
    problems = check_parameters(list(params))
    if problems:
        raise ParameterError("; ".join(problems))
    kwargs: dict[str, Any] = {}
    chosen = params.get("models", params.get("model_name"))
    families = [family(f.strip()) for f in str(chosen).split(",") if f.strip()] if chosen is not None else []
    base = {family(k): copy.deepcopy(v) for k, v in ((settings.hyperparameters or {}) if settings else {}).items()}
    per_family: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        match = FAMILY_PARAM.match(name)
        if match:
            per_family.setdefault(family(match.group(1)), {})[match.group(2)] = value
        elif name in FIT_ARGS:
            kwargs[name] = FIT_ARGS[name](value)
    trained = families or list(dict.fromkeys([*base, *per_family]))
    if trained:
        kwargs["hyperparameters"] = {f: _laid_over(base.get(f, {}), per_family.get(f, {})) for f in trained}
    if settings and settings.excluded_model_types:
        kwargs["excluded_model_types"] = [family(m) for m in settings.excluded_model_types]
    return kwargs


def _laid_over(base: Any, swept: dict[str, Any]) -> Any:
    """A family's settings from the spec with the trial's swept values over them (in each config of a list)."""
    if isinstance(base, list):
        return [{**config, **swept} for config in base] or [swept]
    return {**base, **swept}


def positive_label(value: Any, labels: Any, where: Optional[str]) -> Any:
    """The label value `autogluon.positive_class` names, as the data holds it (`1` in the spec is the data's 1 or "1")."""
    if value is None:
        return None
    classes = list(labels.dropna().unique())
    for found in classes:
        if found == value or str(found) == str(value):
            return _plain(found)
    shown = ", ".join(repr(_plain(c)) for c in sorted(classes, key=str)[:20])
    raise ParameterError(f"autogluon.positive_class {value!r} is not a value of the label in {where}; its values: {shown}")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (JSON and AutoGluon's comparisons take it alike)."""
    return value.item() if hasattr(value, "item") else value


def _original(eval_metric: Any, score: float) -> float:
    return float(eval_metric.convert_score_to_original(score))


def run_tabular(
    spec: JobSpec,
    params: dict[str, Any],
    out_dir: Path,
    report: Reporter,
    *,
    base_dir: Optional[str] = None,
    num_cpus: Optional[int] = None,
    default_time_limit: Optional[float] = None,
) -> TrialResult:
    from autogluon.tabular import TabularPredictor

    from . import ag_process
    from .ag_callbacks import ReportAfterEachModel

    ag_process.install()  # what AutoGluon reads again on every fit is read once per process

    settings = spec.autogluon
    kwargs = fit_arguments(params, settings)
    from .foundation import TABULAR_WEIGHTS, keep_tabular_weights, tabular_fit

    regression = spec.task is Task.TABULAR_REGRESSION
    tabular_fit(kwargs, base_dir, out_dir, spec.compute.gpus, regression)  # foundation weights as folders; compute.gpus reaches the fit
    if default_time_limit and "time_limit" not in kwargs:
        kwargs["time_limit"] = default_time_limit
    data = spec.data
    train = read_table(data.train, base_dir)
    tuning = read_table(data.validation, base_dir) if data.validation else None
    if data.label not in train.columns:
        raise ParameterError(
            f"label column '{data.label}' is not in {data.train} (columns: {', '.join(map(str, train.columns))})"
        )
    problem_type = "regression" if spec.task is Task.TABULAR_REGRESSION else None
    weight = settings.sample_weight if settings else None
    if settings and settings.problem_type:
        problem_type = settings.problem_type
    if weight and weight not in ("auto_weight", "balance_weight") and weight not in train.columns:
        raise ParameterError(f"autogluon.sample_weight: column '{weight}' is not in {data.train}")
    ignored = list(data.ignore_columns)
    absent = [c for c in ignored if c not in train.columns]
    if absent:
        raise ParameterError(f"data.ignore_columns: {', '.join(map(repr, absent))} not in {data.train}")
    positive = positive_label(settings.positive_class if settings else None, train[data.label], data.train)
    callback = ReportAfterEachModel(report)
    predictor = TabularPredictor(
        label=data.label,
        problem_type=problem_type,
        eval_metric=spec.objective.autogluon,
        path=str(out_dir / "model"),
        verbosity=2,
        sample_weight=weight,
        positive_class=positive,
        # AutoGluon's own ignored_columns: never a feature, still accepted (and dropped) by predict
        **({"learner_kwargs": {"ignored_columns": ignored}} if ignored else {}),
    )
    if spec.policy is not None and spec.policy.policy != "none":  # LightGBM reports while it trains only with curves on
        kwargs["learning_curves"] = True
    from .fit_log import NoModelTrained, watching

    with watching() as fit_log:
        try:
            predictor.fit(train, tuning_data=tuning, callbacks=[callback], num_cpus=num_cpus or "auto", **kwargs)
            board = predictor.leaderboard(silent=True)
        except Exception as exc:
            if not callback.cut_short:
                if _trained_nothing(predictor):  # AutoGluon's own error says only "inspect the log"
                    raise NoModelTrained(
                        fit_log.reason(kwargs.get("time_limit"), list(kwargs.get("hyperparameters") or []))
                    ) from exc
                raise
            board = None  # the policy stopped the only model mid-training (the torch MLP keeps nothing then)
    if callback.cut_short and (board is None or board.empty):
        return TrialResult(objective=callback.best, stopped=True)
    if board.empty:
        raise NoModelTrained(fit_log.reason(kwargs.get("time_limit"), list(kwargs.get("hyperparameters") or [])))
    if kwargs.get("presets") or any(f in TABULAR_WEIGHTS for f in kwargs.get("hyperparameters") or {}):
        kept = keep_tabular_weights(predictor)  # the saved predictor loads without the checkpoint (an endpoint's container)
        if kept:
            print(f"[cloudauto] foundation weights kept in the model: {', '.join(kept)}", flush=True)
    from .inference import write_model_info

    features = [c for c in train.columns if c not in (data.label, weight) and c not in ignored]  # a weight column is not served
    dtypes = {c: ("int" if train[c].dtype.kind in "iub" else "float" if train[c].dtype.kind == "f" else "str") for c in features}
    write_model_info(
        out_dir / "model",
        kind="tabular",
        label=data.label,
        features=features,
        dtypes=dtypes,
        problem_type=predictor.problem_type,
        eval_metric=predictor.eval_metric.name,
        **({"positive_class": _plain(predictor.positive_class)} if predictor.problem_type == "binary" else {}),
        **({"ignored_columns": ignored} if ignored else {}),
    )
    objective = _original(predictor.eval_metric, float(board["score_val"].max()))
    from . import trial_extras

    trial_extras.save_models(predictor, out_dir, board)
    metrics: dict[str, Any] = trial_extras.validation_scores(predictor, spec.extra_metrics)
    if predictor.problem_type == "binary":  # the class f1, precision and recall scored: the spec's, or AutoGluon's pick
        from ..reporting import POSITIVE_CLASS

        metrics[POSITIVE_CLASS] = _plain(predictor.positive_class)
    test_error = None
    if data.test:

        def evaluate() -> Optional[float]:
            test = read_table(data.test, base_dir)
            check_columns(features, data.label, test.columns, "test set")
            scores = predictor.evaluate(test, silent=True)
            metrics.update(trial_extras.test_scores(predictor, test, spec.extra_metrics))
            name = predictor.eval_metric.name
            return _original(predictor.eval_metric, scores[name]) if name in scores and math.isfinite(scores[name]) else None

        test_error = score_test(data.test, spec.objective.name, evaluate, metrics)
    if settings and settings.feature_importance:
        try:
            trial_extras.save_importance(predictor, out_dir, tuning)
        except Exception as exc:  # importance is an extra: the model and its scores are kept
            print(f"[cloudauto] feature importance not computed ({type(exc).__name__}: {exc})", flush=True)
    return TrialResult(
        objective=objective, metrics=metrics, model_dir=str(out_dir / "model"), stopped=callback.cut_short, test_error=test_error
    )


def _trained_nothing(predictor: Any) -> bool:
    """Whether a tabular fit that raised had trained no model (AutoGluon raises then)."""
    trainer = getattr(predictor, "_trainer", None)
    try:
        return trainer is not None and not trainer.get_model_names()
    except Exception:
        return False


def run_trial(spec: JobSpec, params: dict[str, Any], out_dir: Path, report: Reporter, **options: Any) -> TrialResult:
    """Run one AutoGluon trial of any task the installed AutoGluon supports."""
    started = time.time()
    if spec.task in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        result = run_tabular(spec, params, out_dir, report, **options)
    elif spec.task is Task.TIME_SERIES_FORECASTING:
        from .autogluon_timeseries import run_timeseries

        result = run_timeseries(spec, params, out_dir, report, **options)
    elif spec.task in MULTIMODAL_TASKS:
        problems = check_parameters(list(params), spec.task)
        if problems:
            raise ParameterError("; ".join(problems))
        from .autogluon_multimodal import run_multimodal

        result = run_multimodal(spec, params, out_dir, report, **options)
    else:
        instead = "Use engine: command with your own training script."
        raise ParameterError(untrainable(spec, instead) or f"task {spec.task.value} has no AutoGluon trial. {instead}")
    result.metrics.setdefault("fit_seconds", time.time() - started)
    return result


__all__ = [
    "FIT_ARGS",
    "MULTIMODAL_TASKS",
    "ParameterError",
    "TrialResult",
    "UNTRAINABLE_TASKS",
    "check_parameters",
    "fit_arguments",
    "run_tabular",
    "score_test",
    "run_trial",
    "untrainable",
]
