"""Time-series trials through AutoGluon's TimeSeriesPredictor (the `timeseries` extra).

TimeSeriesPredictor.fit takes no callbacks, so the per-model validation scores are reported
after the fit, in fit order: early termination can end the trial's reporting but not save
its fit time. Model names are AutoGluon's own (DeepAR, ETS, ...), their settings
`<Model>.<setting>` (Chronos2.fine_tune). Known covariates (`forecasting.known_covariates`) and
static features (`data.static_features`) reach the predictor as AutoGluon takes them; every other
column is a past covariate. Models that fetch pretrained weights (Chronos, Toto)
are left out unless the spec names them or gives them weights (foundation.py): a machine or a
training instance without the hub would spend every trial's time limit on retries.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .autogluon_params import FAMILY_PARAM, PRETRAINED_TIMESERIES_MODELS, TIMESERIES_MODELS
from .autogluon_trial import FIT_ARGS, ParameterError, Reporter, TrialResult, _laid_over, score_test
from .data import read_table
from .foundation import PRESET_FOUNDATION, PRESET_FOUNDATION_ONLY, embed_weights, resolve_weights, weights_parameter

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.errors import SpecIssue
    from ..spec.models import AutoGluonSettings, JobSpec


def timeseries_fit_arguments(
    params: dict[str, Any],
    settings: Optional[AutoGluonSettings] = None,
    *,
    base_dir: Optional[str] = None,
    scratch: Optional[Path] = None,
    gpus: int = 0,
) -> dict[str, Any]:
    """`TimeSeriesPredictor.fit` keyword arguments: `<Model>.<setting>` into that model's hyperparameters, foundation
    weights as folders (s3:// fetched into `scratch`), and models that download weights only where the spec names them
    or gives them weights (a preset's Chronos-2 then reads the spec's folder)."""
    kwargs: dict[str, Any] = {k: FIT_ARGS[k](v) for k, v in params.items() if k in ("presets", "time_limit")}
    base = copy.deepcopy(dict((settings.hyperparameters or {}) if settings else {}))
    per_model: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        match = FAMILY_PARAM.match(name)
        if match and match.group(1) in TIMESERIES_MODELS:
            per_model.setdefault(match.group(1), {})[match.group(2)] = value
    for model, swept in per_model.items():
        base[model] = _laid_over(base.get(model, {}), swept)
    chosen = params.get("models", params.get("model_name"))
    models = [m.strip() for m in str(chosen).split(",") if m.strip()] if chosen is not None else []
    hyperparameters: Optional[dict[str, Any]] = None
    if models:
        hyperparameters = {m: base.get(m, {}) for m in models}
    elif "presets" in kwargs and any(m in PRETRAINED_TIMESERIES_MODELS for m in base):
        hyperparameters = _preset_with_weights(kwargs["presets"], base)
    elif base:
        hyperparameters = base
    asked = set(hyperparameters or {})
    if hyperparameters is None and str(kwargs.get("presets")) in PRESET_FOUNDATION_ONLY:
        asked = set(PRESET_FOUNDATION[str(kwargs["presets"])])  # its models alone: they fetch their weights (compile said so)
    if hyperparameters:
        for model in [m for m in hyperparameters if weights_parameter(m)]:
            configs = hyperparameters[model]
            laid = [configs] if isinstance(configs, dict) else list(configs)
            laid = [resolve_weights(c, model, base_dir, scratch or Path(".")) for c in laid]
            if gpus:  # compute.gpus: the model runs on them (AutoGluon's default is the GPU only when torch sees one)
                laid = [{"device": "cuda", **c} for c in laid]
            hyperparameters[model] = laid[0] if isinstance(configs, dict) else laid
        kwargs["hyperparameters"] = hyperparameters
    excluded = list(settings.excluded_model_types) if settings else []
    asked = {_family(m) for m in asked}  # Chronos2 asked as Chronos-2 (AutoGluon's alias) is asked
    excluded += [m for m in PRETRAINED_FAMILIES if m not in asked and m not in excluded]
    kwargs["excluded_model_types"] = excluded  # offline by default: a preset's Chronos would try the hub in every trial
    return kwargs


def _family(model: str) -> str:
    return "Chronos2" if model == "Chronos-2" else model


# the time-series families that fetch pretrained weights, by their canonical names (Chronos-2 is Chronos2's alias:
# AutoGluon excludes by the exact key, and no preset table spells it so)
PRETRAINED_FAMILIES = tuple(dict.fromkeys(_family(m) for m in PRETRAINED_TIMESERIES_MODELS))


def preset_left_out(presets: Any, given: Any) -> list[str]:
    """The foundation families a time-series preset holds that its trial leaves out, as timeseries_fit_arguments
    decides: those the trial gives no weights (`given`: the families with settings); a preset of foundation models
    alone with none given fetches them all from the hub instead (refused offline at compile)."""
    held = PRESET_FOUNDATION.get(str(presets), ())
    mine = {_family(str(g)) for g in given} & set(PRETRAINED_FAMILIES)
    if not mine and str(presets) in PRESET_FOUNDATION_ONLY:
        return []
    return [f for f in held if f not in mine]


def left_out_message(presets: Any, left: list[str]) -> str:
    """Why a preset trial is not the preset's whole fit, and how to fit the families it leaves out."""
    names = ", ".join(left)
    fields = " and ".join(f"`{f}.model_path`" for f in left)
    example = {"Toto2": "Datadog/Toto-2.0-4m", "Chronos2": "autogluon/chronos-2-small"}.get(left[0], "<org>/<name>")
    return (
        f"{presets}'s {names} {'is' if len(left) == 1 else 'are'} left out: no weights given; to fit "
        f"{'it' if len(left) == 1 else 'them'} as the preset does, give {fields} beside the presets (a folder; or a hub "
        f"name such as {example}, which the local backend downloads only with CLOUDAUTO_ALLOW_HUB=1)"
    )


def preset_issues(spec: JobSpec, backend: str) -> list[SpecIssue]:
    """A warning at each `presets` line whose trials leave out some of the preset's foundation models (no weights)."""
    from ..spec.errors import SpecIssue

    found = []
    block = list((spec.autogluon.hyperparameters or {}) if spec.autogluon else {})
    for index, sub in enumerate(spec.space.subspaces):
        if "presets" not in sub or "models" in sub or "model_name" in sub:  # models name the fit: no preset table
            continue
        dist = sub["presets"]
        values = list(dist.values) if dist.kind == "choice" else [dist.value] if dist.kind == "fixed" else []
        given = [name.partition(".")[0] for name in sub if "." in name] + block
        said = [left_out_message(p, left) for p in values if (left := preset_left_out(p, given))]
        if said:
            at = ("sweep", "space", *((index,) if spec.space.is_conditional else ()), "presets")
            found.append(SpecIssue(f"{backend}: {'; '.join(said)}", at, level="warning"))
    return found


def _preset_with_weights(presets: str, given: dict[str, Any]) -> dict[str, Any]:
    """A preset's models, its pretrained ones reading the weights the spec gives (the others it names are left out)."""
    from autogluon.timeseries.configs import get_hyperparameter_presets, get_predictor_presets
    from autogluon.timeseries.configs.predictor_presets import TIMESERIES_PRESETS_ALIASES

    preset = get_predictor_presets()[TIMESERIES_PRESETS_ALIASES.get(presets, presets)]
    table = preset.get("hyperparameters", "default")
    table = copy.deepcopy(get_hyperparameter_presets()[table] if isinstance(table, str) else table)
    out: dict[str, Any] = {}
    for model, configs in table.items():
        if model not in PRETRAINED_TIMESERIES_MODELS:
            out[model] = configs
        elif model in given:
            mine = given[model] if isinstance(given[model], dict) else {}
            out[model] = [{**c, **mine} for c in configs] if isinstance(configs, list) else {**configs, **mine}
    return out


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
            "time_series_forecasting needs autogluon.timeseries: pip install -c constraints.txt -e 'backends/local[timeseries]' "
            "(in a clone), or pip install 'cloudauto-local[timeseries]'"
        ) from None
    from . import ag_process

    ag_process.install()  # its mlflow check imports mlflow on every worker's first fit
    data = spec.data
    kwargs = timeseries_fit_arguments(params, spec.autogluon, base_dir=base_dir, scratch=out_dir, gpus=spec.compute.gpus)
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
    from .fit_log import NoModelTrained, watching
    from .foundation import stable_names

    stable_names(kwargs.get("hyperparameters") or {})  # Chronos[<folder name>], not Chronos[<the user's path>]
    if params.get("presets") is not None and params.get("models", params.get("model_name")) is None:
        given = [n.partition(".")[0] for n in params if "." in n] + list((spec.autogluon.hyperparameters or {}) if spec.autogluon else {})
        left = preset_left_out(params["presets"], given)
        if left:  # AutoGluon's log lists them under excluded_model_types without a reason
            print(f"[cloudauto] {left_out_message(params['presets'], left)}", flush=True)

    with watching() as fit_log, fit_log.no_model_raised():
        predictor.fit(train, tuning_data=frame(data.validation) if data.validation else None, **kwargs)
    if not predictor.model_names():  # "Models trained: []": out of time, or every model failed
        raise NoModelTrained(fit_log.reason(kwargs.get("time_limit"), list(kwargs.get("hyperparameters") or [])))
    embedded = embed_weights(predictor)  # the saved predictor loads without the weights' folder (an endpoint's container)
    if embedded:
        print(f"[cloudauto] foundation weights copied into the model: {', '.join(embedded)}", flush=True)
    board = predictor.leaderboard(silent=True)
    from .trial_extras import save_models

    save_models(predictor, out_dir, board)  # `cloudauto trials --trial N --models`: the preset trial's models
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
