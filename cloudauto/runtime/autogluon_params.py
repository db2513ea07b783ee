"""The one check of an `engine: autogluon` sweep space, names and values, for every backend.

A misspelt family or preset, a duration where seconds belong, `holdout_frac: 2` or
`num_bag_folds: 1` would otherwise compile and then fail in every trial (on SageMaker, on GPU
instances). The backends call `issues(spec)` at compile time; each issue points at the
parameter's field. The model families and presets are AutoGluon's own for the one release
cloudauto pins (`versions.AUTOGLUON_VERSION`); a test holds these tables to the installed
AutoGluon, so they cannot drift, and `validate` stays free of AutoGluon imports.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from ..spec.errors import SpecIssue
from ..spec.metrics import Task
from .versions import AUTOGLUON_VERSION

MULTIMODAL_TASKS = frozenset({Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION})  # MultiModalPredictor's

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

# autogluon.tabular.registry.ag_model_registry.keys (1.6.3)
TABULAR_FAMILIES = frozenset(
    "AG_AUTOMM AG_IMAGE_NN AG_TEXT_NN CAT DUMMY EBM ENS_WEIGHTED FASTAI FT_TRANSFORMER GBM GBM_PREP IM_BOOSTEDRULES IM_FIGS "
    "IM_GREEDYTREE IM_HSTREE IM_RULEFIT KNN LR MITRA NN_TORCH NORI REALMLP REALTABPFN-V2 REALTABPFN-V2.5 RF "
    "SIMPLE_ENS_WEIGHTED TABDPT TABDPT-TURBO TABICL TABM TABPFN-2.6 TABPFN-3 TABPFNMIX XGB XT".split()
)
# autogluon.tabular.configs.presets_configs: tabular_presets_dict and tabular_presets_alias (1.6.3)
TABULAR_PRESETS = frozenset(
    "best_quality best_quality_v082 best_quality_v150 experimental_quality_v120 extreme_quality extreme_quality_v140 "
    "extreme_quality_v150 good_quality good_quality_v082 high_quality high_quality_v082 high_quality_v150 ignore_text "
    "ignore_text_ngrams interpretable medium_quality noncommercial optimize_for_deployment tabarena best best_quality_v140 "
    "best_v140 best_v150 bq eq experimental_quality_v140 extreme extreme_v140 extreme_v150 extreme_v160 good "
    "good_quality_faster_inference_only_refit gq high high_quality_fast_inference_only_refit high_v150 hq medium "
    "medium_quality_faster_train mq noncommercial_v160".split()
)
# autogluon.timeseries.models.registry.ModelRegistry.REGISTRY, less the abstract classes (1.6.3)
TIMESERIES_MODELS = frozenset(
    "ADIDA ARIMA AutoARIMA AutoCES AutoETS Average Chronos Chronos-2 Chronos2 Croston CrostonSBA DLinear DeepAR "
    "DirectTabular DynamicOptimizedTheta ETS IMAPA NPTS Naive PatchTST PerStepTabular RecursiveTabular SeasonalAverage "
    "SeasonalNaive SimpleFeedForward TFT TemporalFusionTransformer Theta TiDE Toto Toto2 WaveNet Zero".split()
)
# autogluon.timeseries.configs.get_predictor_presets() (1.6.3)
TIMESERIES_PRESETS = frozenset(
    "best best_quality bolt_base bolt_mini bolt_small bolt_tiny bq chronos2 chronos2_ensemble chronos2_small "
    "experimental experimental_quality fast_training high high_quality hq medium medium_quality mq".split()
)
FAMILY_ALIASES = {
    "lightgbm": "GBM",
    "gbm": "GBM",
    "catboost": "CAT",
    "cat": "CAT",
    "xgboost": "XGB",
    "xgb": "XGB",
    "random_forest": "RF",
    "rf": "RF",
    "extra_trees": "XT",
    "xt": "XT",
    "knn": "KNN",
    "linear": "LR",
    "lr": "LR",
    "neural_net": "NN_TORCH",
    "nn_torch": "NN_TORCH",
    "fastai": "FASTAI",
}


def _number(
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    integer: bool = False,
    open_low: bool = False,
    open_high: bool = False,
    also: Iterable[float] = (),
) -> Any:
    """A rule for a numeric fit argument: (value) -> problem or None."""
    allowed = set(also)

    def rule(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if integer and not float(value).is_integer():
            return f"{value!r} is not a whole number"
        if value in allowed:
            return None
        if low is not None and (value < low or (open_low and value == low)):
            return f"{value!r} is out of range"
        if high is not None and (value > high or (open_high and value == high)):
            return f"{value!r} is out of range"
        return None

    return rule


def _boolean(value: Any) -> Optional[str]:
    return None if isinstance(value, bool) else f"{value!r} is not true or false"


# the fit arguments a space may set, with the type each is passed to fit() as
FIT_ARGS = {
    "presets": str,
    "time_limit": float,
    "num_bag_folds": int,
    "num_bag_sets": int,
    "num_stack_levels": int,
    "auto_stack": bool,
    "holdout_frac": float,
    "dynamic_stacking": bool,
    "refit_full": bool,
    "calibrate": bool,
}
TIMESERIES_FIT_ARGS = ("presets", "time_limit")
MULTIMODAL_FIT_ARGS = ("presets", "time_limit")
# MultiModalPredictor's hyperparameter groups: model.timm_image.checkpoint_name, optim.lr, env.per_gpu_batch_size ...
MULTIMODAL_PREFIXES = ("model.", "optim.", "env.", "data.")
# autogluon.multimodal.utils.presets.default (1.6.3): the presets fit takes; the _hpo ones would start AutoMM's own Ray search
MULTIMODAL_PRESETS = frozenset({"best_quality", "high_quality", "medium_quality", "default", "multilingual"})
# the names Azure AutoML's image jobs (and Keras users) give these settings -> AutoMM's, for the did-you-mean
MULTIMODAL_ALIASES = {
    "learning_rate": "optim.lr",
    "lr": "optim.lr",
    "number_of_epochs": "optim.max_epochs",
    "epochs": "optim.max_epochs",
    "max_epochs": "optim.max_epochs",
    "training_batch_size": "env.per_gpu_batch_size",
    "batch_size": "env.per_gpu_batch_size",
    "model_name": "model.timm_image.checkpoint_name",
    "weight_decay": "optim.weight_decay",
    "early_stopping_patience": "optim.patience",
}
MULTIMODAL_RULES: dict[str, tuple[Any, str]] = {
    "optim.lr": (_number(0, open_low=True), "a learning rate > 0"),
    "optim.max_epochs": (_number(1, integer=True), "an integer >= 1"),
    "optim.patience": (_number(1, integer=True), "an integer >= 1"),
    "env.per_gpu_batch_size": (_number(1, integer=True), "an integer >= 1"),
    "env.batch_size": (_number(1, integer=True), "an integer >= 1"),
    "env.num_workers": (_number(0, integer=True), "an integer >= 0"),
}
# fit argument -> (rule, what is valid); presets are checked against the preset tables
FIT_RULES: dict[str, tuple[Any, str]] = {
    "time_limit": (_number(0, open_low=True), "a duration > 0 (90s, 10m, 2h or a number of seconds)"),
    "num_bag_folds": (_number(2, integer=True, also=(0,)), "0 (no bagging) or an integer >= 2"),
    "num_bag_sets": (_number(1, integer=True), "an integer >= 1"),
    "num_stack_levels": (_number(0, integer=True), "an integer >= 0"),
    "holdout_frac": (_number(0, 1, open_low=True, open_high=True), "a fraction in (0, 1)"),
    "auto_stack": (_boolean, "true or false"),
    "dynamic_stacking": (_boolean, "true or false"),
    "refit_full": (_boolean, "true or false"),
    "calibrate": (_boolean, "true or false"),
}
# <FAMILY>.<hyperparameter>; families such as TABPFN-2.6 hold a dot themselves, so the shortest family prefix is taken
FAMILY_PARAM = re.compile(r"^([A-Za-z][A-Za-z0-9_\-.]*?)\.([A-Za-z_][A-Za-z0-9_.]*)$")
_FAMILY_CHOICES = [*sorted(TABULAR_FAMILIES), *sorted(FAMILY_ALIASES)]  # families first: they win a did-you-mean


def family(name: str) -> str:
    return FAMILY_ALIASES.get(name.lower(), name.upper()) if isinstance(name, str) else str(name)


# families whose training loop calls AutoGluon's `reporter` (runtime/ag_callbacks.py): a trial reports while they train
IN_TRAINING_FAMILIES = frozenset({"GBM", "NN_TORCH"})


def trial_steps(models: Any, bagged: bool = False) -> Optional[int]:
    """The steps a tabular trial of these `models` reports when none reports while it trains (None when one does):
    one after each model and one for the ensemble."""
    families = [family(f.strip()) for f in str(models).split(",") if f.strip()]
    if not bagged and any(f in IN_TRAINING_FAMILIES for f in families):
        return None
    return len(families) + 1


def active_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a tabular trial uses: a family's settings only where `models` includes that family.

    The local samplers prune with this, so a CatBoost trial draws no GBM settings and two
    CatBoost trials that differ only in them are seen to be the same configuration.
    """
    chosen = params.get("models", params.get("model_name"))
    if chosen is None:
        return params
    families = {family(f.strip()) for f in str(chosen).split(",") if f.strip()}
    kept = {}
    for name, value in params.items():
        match = FAMILY_PARAM.match(name)
        if match is None or family(match.group(1)) in families:
            kept[name] = value
    return kept


def _did_you_mean(word: str, valid: Iterable[str]) -> str:
    lowered: dict[str, str] = {}
    for v in valid:  # the first spelling wins: families come before their aliases
        lowered.setdefault(v.lower(), v)
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean '{lowered[close[0]]}'? " if close else ""


def _values(dist: Any) -> list[Any]:
    """The values a distribution can produce that a check can look at: all of a choice, the bounds of a range."""
    kind = dist.kind
    if kind == "fixed":
        return [dist.value]
    if kind == "choice":
        return list(dist.values)
    if kind == "randint":
        return [dist.low, dist.high - 1]
    if kind in ("uniform", "loguniform", "quniform", "qloguniform"):
        return [dist.low, dist.high]
    return []  # normal / lognormal: unbounded, checked by the backends that cannot take them


def _families(value: Any, task: Task) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return f"{value!r} is not a model family name"
    timeseries = task is Task.TIME_SERIES_FORECASTING
    for part in (p.strip() for p in value.split(",")):
        known = part in TIMESERIES_MODELS if timeseries else family(part) in TABULAR_FAMILIES
        if not known:
            valid = sorted(TIMESERIES_MODELS) if timeseries else _FAMILY_CHOICES
            kind = "AutoGluon time-series model" if timeseries else "AutoGluon model family"
            return f"'{part}' is not an {kind}; {_did_you_mean(part, valid)}valid: {', '.join(valid)}"
    return None


def _preset(value: Any, task: Task) -> Optional[str]:
    valid = (
        TIMESERIES_PRESETS
        if task is Task.TIME_SERIES_FORECASTING
        else MULTIMODAL_PRESETS
        if task in MULTIMODAL_TASKS
        else TABULAR_PRESETS
    )
    if task in MULTIMODAL_TASKS and isinstance(value, str) and value.endswith("_hpo"):
        return (
            f"{value!r} starts AutoMM's own hyperparameter search inside each trial; the sweep is the search: use {value[:-4]!r}"
        )
    if isinstance(value, str) and value in valid:
        return None
    return f"{value!r} is not an AutoGluon {AUTOGLUON_VERSION} preset; {_did_you_mean(str(value), valid)}valid: {', '.join(sorted(valid))}"


def name_problem(name: str, task: Task) -> Optional[str]:
    """Why `name` is no parameter of an AutoGluon fit of `task` (None when it is one)."""
    if task in MULTIMODAL_TASKS:
        if name in MULTIMODAL_FIT_ARGS or (name.startswith(MULTIMODAL_PREFIXES) and "." in name.rstrip(".")):
            return None
        valid = [*MULTIMODAL_FIT_ARGS, *(f"{p}<name>" for p in MULTIMODAL_PREFIXES)]
        alias = MULTIMODAL_ALIASES.get(name)
        hint = (
            f"did you mean '{alias}'? "
            if alias
            else _did_you_mean(name, [*MULTIMODAL_FIT_ARGS, *MULTIMODAL_RULES, "model.timm_image.checkpoint_name"])
        )
        return (
            f"'{name}' does not map onto a MultiModalPredictor fit of {task.value}; {hint}"
            f"valid: {', '.join(valid)} (AutoMM's hyperparameter names)"
        )
    timeseries = task is Task.TIME_SERIES_FORECASTING
    fit_args = TIMESERIES_FIT_ARGS if timeseries else tuple(FIT_ARGS)
    if name in ("models", "model_name", *fit_args):
        return None
    match = None if timeseries else FAMILY_PARAM.match(name)
    if match:
        prefix = match.group(1)
        if family(prefix) in TABULAR_FAMILIES:
            return None
        return (
            f"'{name}': '{prefix}' is not an AutoGluon model family; "
            f"{_did_you_mean(prefix, _FAMILY_CHOICES)}valid: {', '.join(_FAMILY_CHOICES)}"
        )
    valid_names = ["models", "model_name", *fit_args] + ([] if timeseries else ["<FAMILY>.<hyperparameter>"])
    return (
        f"'{name}' does not map onto an AutoGluon {task.value} fit; "
        f"{_did_you_mean(name, valid_names)}valid: {', '.join(valid_names)}"
    )


def _value_check(name: str, task: Task) -> Any:
    """(value) -> problem or None, for a parameter whose name maps; None where values are AutoGluon's own (GBM.*)."""
    if name in ("models", "model_name"):
        return lambda v: _families(v, task)
    if name == "presets":
        return lambda v: _preset(v, task)
    rules = MULTIMODAL_RULES if task in MULTIMODAL_TASKS else FIT_RULES
    if name == "time_limit":
        rules = FIT_RULES
    if name in rules:
        rule, valid = rules[name]

        def check(value: Any) -> Optional[str]:
            problem = rule(value)
            return f"{problem}; {name} takes {valid}" if problem else None

        return check
    return None


def parameter_problem(name: str, dist: Any, task: Task) -> Optional[str]:
    """What is wrong with one parameter of the space for an AutoGluon fit of `task` (None when nothing is)."""
    problem = name_problem(name, task)
    check = None if problem else _value_check(name, task)
    for value in _values(dist) if check else ():
        if isinstance(value, float) and not math.isfinite(value):
            continue
        problem = check(value)
        if problem:
            where = "" if dist.kind == "fixed" else f" (in its {dist.kind})"
            return f"{name}{where}: {problem}"
    return problem


def issues(spec: JobSpec) -> list[SpecIssue]:
    """Every parameter of an engine: autogluon space that an AutoGluon fit would refuse, at its field."""
    if spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING, *MULTIMODAL_TASKS):
        return []  # object detection is refused as a whole (untrainable)
    found = []
    if spec.objective.autogluon is None:  # AutoGluon would fit to its default metric while the sweep ranks by this one
        from ..spec.metrics import metrics_for

        others = sorted(m.name for m in metrics_for(spec.task) if m.autogluon)
        found.append(
            SpecIssue(
                f"{spec.objective.name} has no AutoGluon counterpart, so AutoGluon trials cannot fit to it; "
                f"use one of: {', '.join(others)} (or engine: native on azureml, where Azure AutoML computes it)",
                ("metric",),
            )
        )
    for index, name, dist in spec.space.distributions():
        problem = parameter_problem(name, dist, spec.task)
        if problem:
            found.append(SpecIssue(problem, ("sweep", "space", index, name)))
    settings = spec.autogluon
    if settings is not None:
        for i, name in enumerate(settings.excluded_model_types):
            problem = _families(name, spec.task)
            if problem:
                found.append(SpecIssue(f"excluded_model_types: {problem}", ("autogluon", "excluded_model_types", i)))
        for name in settings.hyperparameters or {}:
            problem = _families(name, spec.task)
            if problem:
                found.append(SpecIssue(f"hyperparameters: {problem}", ("autogluon", "hyperparameters", name)))
    return found


# time-series models that fetch pretrained weights from the Hugging Face hub when they fit
PRETRAINED_TIMESERIES_MODELS = ("Chronos", "Chronos-2", "Chronos2", "Toto", "Toto2")


__all__ = [
    "IN_TRAINING_FAMILIES",
    "FAMILY_ALIASES",
    "FAMILY_PARAM",
    "FIT_ARGS",
    "FIT_RULES",
    "MULTIMODAL_PREFIXES",
    "MULTIMODAL_PRESETS",
    "MULTIMODAL_TASKS",
    "PRETRAINED_TIMESERIES_MODELS",
    "TABULAR_FAMILIES",
    "TABULAR_PRESETS",
    "TIMESERIES_MODELS",
    "TIMESERIES_PRESETS",
    "active_parameters",
    "family",
    "issues",
    "name_problem",
    "parameter_problem",
    "trial_steps",
]
