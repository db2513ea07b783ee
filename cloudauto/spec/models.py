"""Spec v1 as pydantic models: the shape of a job, whatever backend it goes to.

Shape and types live here; rules across fields (and the metric lookup, which needs the
task) live in `rules.py`, which runs after the shape is valid and reports each problem
at its own field path.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from typing_extensions import TypeAliasType

from .backends import BackendSettings
from .errors import SpecError, SpecIssue
from .metrics import Goal, Metric, Task
from .space import SearchSpace, SpaceInput
from .types import SLUG, DataURI, Duration, LabelValue, WholeNumber, new_dict, new_list, whole_number


class StrictModel(BaseModel):
    # NaN and infinity mean nothing in a spec (a target never met, a cost never exceeded) and JSON cannot carry them
    model_config = ConfigDict(extra="forbid", validate_default=True, defer_build=True, allow_inf_nan=False)


class Engine(str, Enum):
    AUTOGLUON = "autogluon"
    NATIVE = "native"
    COMMAND = "command"


class Sampling(str, Enum):
    RANDOM = "random"
    GRID = "grid"
    BAYESIAN = "bayesian"


DATA_ROLES = ("train", "validation", "test", "static_features")  # the data files a job ships to where its trials run


class DataSpec(StrictModel):
    train: Optional[DataURI] = Field(None, description="Training data; required unless engine: command")
    validation: Optional[DataURI] = Field(
        None, description="Data the sweep's metric is measured on; default: AutoGluon holds out part of train"
    )
    test: Optional[DataURI] = Field(
        None, description="Held-out data each trial is scored on after its fit (test_<metric>); never used to choose"
    )
    label: Optional[str] = Field(None, min_length=1, description="Label (target) column")
    # time series
    timestamp: Optional[str] = Field(None, min_length=1, description="Timestamp column (time series)")
    item_id: Optional[str] = Field(None, min_length=1, description="Series id column (time series); omit for one series")
    prediction_length: Optional[int] = Field(None, ge=1, le=100_000, description="Forecast horizon in steps")
    freq: Optional[str] = Field(
        None,
        pattern=r"^\d*(min|[A-Za-z]{1,5})(-[A-Za-z]{3})?$",
        description="pandas frequency alias: h, D, W, 15min, MS ...",
    )
    ignore_columns: list[str] = Field(
        default_factory=new_list,
        description="Columns that are not features (an ID, say): AutoGluon's learner_kwargs ignored_columns; "
        "predict --keep-columns passes them through",
    )
    static_features: Optional[DataURI] = Field(
        None,
        description="Forecasting: a table of item-level features, one row per series keyed by the item_id column "
        "(AutoGluon's static_features); it travels with the data",
    )

    def uris(self) -> dict[str, str]:
        """The data locations that are set: role -> URI."""
        return {role: uri for role in DATA_ROLES for uri in [getattr(self, role)] if uri}


class MetricSpec(StrictModel):
    name: str = Field(min_length=1, description="A metric name: the registry's, or one your script reports")
    goal: Optional[Goal] = Field(None, description="maximize or minimize; required for a name the registry does not know")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, raw: Any) -> Any:
        return {"name": raw} if isinstance(raw, str) else raw


_METRIC_SCHEMA = {
    "description": "A metric name (goal from the registry), or {name, goal} for a metric your script reports",
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {"name": {"type": "string", "minLength": 1}, "goal": {"enum": ["maximize", "minimize"]}},
            "required": ["name"],
            "additionalProperties": False,
        },
    ],
}


class _PolicyBase(StrictModel):
    evaluation_interval: int = Field(1, ge=1, description="Apply the policy every N reported steps")
    delay_evaluation: int = Field(0, ge=0, description="Skip the first N steps")


class BanditPolicy(_PolicyBase):
    policy: Literal["bandit"] = Field(description="Cancel a trial whose metric falls outside a slack of the best (Azure ML's BanditPolicy)")
    slack_factor: Optional[float] = Field(None, gt=0, description="Allowed slack as a ratio of the best so far")
    slack_amount: Optional[float] = Field(None, gt=0, description="Allowed slack as an absolute amount")


class MedianStoppingPolicy(_PolicyBase):
    policy: Literal["median_stopping"] = Field(description="Cancel a trial whose best so far is worse than the median of all trials' running averages at that step")


class TruncationSelectionPolicy(_PolicyBase):
    policy: Literal["truncation_selection"] = Field(description="Cancel the lowest percentage of trials at each interval")
    truncation_percentage: int = Field(ge=1, le=99, description="Cancel the lowest X percent at each interval")


class NoPolicy(StrictModel):
    policy: Literal["none"] = Field(description="No early termination")


MAX_RESOURCE_LIMIT = 20_000  # SageMaker's HyperbandStrategyConfig.MaxResource: "The maximum value is 20,000"


class _MultiFidelity(StrictModel):
    """Successive halving over a trial's reported steps: rungs at min_resource × reduction_factor^k."""

    min_resource: WholeNumber = Field(1, ge=1, description="The first rung: a trial is first compared after this many steps")
    max_resource: WholeNumber = Field(
        ge=1, description="The most steps a trial gets: it is stopped (completed) when it reports this many; at most 20,000 (SageMaker's MaxResource limit, kept on every backend)"
    )
    reduction_factor: WholeNumber = Field(3, ge=2, description="η: a trial goes on past a rung only in the top 1/η of that rung")
    resource: str = Field(
        "step",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
        description="What one step (one report of the metric) is, e.g. epoch: the name the log and notes use",
    )

    def rungs(self, bracket: int = 0) -> list[int]:
        """min_resource × η^k for k ≥ bracket, up to max_resource."""
        found, level = [], self.min_resource
        while level <= self.max_resource:
            found.append(level)
            level *= self.reduction_factor
        return found[bracket:]


class AshaPolicy(_MultiFidelity):
    policy: Literal["asha"] = Field(description="Asynchronous successive halving: a trial continues past a rung only in the top 1/η of that rung")


class HyperbandPolicy(_MultiFidelity):
    policy: Literal["hyperband"] = Field(description="Hyperband: ASHA's rungs run in several brackets, each starting at a larger min_resource")
    brackets: Optional[Annotated[int, Field(ge=1), BeforeValidator(whole_number)]] = Field(
        None, description="How many brackets (bracket s starts at min_resource × η^s); default all of them"
    )

    @property
    def bracket_count(self) -> int:
        return self.brackets or len(self.rungs())


MultiFidelityPolicy = Union[AshaPolicy, HyperbandPolicy]

EarlyTermination = Annotated[
    Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, AshaPolicy, HyperbandPolicy, NoPolicy],
    Field(discriminator="policy"),
]


class WarmStartMode(str, Enum):
    SAME_DATA = "same_data"  # SageMaker IdenticalDataAndAlgorithm
    TRANSFER = "transfer"  # SageMaker TransferLearning


MAX_WARM_START_PARENTS = 5  # SageMaker's ParentHyperParameterTuningJobs holds 1 to 5


class WarmStart(StrictModel):
    """Earlier sweeps whose finished trials inform this one (SageMaker's WarmStartConfig)."""

    from_: list[Annotated[str, Field(min_length=1)]] = Field(
        alias="from",
        min_length=1,
        max_length=MAX_WARM_START_PARENTS,
        description="Job ids of the earlier sweeps (at most 5, as SageMaker allows); each has ended",
    )
    mode: WarmStartMode = Field(
        WarmStartMode.SAME_DATA,
        description="same_data: the same data and training code, and the same space (their configurations never run "
        "again); transfer: other data or a changed space (the parameters shared with this space inform the sampler)",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and "from_" in data:  # the spec's own key, so a dumped spec loads again
            data = {"from": data.pop("from_"), **data}
        return data


class SweepSpec(StrictModel):
    sampling: Sampling = Field(Sampling.RANDOM, description="How configurations are proposed: random, grid or bayesian")
    space: SpaceInput
    early_termination: Optional[EarlyTermination] = Field(
        None, description="Stop poor trials early: bandit, median_stopping, truncation_selection, asha, hyperband or none"
    )
    seed: Optional[int] = Field(None, ge=0, description="Seed of the random and bayesian samplers")
    warm_start: Optional[WarmStart] = Field(None, description="Start from the trials of earlier sweeps")


class StopWhen(StrictModel):
    """End the sweep early (SageMaker's TuningJobCompletionCriteria); any criterion met ends it."""

    target: Optional[float] = Field(None, description="End once a trial's objective reaches this value (or beats it)")
    no_improvement_trials: Optional[int] = Field(
        None, ge=1, le=100_000, description="End once this many trials in a row have not improved on the best"
    )
    converged: Optional[bool] = Field(None, description="SageMaker's own convergence detection (ConvergenceDetected)")


class Limits(StrictModel):
    max_trials: Optional[int] = Field(None, ge=1, le=100_000, description="Default: the grid size, else 10")
    max_concurrent_trials: int = Field(1, ge=1, le=1_000, description="Trials that run at once")
    timeout: Optional[Duration] = Field(None, description="Whole job")
    trial_timeout: Optional[Duration] = Field(None, description="One trial")
    max_cost: Optional[float] = Field(
        None,
        gt=0,
        description="USD: compile refuses a cloud job whose worst case is above it, and derives the service's runtime limit from it",
    )
    stop_when: Optional[StopWhen] = Field(None, description="End the sweep when good enough or no longer improving")
    trial_retries: int = Field(
        0,
        ge=0,
        le=30,
        description="Run a trial again, with the same parameters, up to N times after an infrastructure fault "
        "(worker died, container lost, spot interruption); a script error is not retried",
    )
    max_failed_trials: Optional[int] = Field(
        None, ge=1, le=100_000, description="The sweep fails once this many trials have failed"
    )


class Compute(StrictModel):
    instance_type: Optional[str] = Field(
        None, min_length=1, description="Cloud instance type per trial (ml.m5.xlarge, Standard_DS3_v2); default per task"
    )
    instance_count: int = Field(1, ge=1, le=1_000, description="Instances per trial (distributed command jobs)")
    gpus: int = Field(
        0, ge=0, le=64, description="GPUs per trial (docker mode device requests; image and text trials use that many)"
    )
    spot: bool = Field(
        False,
        description="Run trials on spare capacity (SageMaker managed spot training, Azure ML spot/low-priority): "
        "cheaper, and a trial may be interrupted and restarted; cloudauto.checkpoint_dir() is where a script resumes from",
    )
    max_wait: Optional[Duration] = Field(
        None,
        description="Spot: how long a trial may wait for capacity and run, in all (SageMaker's MaxWaitTimeInSeconds, "
        "at least the trial's runtime limit); default twice that limit",
    )


class CommandSpec(StrictModel):
    run: str = Field(min_length=1, description="Command line; ${{sweep.<param>}} is filled per trial")
    code: str = Field(".", min_length=1, description="Folder shipped with the job, relative to the spec file")
    image: Optional[str] = Field(None, min_length=1, description="Container image the command runs in (SageMaker, docker mode)")
    environment: Optional[str] = Field(
        None,
        min_length=1,
        description="Azure ML environment: a reference (azureml:name:version, azureml:name@latest) or a conda YAML file",
    )
    env: dict[str, str] = Field(default_factory=new_dict, description="Environment variables of every trial; ${NAME} is read from yours")


# recursive, so a NaN or infinity however deep (ag_args_fit: {max_memory_usage_ratio: .inf}) is refused at its path:
# a list[Any] would keep it, and the JSON written for a trial would turn it into null ("the default")
HyperparameterValue = TypeAliasType(
    "HyperparameterValue",
    Union[str, int, float, bool, None, list["HyperparameterValue"], dict[str, "HyperparameterValue"]],  # noqa: F821
)


class AutoGluonSettings(StrictModel):
    """What every trial of `engine: autogluon` passes to AutoGluon, as its predictor and `fit` take it (not swept)."""

    problem_type: Optional[Literal["binary", "multiclass", "regression", "quantile", "softclass"]] = Field(
        None, description="TabularPredictor's problem_type (default: inferred from the label)"
    )
    sample_weight: Optional[str] = Field(
        None, min_length=1, description="A column of per-row weights, or auto_weight / balance_weight"
    )
    excluded_model_types: list[str] = Field(default_factory=new_list, description="Model families (or time-series models) left out")
    hyperparameters: Optional[dict[str, Union[dict[str, HyperparameterValue], list[dict[str, HyperparameterValue]]]]] = Field(
        None,
        description="Per family, as fit(hyperparameters=...) takes it: {GBM: {num_leaves: 31}, CAT: {}}; "
        "sweep parameters FAMILY.name are laid over it",
    )
    positive_class: Optional[LabelValue] = Field(
        None, description="Binary classification: the label value that is the positive class (f1, precision, recall)"
    )
    feature_importance: bool = Field(
        False, description="Permutation importance of the features on the validation data at each trial's end"
    )


class ForecastingSettings(StrictModel):
    """What a forecast knows about the future: TimeSeriesPredictor's covariate settings (engine: autogluon)."""

    known_covariates: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=new_list,
        description="Columns whose future values are known (prices, promotions, holidays): AutoGluon's "
        "known_covariates_names; a forecast request then carries them for the next prediction_length steps. "
        "The other columns besides the label are past covariates",
    )


class JobSpec(StrictModel):
    """A cloudauto job: what to learn, from which data, judged how, searched how, run where."""

    version: Literal[1] = Field(1, description="The spec format's version")
    name: str = Field(pattern=SLUG, max_length=63, description="Lowercase letters, digits and hyphens")
    description: Optional[str] = Field(None, description="Free text, kept with the job")
    task: Task = Field(description="What is learned; it decides the data checks, the metrics and the default instance")
    engine: Engine = Field(Engine.AUTOGLUON, description="autogluon: each trial is an AutoGluon fit; native: the service's own AutoML (Azure ML); command: your script")
    backend: Optional[str] = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="The backend submit and run use when neither --backend nor CLOUDAUTO_BACKEND is given "
        "(an installed one: local, sagemaker, azureml ...); default local",
    )
    data: DataSpec = Field(default_factory=lambda: DataSpec(), description="Where the data is and which columns mean what")
    metric: Annotated[MetricSpec, WithJsonSchema(_METRIC_SCHEMA)]
    metrics: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=new_list,
        description="More metrics every trial records on its validation (and test) data; the primary metric alone drives the sweep",
    )
    sweep: Optional[SweepSpec] = Field(None, description="The search: space, sampling, early termination; none: one trial")
    limits: Limits = Field(default_factory=lambda: Limits(), description="Trials, concurrency, time and money")
    compute: Compute = Field(default_factory=lambda: Compute(), description="What each trial runs on")
    command: Optional[CommandSpec] = Field(None, description="engine: command: the script each trial runs")
    autogluon: Optional[AutoGluonSettings] = None
    forecasting: Optional[ForecastingSettings] = None
    backends: BackendSettings = Field(default_factory=lambda: BackendSettings(), description="Settings only one backend reads")
    tags: dict[str, str] = Field(default_factory=new_dict, description="Labels put on the cloud jobs (SageMaker tags, Azure ML tags)")

    _objective: Metric = PrivateAttr()
    _extra_metrics: list[Metric] = PrivateAttr(default_factory=new_list)
    _warnings: list[SpecIssue] = PrivateAttr(default_factory=new_list)
    _source: Optional[str] = PrivateAttr(default=None)
    _positions: Any = PrivateAttr(default=None)  # the loader's map of field paths to lines
    _interpolated: dict[str, str] = PrivateAttr(default_factory=new_dict)  # ${NAME} -> its value, for redaction
    _references: dict[str, str] = PrivateAttr(default_factory=new_dict)  # NAME -> ${NAME} (or with its default), kept at rest

    @model_validator(mode="after")
    def _check_rules(self) -> JobSpec:
        from .rules import check

        collector = check(self)
        if collector.errors:
            # not a ValueError: pydantic lets it through, so each issue keeps its own path
            raise SpecError(collector.issues)
        self._warnings = collector.warnings
        return self

    @property
    def objective(self) -> Metric:
        """The resolved metric with its goal and every backend's name for it."""
        return self._objective

    @property
    def extra_metrics(self) -> list[Metric]:
        """The `metrics:` list resolved (the primary one and repeats left out), in the spec's order."""
        return list(self._extra_metrics)

    @property
    def source(self) -> Optional[str]:
        """The file the spec was loaded from (None when built in Python)."""
        return self._source

    @property
    def base_dir(self) -> Optional[str]:
        """Relative data paths and `command.code` are relative to this folder."""
        from pathlib import Path

        return str(Path(self._source).resolve().parent) if self._source else None

    def locate(self, issue: SpecIssue) -> SpecIssue:
        """Give an issue found after loading (a backend's refusal) the file and line of its field."""
        if self._positions is not None and issue.line is None:
            node, path = self._positions.data, []
            for part in issue.path:  # drop the sub-space index where the space was a mapping
                if isinstance(part, int) and isinstance(node, dict):
                    continue
                path.append(part)
                node = (
                    node.get(part)
                    if isinstance(node, dict)
                    else node[part]
                    if isinstance(node, list) and isinstance(part, int) and part < len(node)
                    else None
                )
            issue.path = tuple(path)
            issue.file, (issue.line, issue.column) = self._positions.locate(issue.path)
        elif issue.file is None:
            issue.file = self._source
        return issue

    @property
    def warnings(self) -> list[SpecIssue]:
        return list(self._warnings)

    @property
    def space(self) -> SearchSpace:
        return self.sweep.space if self.sweep else SearchSpace(subspaces=({},))

    @property
    def max_trials(self) -> int:
        if self.limits.max_trials is not None:
            return self.limits.max_trials
        if self.sweep is None:
            return 1
        if self.sweep.sampling is Sampling.GRID:
            return self.sweep.space.grid_size()
        return 10

    @property
    def policy(self) -> Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, AshaPolicy, HyperbandPolicy, None]:
        et = self.sweep.early_termination if self.sweep else None
        return None if et is None or isinstance(et, NoPolicy) else et

    # loaders, so `cloudauto.JobSpec.from_file(...)` is the obvious entry point
    @classmethod
    def from_file(cls, path: Any, *, overrides: Optional[list[str]] = None, env: Optional[dict[str, str]] = None) -> JobSpec:
        from .loader import load_spec

        return load_spec(path, overrides=overrides, env=env)

    @classmethod
    def from_yaml(
        cls, text: str, *, source: str = "<string>", overrides: Optional[list[str]] = None, env: Optional[dict[str, str]] = None
    ) -> JobSpec:
        from .loader import load_spec_text

        return load_spec_text(text, source=source, overrides=overrides, env=env)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<python>") -> JobSpec:
        from .loader import validate_data

        return validate_data(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec (internal distribution form), JSON-safe."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_stored(self) -> dict[str, Any]:
        """`to_dict` with each value taken from `${NAME}` put back as the reference: what is kept at rest."""
        from .loader import as_references

        return as_references(self.to_dict(), self._interpolated, self._references)


__all__ = [
    "AshaPolicy",
    "BanditPolicy",
    "CommandSpec",
    "Compute",
    "DataSpec",
    "DATA_ROLES",
    "EarlyTermination",
    "Engine",
    "HyperbandPolicy",
    "ForecastingSettings",
    "JobSpec",
    "Limits",
    "MedianStoppingPolicy",
    "MetricSpec",
    "MultiFidelityPolicy",
    "NoPolicy",
    "Sampling",
    "StopWhen",
    "SweepSpec",
    "TruncationSelectionPolicy",
    "WarmStart",
    "WarmStartMode",
]
