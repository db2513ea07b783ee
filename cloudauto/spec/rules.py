"""Rules across fields of a spec whose shape is already valid.

Each rule reports at the field the user has to change. Rules are backend-agnostic: a
combination that only some backend cannot run validates here (perhaps with a warning)
and is refused by that backend's compile step, which names its own rule.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Optional

from .errors import IssueCollector
from .metrics import Task, UnknownMetricError, custom_metric, lookup, metrics_for
from .space import MAX_CHOICES, MAX_GRID_POINTS, PARAM_NAME

if TYPE_CHECKING:
    from .models import JobSpec

PLACEHOLDER = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_TABULAR_LIKE = {Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TEXT_CLASSIFICATION, Task.IMAGE_CLASSIFICATION}


def check(spec: JobSpec) -> IssueCollector:
    out = IssueCollector()
    _metric(spec, out)
    _extra_metrics(spec, out)
    _engine(spec, out)
    _backend(spec, out)
    _data(spec, out)
    _sweep(spec, out)
    _limits(spec, out)
    _stop_and_retry(spec, out)
    _command(spec, out)
    _autogluon(spec, out)
    _autogluon_parameters(spec, out)
    _forecasting(spec, out)
    return out


def _forecasting(spec: JobSpec, out: IssueCollector) -> None:
    """Covariates and static features: AutoGluon's TimeSeriesPredictor settings, for a forecast it trains."""
    from .models import Engine

    data, settings = spec.data, spec.forecasting
    fields = [(("forecasting",), "the forecasting block")] if settings is not None else []
    if data.static_features is not None:
        fields.append((("data", "static_features"), "static_features"))
    for where, what in fields:
        if not spec.task.is_time_series:
            out.error(where, f"{what} is for time_series_forecasting (task is {spec.task.value})")
        elif spec.engine is not Engine.AUTOGLUON:
            out.error(
                where,
                f"{what} is AutoGluon's (TimeSeriesPredictor's covariates); engine is {spec.engine.value}",
                hint="engine: autogluon",
            )
    if not spec.task.is_time_series:
        return
    if data.static_features is not None and data.item_id is None:
        out.error(
            ("data", "static_features"),
            "static features are one row per series, keyed by the item_id column: set data.item_id",
            hint="item_id: <column>",
        )
    seen: set[str] = set()
    for i, name in enumerate(settings.known_covariates if settings else []):
        where = ("forecasting", "known_covariates", i)
        role = next((r for r in ("label", "timestamp", "item_id") if getattr(data, r) == name), None)
        if role:
            out.error(where, f"'{name}' is data.{role}; a known covariate is another column whose future values are known")
        elif name in seen:
            out.error(where, f"'{name}' is listed twice")
        seen.add(name)


def _autogluon_parameters(spec: JobSpec, out: IssueCollector) -> None:
    """engine: autogluon: the names and values an AutoGluon fit refuses, as every backend's compile checks them.

    The tables are static (runtime/autogluon_params.py, held to the installed AutoGluon by a test), so
    validate refuses `models: RandomForest` without AutoGluon installed. engine: native is left to the
    backend: on Azure ML it is AutoML, with parameters of its own.
    """
    from .models import Engine

    if spec.engine is not Engine.AUTOGLUON or getattr(spec, "_objective", None) is None:
        return  # an unknown metric is reported already; the parameter check needs the resolved one
    from ..runtime.autogluon_params import issues

    for issue in issues(spec):
        out.error(issue.path, issue.message, hint=issue.hint)


_PROBLEM_TYPES = {
    Task.TABULAR_CLASSIFICATION: ("binary", "multiclass", "softclass"),
    Task.TABULAR_REGRESSION: ("regression", "quantile"),
}


def _autogluon(spec: JobSpec, out: IssueCollector) -> None:
    """The `autogluon:` block: only where AutoGluon trains, and only what the task's predictor takes."""
    from .models import Engine

    settings = spec.autogluon
    if settings is None:
        return
    if spec.engine is Engine.COMMAND:
        out.error(("autogluon",), "the autogluon block is for engine: autogluon; a command runs your own script")
        return
    tabular = spec.task in _PROBLEM_TYPES
    if not tabular and spec.task is not Task.TIME_SERIES_FORECASTING:
        out.error(("autogluon",), f"the autogluon block takes tabular and time-series settings, not {spec.task.value}")
        return
    for field in ("problem_type", "sample_weight"):
        if getattr(settings, field) is not None and not tabular:
            out.error(("autogluon", field), f"{field} is a TabularPredictor setting; TimeSeriesPredictor has none")
    if tabular and settings.problem_type and settings.problem_type not in _PROBLEM_TYPES[spec.task]:
        valid = " or ".join(_PROBLEM_TYPES[spec.task])
        out.error(("autogluon", "problem_type"), f"{spec.task.value} takes problem_type {valid}, not {settings.problem_type}")
    if settings.sample_weight and settings.sample_weight == spec.data.label:
        out.error(("autogluon", "sample_weight"), "the weight column cannot be the label")
    if settings.positive_class is not None:
        if spec.task is not Task.TABULAR_CLASSIFICATION:
            out.error(("autogluon", "positive_class"), f"positive_class is for binary tabular_classification, not {spec.task.value}")
        elif settings.problem_type not in (None, "binary"):
            out.error(
                ("autogluon", "positive_class"),
                f"positive_class is for binary classification; problem_type is {settings.problem_type}",
                hint="remove positive_class, or set problem_type: binary",
            )
    if settings.feature_importance and not tabular:
        out.error(("autogluon", "feature_importance"), "feature_importance is TabularPredictor's; TimeSeriesPredictor has none")


SAID_PER_FIELD = 20  # problems said of one list field; the rest are counted in one line

# AutoGluon's metrics that take one positive class (autogluon.core.metrics.METRICS: binary, not multiclass)
BINARY_ONLY_METRICS = frozenset({"f1", "precision", "recall", "roc_auc", "average_precision"})
EXTRA_METRIC_TASKS = (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION)


def _extra_metrics(spec: JobSpec, out: IssueCollector) -> None:
    """`metrics:` beside the primary one: AutoGluon's names for the task (did-you-mean), recorded by every trial."""
    from .models import Engine

    if not spec.metrics:
        return
    if spec.engine is Engine.COMMAND or spec.task not in EXTRA_METRIC_TASKS:
        out.error(
            ("metrics",),
            f"metrics: cloudauto's AutoGluon trials record more metrics for tabular tasks, not {spec.task.value}"
            + (" with engine: command (your script reports what it likes with cloudauto.report)" if spec.engine is Engine.COMMAND else ""),
        )
        return
    primary = getattr(spec, "_objective", None)
    problem_type = spec.autogluon.problem_type if spec.autogluon else None
    found: list = []
    said = len(out.issues)
    for i, name in enumerate(spec.metrics):
        if len(out.issues) - said >= SAID_PER_FIELD:  # the rest is counted: 10,000 bad names made megabytes of errors
            more = _bad_metrics(spec, problem_type, i)
            if more:
                out.error(("metrics",), f"... and {more} more problems in metrics (the first {SAID_PER_FIELD} are said)")
            break
        try:
            metric = lookup(name, spec.task)
        except UnknownMetricError as exc:
            valid = [m.name for m in metrics_for(spec.task) if m.autogluon]
            hint = f"did you mean '{exc.suggestion}'?" if exc.suggestion else None
            out.error(("metrics", i), f"unknown metric '{name}' for task {spec.task.value}; AutoGluon's: {', '.join(valid)}", hint=hint)
            continue
        if metric.autogluon is None:
            out.error(("metrics", i), f"{metric.name} is Azure AutoML's; AutoGluon has no such metric")
            continue
        if problem_type in ("multiclass", "softclass") and metric.autogluon in BINARY_ONLY_METRICS:
            out.error(
                ("metrics", i),
                f"{metric.name} takes one positive class; problem_type is {problem_type}",
                hint=f"use {metric.autogluon}_macro or {metric.autogluon}_weighted" if metric.autogluon != "roc_auc" else "use log_loss or accuracy",
            )
            continue
        if metric != primary and metric not in found:
            found.append(metric)
    spec._extra_metrics = found


def _bad_metrics(spec: JobSpec, problem_type: Optional[str], start: int) -> int:
    """How many of the names in `metrics` from `start` on are refused (unknown, Azure's, or binary-only for multiclass)."""
    bad = 0
    for name in spec.metrics[start:]:
        try:
            metric = lookup(name, spec.task)
        except UnknownMetricError:
            bad += 1
            continue
        bad += metric.autogluon is None or (
            problem_type in ("multiclass", "softclass") and metric.autogluon in BINARY_ONLY_METRICS
        )
    return bad


def _metric(spec: JobSpec, out: IssueCollector) -> None:
    from .models import Engine

    name, goal = spec.metric.name, spec.metric.goal
    if spec.task is Task.CUSTOM:
        if goal is None:
            out.error(("metric", "goal"), "a custom task's metric needs a goal", hint="goal: maximize or goal: minimize")
            return
        spec._objective = custom_metric(name, goal)
        return
    try:
        metric = lookup(name, spec.task)
    except UnknownMetricError as exc:
        if spec.engine is Engine.COMMAND and goal is not None:
            # the user's script reports a metric of its own; it needs no registry entry
            spec._objective = custom_metric(name, goal)
            return
        hint = f"did you mean '{exc.suggestion}'?" if exc.suggestion else None
        extra = (
            "; a script of your own (engine: command) may report any metric given with a goal"
            if spec.engine is not Engine.COMMAND
            else "; give goal: maximize|minimize for a metric your script reports"
        )
        out.error(
            ("metric", "name"),
            f"unknown metric '{name}' for task {spec.task.value}; valid: {', '.join(exc.valid)}{extra}",
            hint=hint,
        )
        return
    if goal is not None and goal is not metric.goal:
        out.error(
            ("metric", "goal"),
            f"{metric.name} is to be {metric.goal.value}d, not {goal.value}d",
            hint=f"remove goal or write goal: {metric.goal.value}",
        )
        return
    spec._objective = metric


def _backend(spec: JobSpec, out: IssueCollector) -> None:
    """`backend:` names an installed backend (a first-party one not installed here is a warning: CI may validate
    a cloud's specs where only the local plugin is); anything else is an error with the closest name."""
    if spec.backend is None:
        return
    from ..registry import KNOWN, available_backends, suggest

    installed = available_backends()
    if spec.backend in installed:
        return
    if spec.backend in KNOWN:
        out.warn(
            ("backend",),
            f"backend '{spec.backend}' is not installed here; submit and run will need it",
            hint=f"pip install {KNOWN[spec.backend]}",
        )
        return
    valid = sorted(set(KNOWN) | set(installed))
    hint = suggest(spec.backend, valid).rstrip() or None
    out.error(("backend",), f"'{spec.backend}' is not a backend cloudauto knows; valid: {', '.join(valid)}", hint=hint)


def _engine(spec: JobSpec, out: IssueCollector) -> None:
    from .models import Engine

    if spec.engine is Engine.COMMAND and spec.command is None:
        out.error(("engine",), "engine: command needs a command block", hint="command: {run: python train.py --lr ${{sweep.lr}}}")
    if spec.engine is not Engine.COMMAND and spec.command is not None:
        out.error(
            ("engine",),
            f"a command block is only used with engine: command (engine is {spec.engine.value})",
            hint="set engine: command, or remove the command block",
        )
    if spec.task is Task.CUSTOM and spec.engine is not Engine.COMMAND:
        where = ("engine",) if "engine" in spec.model_fields_set else ("task",)
        out.error(where, "task: custom runs your own script and needs engine: command", hint="engine: command")


def _data(spec: JobSpec, out: IssueCollector) -> None:
    from .models import Engine

    data = spec.data
    if data.train is None and spec.engine is not Engine.COMMAND:
        out.error(("data", "train"), f"engine: {spec.engine.value} needs training data", hint="data: {train: <path or URI>}")
    if spec.task.is_time_series:
        if data.timestamp is None:
            out.error(("data", "timestamp"), "time_series_forecasting needs the timestamp column", hint="timestamp: <column>")
        if data.prediction_length is None:
            out.error(("data", "prediction_length"), "time_series_forecasting needs prediction_length (the horizon in steps)")
        if data.label is None:
            out.error(("data", "label"), "time_series_forecasting needs the target column as label")
    else:
        for field in ("timestamp", "item_id", "prediction_length", "freq"):
            if getattr(data, field) is not None:
                out.error(("data", field), f"{field} is only for time_series_forecasting (task is {spec.task.value})")
        if spec.task in _TABULAR_LIKE and data.label is None and spec.engine is not Engine.COMMAND:
            out.error(("data", "label"), f"{spec.task.value} needs the label column", hint="label: <column>")
    _ignore_columns(spec, out)


def _ignore_columns(spec: JobSpec, out: IssueCollector) -> None:
    """`data.ignore_columns`: columns of a tabular table that are no features (AutoGluon's ignored_columns)."""
    from .models import Engine

    data = spec.data
    if not data.ignore_columns:
        return
    if spec.engine is Engine.COMMAND or spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        out.error(("data", "ignore_columns"), f"ignore_columns is for tabular tasks trained by AutoGluon, not {spec.task.value}")
        return
    weight = spec.autogluon.sample_weight if spec.autogluon else None
    seen: set[str] = set()
    for i, name in enumerate(data.ignore_columns):
        if not name.strip():
            out.error(("data", "ignore_columns", i), f"{name!r} is an empty column name; name a column of the table, or drop it")
        elif name == data.label:
            out.error(("data", "ignore_columns", i), f"'{name}' is the label; a label cannot be ignored")
        elif weight and name == weight:
            out.error(("data", "ignore_columns", i), f"'{name}' is autogluon.sample_weight, which is no feature already")
        elif name in seen:
            out.error(("data", "ignore_columns", i), f"'{name}' is listed twice")
        seen.add(name)


def _sweep(spec: JobSpec, out: IssueCollector) -> None:
    from .models import AshaPolicy, BanditPolicy, HyperbandPolicy, NoPolicy, Sampling

    sweep = spec.sweep
    if sweep is None:
        return
    space = sweep.space
    if not space.subspaces:
        out.error(("sweep", "space"), "the list of alternative sub-spaces is empty")
        return
    # paths always carry the sub-space index; the loader drops it where the space was a mapping
    for i, sub in enumerate(space.subspaces):
        base = ("sweep", "space", i)
        if not sub:
            out.error(base, "a sub-space needs at least one parameter")
        for name in sub:
            if not PARAM_NAME.match(name):
                out.error((*base, name), f"'{name}' is not a valid parameter name (letters, digits, _, . and -, not first)")
    if sweep.sampling is Sampling.GRID:
        for i, name, dist in space.distributions():
            if not dist.is_discrete:
                out.error(
                    ("sweep", "space", i, name),
                    f"grid sampling needs discrete values; '{name}' is {dist.kind}",
                    hint="use choice, quniform or randint, or sampling: random|bayesian",
                )
            elif dist.grid_count() > MAX_CHOICES:  # counted, not listed: quniform [8, 64, 1e-300] has 5.6e301 values
                out.error(
                    ("sweep", "space", i, name),
                    f"{dist.kind} gives {_count(dist.grid_count())} values; a grid takes at most {MAX_CHOICES:,} per parameter",
                    hint="a coarser q, narrower bounds, or sampling: random|bayesian",
                )
        if not out.errors and space.grid_size() > MAX_GRID_POINTS:
            out.error(
                ("sweep", "space"),
                f"the grid has {_count(space.grid_size())} points; a grid takes at most {MAX_GRID_POINTS:,}",
                hint="fewer values per parameter, or sampling: random|bayesian with limits.max_trials",
            )
    policy = sweep.early_termination
    if isinstance(policy, BanditPolicy):
        if (policy.slack_factor is None) == (policy.slack_amount is None):
            out.error(
                ("sweep", "early_termination"),
                "bandit takes exactly one of slack_factor and slack_amount",
                hint="slack_factor: 0.1 (ratio) or slack_amount: 0.2 (absolute)",
            )
    if isinstance(policy, (AshaPolicy, HyperbandPolicy)):
        _multi_fidelity(policy, out)
    if sweep.sampling is Sampling.BAYESIAN and policy is not None and not isinstance(policy, NoPolicy):
        out.warn(
            ("sweep", "early_termination"),
            "Azure ML rejects early termination with bayesian sampling (the azureml backend will refuse it); "
            + (
                "local applies it and SageMaker's Hyperband strategy chooses the configurations itself"
                if isinstance(policy, (AshaPolicy, HyperbandPolicy))
                else "local applies it and SageMaker maps it to Auto"
            ),
        )
    if sweep.sampling is Sampling.BAYESIAN and spec.limits.max_trials is not None and spec.limits.max_trials < 2:
        out.warn(("limits", "max_trials"), "bayesian sampling with one trial is a random guess")
    _policy_reach(spec, out)


def _multi_fidelity(policy: Any, out: IssueCollector) -> None:
    """asha / hyperband: rungs that exist, and brackets that have a rung."""
    from .models import MAX_RESOURCE_LIMIT

    where = ("sweep", "early_termination")
    if policy.min_resource > policy.max_resource:
        out.error(
            (*where, "min_resource"),
            f"min_resource ({policy.min_resource}) is above max_resource ({policy.max_resource})",
            hint="the first rung is min_resource steps; a trial gets at most max_resource",
        )
        return
    if policy.max_resource > MAX_RESOURCE_LIMIT:
        out.error(
            (*where, "max_resource"),
            f"max_resource is {_count(policy.max_resource)}; it is at most {MAX_RESOURCE_LIMIT:,} steps on every backend "
            "(SageMaker's HyperbandStrategyConfig.MaxResource limit, so a spec means the same everywhere)",
            hint=f"max_resource: {MAX_RESOURCE_LIMIT} or fewer",
        )
        return
    rungs = policy.rungs()
    if getattr(policy, "brackets", None) is not None and policy.brackets > len(rungs):
        out.error(
            (*where, "brackets"),
            f"{policy.brackets} brackets, but rungs {', '.join(map(str, rungs))} make {len(rungs)} "
            f"(bracket s starts at min_resource × {policy.reduction_factor}^s ≤ max_resource)",
            hint=f"brackets: {len(rungs)} or fewer",
        )
    if not [r for r in rungs if r < policy.max_resource]:
        out.warn(
            where,
            f"no rung below max_resource {policy.max_resource}: {policy.policy} never compares trials, it only stops "
            f"each at {policy.resource} {policy.max_resource}; lower min_resource",
        )


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"{float(n):.3g}" if n < 1 << 1023 else "more than 1e308"


def _policy_reach(spec: JobSpec, out: IssueCollector) -> None:
    """A policy's verdict acts only while a trial trains: say which trials it can stop, and how.

    LightGBM and the torch MLP report while they train (when not bagged, and when their stopping
    metric is the objective: AutoGluon stops on log_loss for roc_auc); every other model reports
    once after its fit, so a verdict can only skip the models after it; a forecasting trial
    reports after its whole fit, so no verdict can stop it.
    """
    from .models import Engine, NoPolicy

    policy = spec.policy
    if policy is None or isinstance(policy, NoPolicy) or spec.engine is Engine.COMMAND:
        return
    where = ("sweep", "early_termination")
    multi = policy.policy in ("asha", "hyperband")
    if multi:
        first = policy.min_resource  # the first rung, or max_resource where a trial is stopped anyway
    else:
        first = (policy.delay_evaluation // policy.evaluation_interval + 1) * policy.evaluation_interval
    from ..runtime.autogluon_params import MULTIMODAL_TASKS

    if multi and spec.task in MULTIMODAL_TASKS:
        _rungs_reached(policy, _multimodal_steps(spec), out)
    if spec.task is Task.TIME_SERIES_FORECASTING:
        out.warn(
            where,
            f"forecasting trials report each model's score after their whole fit: the {policy.policy} policy "
            "cannot stop them (its verdicts are ignored)",
        )
        return
    if spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        return
    from ..runtime.autogluon_params import IN_TRAINING_FAMILIES, trial_steps

    during = "/".join(sorted(IN_TRAINING_FAMILIES))
    in_training = spec.objective.autogluon != "roc_auc"
    if not in_training:
        out.warn(
            where,
            f"with metric {spec.objective.name}, AutoGluon's {during} stop on log_loss, so no model reports "
            f"{spec.objective.name} while it trains: the {policy.policy} policy acts only between models",
        )
    never: list[str] = []
    between: list[str] = []
    for sub in spec.space.subspaces:
        bagged = _bagged(sub)
        dist = sub.get("models", sub.get("model_name"))
        if dist is None or not dist.is_discrete or dist.grid_count() > MAX_CHOICES:
            if bagged:
                between.append("bagged models (num_bag_folds, presets)")
            continue  # AutoGluon's own model set includes LightGBM, which reports while it trains
        for value in dist.grid_values():
            steps = trial_steps(value, bagged=bagged, in_training=in_training)
            if steps is None:
                continue
            if multi:
                why = "one after each model, one for the ensemble"
                _rungs_reached(policy, [(f"models: {value}" + (" (bagged)" if bagged else ""), steps, why)], out)
            # a verdict at the step after the last model (the ensemble's) comes after the fit and is ignored
            (never if steps - 2 < first else between).append(f"models: {value}" + (" (bagged)" if bagged else ""))
    if not in_training:  # the warning above says the policy acts only between models, for every model
        return
    if never:
        out.warn(
            where,
            f"the {policy.policy} policy is first applied at interval {first}, and trials of {', '.join(never)} "
            f"report one step after each model (none while it trains): it can never stop them; "
            f"{during} trials report while they train",
        )
    if between:
        out.warn(
            where,
            f"trials of {', '.join(between)} report one step after each model: the {policy.policy} policy can stop "
            f"them only between models; {during} trials report while they train",
        )


def _rungs_reached(policy: Any, known: list[tuple[str, int, str]], out: IssueCollector) -> None:
    """asha / hyperband: warn where trials report fewer steps than the rungs (and max_resource) asked for."""
    for what, steps, why in known:
        if steps >= policy.max_resource:
            continue
        judged = [r for r in policy.rungs() if r < policy.max_resource]
        unreached = [r for r in judged if r > steps]
        verdict = (
            f"no rung is reached, so {policy.policy} never compares them"
            if unreached == judged
            else f"rungs at {policy.resource} {', '.join(map(str, unreached))} are never reached"
            if unreached
            else "every rung is reached"
        )
        out.warn(
            ("sweep", "early_termination"),
            f"trials of {what} report at most {steps} steps ({why}), fewer than max_resource {policy.max_resource}: "
            f"{verdict}; lower max_resource (and min_resource) to the steps the trials report",
        )


def _multimodal_steps(spec: JobSpec) -> list[tuple[str, int, str]]:
    """Image / text trials report each validation: at most optim.max_epochs × validations per epoch, where the space fixes
    them (AutoMM's defaults: 20 epochs, val_check_interval 0.5, i.e. two validations an epoch)."""
    found = []
    for sub in spec.space.subspaces:
        epochs, interval = sub.get("optim.max_epochs"), sub.get("optim.val_check_interval")
        if epochs is not None and not epochs.is_discrete:
            continue
        epoch_values = [int(v) for v in epochs.grid_values()] if epochs is not None else [20]
        if interval is None:
            per_epoch = 2
        elif interval.is_discrete and all(isinstance(v, float) and 0 < v <= 1 for v in interval.grid_values()):
            per_epoch = max(math.floor(1 / v + 1e-9) for v in interval.grid_values())
        else:
            continue  # a count of batches: the validations depend on the data's size
        most = max(epoch_values) * per_epoch
        found.append(
            (
                f"optim.max_epochs {max(epoch_values)}",
                most,
                f"one per validation, {per_epoch} an epoch",
            )
        )
    return found


def _bagged(sub: dict) -> bool:
    """Whether a sub-space's trials may bag (their fold models report after the fit only)."""
    folds = sub.get("num_bag_folds")
    if folds is not None and folds.is_discrete and any(isinstance(v, (int, float)) and v >= 2 for v in folds.grid_values()):
        return True
    presets = sub.get("presets")
    unbagged = {"medium_quality", "medium", "mq", "medium_quality_faster_train", "optimize_for_deployment", "ignore_text"}
    return presets is not None and presets.is_discrete and any(str(v) not in unbagged for v in presets.grid_values())


def _stop_and_retry(spec: JobSpec, out: IssueCollector) -> None:
    """limits.stop_when, limits.max_failed_trials and sweep.warm_start: what each needs, whatever the backend."""
    limits = spec.limits
    stop = limits.stop_when
    if stop is not None and stop.target is None and stop.no_improvement_trials is None and not stop.converged:
        out.error(
            ("limits", "stop_when"),
            "stop_when names no criterion",
            hint="give target: VALUE, no_improvement_trials: N or converged: true (or leave stop_when out)",
        )
    elif stop is not None and spec.sweep is None:
        out.warn(("limits", "stop_when"), "without a sweep one trial runs; stop_when has nothing to stop")
    if limits.max_failed_trials is not None and limits.max_failed_trials > spec.max_trials:
        out.warn(
            ("limits", "max_failed_trials"),
            f"max_failed_trials ({limits.max_failed_trials}) is above the {spec.max_trials} trials that run: it is never reached",
        )
    warm = spec.sweep.warm_start if spec.sweep else None
    if warm is not None:
        seen: set[str] = set()
        for i, parent in enumerate(warm.from_):
            if parent in seen:
                out.error(("sweep", "warm_start", "from", i), f"job {parent} is named twice")
            seen.add(parent)


def _limits(spec: JobSpec, out: IssueCollector) -> None:
    from .models import Engine

    limits = spec.limits
    if limits.max_trials is not None and limits.max_concurrent_trials > limits.max_trials:
        out.error(
            ("limits", "max_concurrent_trials"),
            f"max_concurrent_trials ({limits.max_concurrent_trials}) exceeds max_trials ({limits.max_trials})",
            hint=f"lower limits.max_concurrent_trials to {limits.max_trials} or less, "
            f"e.g. --set limits.max_concurrent_trials={limits.max_trials}",
        )
    if spec.sweep is None and limits.max_trials not in (None, 1) and spec.engine is not Engine.NATIVE:
        # engine: native is the cloud's own AutoML: there max_trials is how many models it tries, sweep or not
        out.warn(("limits", "max_trials"), "without a sweep every trial would be the same; only one runs")
    if spec.compute.max_wait is not None and not spec.compute.spot:
        out.error(
            ("compute", "max_wait"),
            "compute.max_wait is how long a spot trial may wait for capacity; it needs compute.spot: true",
            hint="set compute.spot: true, or leave compute.max_wait out",
        )
    if limits.timeout and limits.trial_timeout and limits.trial_timeout > limits.timeout:
        out.warn(("limits", "trial_timeout"), "trial_timeout is longer than the whole job's timeout")
    # a fit longer than the trial's or the whole job's limit is killed (timed out) before it ends: the shorter one is said
    bounds = [(t, f) for t, f in ((limits.trial_timeout, "trial_timeout"), (limits.timeout, "timeout")) if t]
    if bounds and spec.sweep and spec.command is None:
        bound, field_ = min(bounds, key=lambda b: b[0])
        killed = "the trial is killed (timed out)" if field_ == "trial_timeout" else "the job is stopped (timed out)"
        for i, name, dist in spec.space.distributions():
            if name != "time_limit":
                continue
            values = [v for v in (dist.grid_values() if dist.is_discrete and dist.grid_count() <= MAX_CHOICES else [getattr(dist, "high", None)]) if v is not None]
            longest = max((float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)), default=None)
            if longest is not None and longest > bound:
                out.warn(
                    ("sweep", "space", i, "time_limit"),
                    f"time_limit ({longest:g}s) is above limits.{field_} ({bound:g}s): {killed} before AutoGluon's fit ends",
                    hint=f"keep time_limit at most {0.8 * bound:g}s (0.8 x {field_}) to leave time to save and score",
                )
    if spec.sweep and spec.sweep.sampling.value == "grid" and limits.max_trials is not None:
        size = spec.sweep.space.grid_size() if spec.sweep.space.is_discrete and not out.errors else None
        if size is not None and limits.max_trials > size:
            out.warn(("limits", "max_trials"), f"the grid has only {size} points; {size} trials will run")


def _command(spec: JobSpec, out: IssueCollector) -> None:
    if spec.command is None:
        return
    known = set(spec.space.parameter_names()) if spec.sweep else set()
    for match in PLACEHOLDER.finditer(spec.command.run):
        ref = match.group(1)
        scope, _, name = ref.partition(".")
        if scope != "sweep" or not name:
            out.error(
                ("command", "run"), f"'${{{{{ref}}}}}' is not a placeholder cloudauto fills", hint="write ${{sweep.<parameter>}}"
            )
        elif name not in known:
            valid = ", ".join(sorted(known)) or "none (there is no sweep)"
            out.error(("command", "run"), f"'${{{{sweep.{name}}}}}' names no sweep parameter; parameters: {valid}")
    for key in spec.command.env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            out.error(("command", "env", key), f"'{key}' is not a valid environment variable name")


__all__ = ["PLACEHOLDER", "check"]
