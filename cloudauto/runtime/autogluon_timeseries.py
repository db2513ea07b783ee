"""Time-series trials through AutoGluon's TimeSeriesPredictor (the `timeseries` extra).

TimeSeriesPredictor.fit takes no callbacks, so the per-model validation scores are reported
after the fit, in fit order: early termination can end the trial's reporting but not save
its fit time. Model names are AutoGluon's own (DeepAR, ETS, ...). Known covariates
(`forecasting.known_covariates`) and static features (`data.static_features`) reach the
predictor as AutoGluon takes them; every other column is a past covariate. Models that fetch
pretrained weights (Chronos, Toto) are left out unless the spec names them: a machine or a
training instance without the hub would spend every trial's time limit on retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .autogluon_params import PRETRAINED_TIMESERIES_MODELS
from .autogluon_trial import FIT_ARGS, ParameterError, Reporter, TrialResult, score_test
from .data import read_table

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import AutoGluonSettings, JobSpec


def timeseries_fit_arguments(params: dict[str, Any], settings: Optional[AutoGluonSettings] = None) -> dict[str, Any]:
    """`TimeSeriesPredictor.fit` keyword arguments; models that download pretrained weights only where the spec names them."""
    kwargs: dict[str, Any] = {k: FIT_ARGS[k](v) for k, v in params.items() if k in ("presets", "time_limit")}
    base = dict((settings.hyperparameters or {}) if settings else {})
    chosen = params.get("models", params.get("model_name"))
    models = [m.strip() for m in str(chosen).split(",") if m.strip()] if chosen is not None else []
    if models:
        kwargs["hyperparameters"] = {m: base.get(m, {}) for m in models}
    elif base:
        kwargs["hyperparameters"] = base
    asked = {*models, *base}
    excluded = list(settings.excluded_model_types) if settings else []
    excluded += [m for m in PRETRAINED_TIMESERIES_MODELS if m not in asked and m not in excluded]
    kwargs["excluded_model_types"] = excluded  # offline by default: a preset's Chronos would try the hub in every trial
    return kwargs


def static_table(spec: JobSpec, base_dir: Optional[str]) -> Any:
    """data.static_features as AutoGluon takes them: one row per series, indexed by the item id (None without)."""
    data = spec.data
    if not data.static_features:
        return None
    table = read_table(data.static_features, base_dir)
    if data.item_id not in table.columns:
        raise ParameterError(
            f"data.static_features: {data.static_features} has no column '{data.item_id}' (data.item_id) to key its rows"
        )
    twice = table[data.item_id][table[data.item_id].duplicated()].unique()
    if len(twice):
        raise ParameterError(f"data.static_features: the series {', '.join(map(repr, twice[:10]))} have more than one row")
    return table.set_index(data.item_id)


def run_timeseries(
    spec: JobSpec,
    params: dict[str, Any],
    out_dir: Path,
    report: Reporter,
    *,
    base_dir: Optional[str] = None,
    num_cpus: Optional[int] = None,
    default_time_limit: Optional[float] = None,
) -> TrialResult:
    try:
        from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor
    except ImportError:
        raise ParameterError(
            "time_series_forecasting needs autogluon.timeseries: pip install -c constraints.txt 'cloudauto-local[timeseries]'"
        ) from None
    data = spec.data
    kwargs = timeseries_fit_arguments(params, spec.autogluon)
    if default_time_limit and "time_limit" not in kwargs:
        kwargs["time_limit"] = default_time_limit

    known = list(spec.forecasting.known_covariates) if spec.forecasting else []
    static = static_table(spec, base_dir)
    columns: list[str] = []

    def frame(uri: str) -> Any:
        table = read_table(uri, base_dir)
        missing = [c for c in known if c not in table.columns]
        if missing:
            raise ParameterError(f"forecasting.known_covariates: {uri} has no column {', '.join(map(repr, missing))}")
        if data.item_id is None:
            table = table.assign(item_id="series")
        columns[:] = columns or [str(c) for c in table.columns]
        found = TimeSeriesDataFrame.from_data_frame(table, id_column=data.item_id or "item_id", timestamp_column=data.timestamp)
        if static is not None:
            lacking = [i for i in found.item_ids if i not in static.index]
            if lacking:
                raise ParameterError(
                    f"data.static_features: {data.static_features} has no row for the series "
                    f"{', '.join(map(repr, lacking[:10]))} of {uri}"
                )
            found.static_features = static
        return found

    train = frame(data.train)
    predictor = TimeSeriesPredictor(
        prediction_length=data.prediction_length,
        freq=data.freq,
        target=data.label,
        known_covariates_names=known or None,
        eval_metric=spec.objective.autogluon,
        path=str(out_dir / "model"),
        verbosity=2,
    )
    predictor.fit(train, tuning_data=frame(data.validation) if data.validation else None, **kwargs)
    board = predictor.leaderboard(silent=True)
    # TimeSeriesPredictor has no fit callbacks: report each model's validation score, best so far, in fit order.
    # The fit has ended, so a stop verdict has nothing left to stop: it is ignored and the trial completes.
    best = None
    for score in board.sort_values("fit_order")["score_val"] if "fit_order" in board else board["score_val"]:
        value = -float(score) if not predictor.eval_metric.greater_is_better_internal else float(score)
        best = value if best is None or spec.objective.goal.better(value, best) else best
        report(best)
    objective = (
        -float(board["score_val"].max())
        if not predictor.eval_metric.greater_is_better_internal
        else float(board["score_val"].max())
    )
    metrics: dict[str, float] = {}
    test_error = None
    if data.test:

        def evaluate() -> Optional[float]:
            scores = predictor.evaluate(frame(data.test))
            name = predictor.eval_metric.name
            if name not in scores:
                return None
            return -float(scores[name]) if not predictor.eval_metric.greater_is_better_internal else float(scores[name])

        test_error = score_test(data.test, spec.objective.name, evaluate, metrics)
    from .inference import STATIC_FEATURES_FILE, write_model_info

    generator = getattr(getattr(predictor, "_learner", None), "feature_generator", None)
    past = getattr(generator, "past_covariates_names", None)
    if past is None:  # another AutoGluon: every other column, as it takes them
        past = [c for c in columns if c not in (data.item_id, data.timestamp, data.label, *known)]
    if static is not None:  # the endpoint attaches them to each request's series
        static.rename_axis(data.item_id).reset_index().to_csv(out_dir / "model" / STATIC_FEATURES_FILE, index=False)
    write_model_info(
        out_dir / "model",
        kind="timeseries",
        label=data.label,
        timestamp=data.timestamp,
        item_id=data.item_id,
        prediction_length=data.prediction_length,
        freq=data.freq,
        eval_metric=predictor.eval_metric.name,
        known_covariates=known,
        past_covariates=[str(c) for c in past],
        static_features=[str(c) for c in static.columns] if static is not None else [],
    )
    return TrialResult(objective=objective, metrics=metrics, model_dir=str(out_dir / "model"), test_error=test_error)
