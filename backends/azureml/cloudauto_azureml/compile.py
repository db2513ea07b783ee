"""A spec as azure-ai-ml v2 job entities, offline, and the YAML `az ml job create -f` takes.

- `engine: native` -> an AutoML job (`azure.ai.ml.automl`): image classification and object
  detection take the sweep space (`extend_search_space`, one SearchSpace per alternative
  sub-space), the sampling and the policy (`set_sweep`), and `set_limits`; tabular and text
  jobs search their own space, so a sweep space there is an error.
- `engine: command` -> a SweepJob over a CommandJob that runs the user's command, with
  `${{sweep.x}}` turned into `${{search_space.x}}` (fixed values written in, quoted).

Distributions keep their exact meaning: loguniform / qloguniform go to Azure with natural-log
exponent bounds, randint [low, high) is Randint(upper) when low is 0 and an exact Choice of
the integers otherwise. Parameter names the SDK does not take for a task (v1's `img_size`)
are refused here with the valid names, before the SDK's own, nameless, ValidationException.
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
import shlex
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import CompileError, NotSupportedError
from cloudauto.checkpoints import AZUREML_OUTPUT, ENV_CHECKPOINT_DIR
from cloudauto.endpoints import job_tags
from cloudauto.runtime.autogluon_params import MULTIMODAL_TASKS
from cloudauto.runtime.autogluon_trial import untrainable
from cloudauto.runtime.data import resolve
from cloudauto.runtime.versions import AUTOGLUON_VERSION
from cloudauto.spec.errors import SpecIssue
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine, JobSpec, Sampling
from cloudauto.spec.rules import PLACEHOLDER
from cloudauto.spec.space import (
    Choice,
    Fixed,
    LogNormal,
    LogUniform,
    Normal,
    QLogUniform,
    QUniform,
    RandInt,
    Uniform,
)
from cloudauto.spec.types import scheme_of
from cloudauto.tuning.flat import GRID_PARAM, SUBSPACE_PARAM, grid_encoded, grid_note, grid_points, subspace_keys

_IMAGE = {Task.IMAGE_CLASSIFICATION, Task.IMAGE_OBJECT_DETECTION}
# AutoML tasks whose REST job carries testData (image and text jobs have training and validation data only)
_TAKES_TEST_DATA = {Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING}
_BAYESIAN_KINDS = {"choice", "uniform", "quniform", "fixed"}
MAX_EXACT_CHOICE = 1000


class _Problems:
    def __init__(self) -> None:
        self.errors: list[SpecIssue] = []
        self.warnings: list[SpecIssue] = []

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(SpecIssue(f"azureml: {message}", path))

    def warn(self, path: tuple, message: str) -> None:
        self.warnings.append(SpecIssue(f"azureml: {message}", path, level="warning"))


def distribution(dist: Any, *, fixed_as_choice: bool = True) -> Any:
    """One of our distributions as an azure.ai.ml.sweep object (Azure's own conventions)."""
    from azure.ai.ml import sweep

    if isinstance(dist, Fixed):
        return sweep.Choice([dist.value])
    if isinstance(dist, Choice):
        return sweep.Choice(list(dist.values))
    if isinstance(dist, Uniform):
        return sweep.Uniform(min_value=dist.low, max_value=dist.high)
    if isinstance(dist, LogUniform):
        return sweep.LogUniform(min_value=dist.log_low, max_value=dist.log_high)
    if isinstance(dist, QUniform):
        return sweep.QUniform(min_value=dist.low, max_value=dist.high, q=dist.q)
    if isinstance(dist, QLogUniform):
        return sweep.QLogUniform(min_value=dist.log_low, max_value=dist.log_high, q=dist.q)
    if isinstance(dist, RandInt):
        return sweep.Randint(upper=dist.high) if dist.low == 0 else sweep.Choice(list(range(dist.low, dist.high)))
    if isinstance(dist, Normal):
        return sweep.Normal(mu=dist.mu, sigma=dist.sigma)
    if isinstance(dist, LogNormal):
        return sweep.LogNormal(mu=dist.mu, sigma=dist.sigma)
    raise TypeError(f"no Azure distribution for {dist!r}")


def _check_space(spec: JobSpec, out: _Problems, valid_names: list[str] | None) -> None:
    sweep = spec.sweep
    if sweep is None:
        return
    for index, name, dist in spec.space.distributions():
        path = ("sweep", "space", index, name)
        if valid_names is not None and name not in valid_names:
            close = difflib.get_close_matches(name, valid_names, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            extra = " (azure-ai-ml v2 renamed img_size to image_size; yolov5 takes model_size)" if name == "img_size" else ""
            out.error(
                path,
                f"'{name}' is not a search-space parameter Azure ML takes for {spec.task.value}{extra}; "
                f"{hint}valid: {', '.join(valid_names)}",
            )
        if isinstance(dist, RandInt) and dist.low != 0 and dist.high - dist.low > MAX_EXACT_CHOICE:
            out.error(
                path,
                f"'{name}': Azure's randint starts at 0; [{dist.low}, {dist.high}) has more than "
                f"{MAX_EXACT_CHOICE} values to list as a choice",
            )
        if sweep.sampling is Sampling.BAYESIAN and dist.kind not in _BAYESIAN_KINDS:
            out.error(path, f"'{name}' is {dist.kind}: Azure ML's Bayesian sampling takes only choice, uniform and quniform")
        if sweep.sampling is Sampling.GRID and not dist.is_discrete:
            out.error(path, f"'{name}' is {dist.kind}: Azure ML's grid sampling needs every parameter to be a choice")


def _grid_ready(dist: Any) -> Any:
    """Grid sampling takes only Choice: a discrete distribution becomes the exact list of its values."""
    return Choice(values=tuple(dist.grid_values())) if dist.is_discrete and not isinstance(dist, (Choice, Fixed)) else dist


def nearest_bandit(policy: Any) -> dict[str, Any]:
    """asha / hyperband as Azure ML's nearest policy: a bandit with slack 1/η, evaluated at every min_resource steps
    (each rung is a multiple of it)."""
    return {"slack_factor": round(1 / policy.reduction_factor, 6), "evaluation_interval": policy.min_resource, "delay_evaluation": 0}


def _policy(spec: JobSpec) -> Any:
    from azure.ai.ml import sweep

    policy = spec.policy
    if policy is None:
        return None
    if policy.policy in ("asha", "hyperband"):  # no successive halving in Azure ML: its nearest, as the warning says
        return sweep.BanditPolicy(**nearest_bandit(policy))
    common = {"evaluation_interval": policy.evaluation_interval, "delay_evaluation": policy.delay_evaluation}
    if policy.policy == "bandit":
        slack = (
            {"slack_factor": policy.slack_factor} if policy.slack_factor is not None else {"slack_amount": policy.slack_amount}
        )
        return sweep.BanditPolicy(**common, **slack)
    if policy.policy == "median_stopping":
        return sweep.MedianStoppingPolicy(**common)
    return sweep.TruncationSelectionPolicy(**common, truncation_percentage=policy.truncation_percentage)


def _input(uri: str, base_dir: str | None, *, mltable: bool) -> tuple[Any, str | None]:
    """(Input, the local path to write into the YAML ourselves, or None)."""
    from azure.ai.ml import Input

    scheme = scheme_of(uri)
    local = None
    if scheme in (None, "file"):
        local = resolve(uri[len("file://") :] if scheme == "file" else uri, base_dir)
        kind = "mltable" if mltable else ("uri_folder" if Path(local).is_dir() or uri.endswith("/") else "uri_file")
        return Input(type=kind, path=local), local
    if mltable:
        return Input(type="mltable", path=uri), None
    kind = "uri_folder" if uri.endswith("/") else "uri_file"
    return Input(type=kind, path=uri), None


def data_folder(spec: JobSpec) -> str:
    return f"{spec.name}.data"


def image_table(spec: JobSpec, role: str, local: str, out: _Problems) -> tuple[Any, dict[str, str]] | None:
    """(the mltable Input, its MLTable file and JSON Lines by name) for local image data, in any accepted form.

    The table lists each image by its file:// URL, so it loads here as it was compiled;
    submit uploads the images and writes their datastore URLs into the table it sends.
    """
    from azure.ai.ml import Input

    from cloudauto.runtime.image_data import ImageDataError, image_records, jsonl_text, mltable_text

    try:
        records = image_records(local, spec.data.label, detection=spec.task is Task.IMAGE_OBJECT_DETECTION)
    except ImageDataError as exc:
        out.error(("data", role), str(exc))
        return None
    folder = f"./{data_folder(spec)}/{role}"
    files = {"MLTable": mltable_text(f"{role}.jsonl"), f"{role}.jsonl": jsonl_text(records, lambda p: p.as_uri())}
    return Input(type="mltable", path=folder), files


def _automl(spec: JobSpec, out: _Problems) -> tuple[Any, dict[str, str]]:
    from azure.ai.ml import automl

    settings = spec.backends.azureml
    metric = spec.objective.azureml
    if metric is None:
        out.error(("metric",), f"{spec.objective.name} is not a primary metric Azure AutoML takes for {spec.task.value}")
        return None, {}
    image = spec.task in _IMAGE
    locals_: dict[str, Any] = {}  # role -> local path; table:<role> -> the table's files
    data = {}
    for role, uri in spec.data.uris().items():
        if role == "test" and spec.task not in _TAKES_TEST_DATA:  # the REST job has no testData: say so, drop nothing silently
            out.warn(
                ("data", "test"),
                f"Azure AutoML {spec.task.value} jobs take training and validation data only: the test data is not "
                "sent (score it against the deployed endpoint instead)",
            )
            continue
        value, local = _input(uri, spec.base_dir, mltable=True)
        data[role] = value
        if local and image:
            table = image_table(spec, role, local, out)
            if table is not None:
                data[role], locals_[f"table:{role}"] = table
                locals_[role] = data[role].path
        elif local:
            locals_[role] = local
    common = {
        "compute": settings.compute,
        "experiment_name": settings.experiment_name or spec.name,
        "name": None,
        "training_data": data.get("train"),
        "validation_data": data.get("validation"),
        "test_data": data.get("test"),
        "target_column_name": spec.data.label,
        "primary_metric": metric,
        "tags": {**job_tags(spec.name), **spec.tags},
    }
    limits = spec.limits
    timeout = job_timeout(spec)
    timeout_minutes = int(timeout // 60) if timeout else None
    if image:
        factory = automl.image_object_detection if spec.task is Task.IMAGE_OBJECT_DETECTION else automl.image_classification
        space_cls = (
            automl.ImageObjectDetectionSearchSpace
            if spec.task is Task.IMAGE_OBJECT_DETECTION
            else automl.ImageClassificationSearchSpace
        )
        valid = sorted(p for p in inspect.signature(space_cls.__init__).parameters if p not in ("self", "kwargs"))
        _check_space(spec, out, valid)
        if out.errors:
            return None, locals_
        job = factory(**{k: v for k, v in common.items() if v is not None})
        job.set_limits(
            max_trials=spec.max_trials,
            max_concurrent_trials=min(limits.max_concurrent_trials, spec.max_trials),
            **({"timeout_minutes": timeout_minutes} if timeout_minutes else {}),
        )
        if spec.sweep is not None:
            grid = spec.sweep.sampling is Sampling.GRID
            spaces = [
                automl.SearchSpace(**{n: distribution(_grid_ready(d) if grid else d) for n, d in sub.items()})
                for sub in spec.space.subspaces
            ]
            job.extend_search_space(spaces)
            job.set_sweep(sampling_algorithm=spec.sweep.sampling.value.capitalize(), early_termination=_policy(spec))
        return job, locals_
    if spec.sweep is not None and spec.space.parameter_names():
        out.error(
            ("sweep", "space"),
            f"Azure AutoML {spec.task.value} jobs search their own space; "
            "use engine: autogluon or engine: command to sweep parameters of your own",
        )
        return None, locals_
    if spec.task is Task.TEXT_CLASSIFICATION:
        job = automl.text_classification(**{k: v for k, v in common.items() if v is not None})
        job.set_limits(
            max_trials=spec.max_trials,
            max_concurrent_trials=min(limits.max_concurrent_trials, spec.max_trials),
            **({"timeout_minutes": timeout_minutes} if timeout_minutes else {}),
        )
        return job, locals_
    factory = {
        Task.TABULAR_CLASSIFICATION: automl.classification,
        Task.TABULAR_REGRESSION: automl.regression,
        Task.TIME_SERIES_FORECASTING: automl.forecasting,
    }[spec.task]
    job = factory(**{k: v for k, v in common.items() if v is not None})
    job.set_limits(
        max_trials=spec.max_trials,
        max_concurrent_trials=min(limits.max_concurrent_trials, spec.max_trials),
        **({"timeout_minutes": timeout_minutes} if timeout_minutes else {}),
        **({"trial_timeout_minutes": int(limits.trial_timeout // 60)} if limits.trial_timeout else {}),
    )
    if spec.task is Task.TIME_SERIES_FORECASTING:
        job.set_forecast_settings(
            time_column_name=spec.data.timestamp,
            forecast_horizon=spec.data.prediction_length,
            frequency=spec.data.freq,
            **({"time_series_id_column_names": [spec.data.item_id]} if spec.data.item_id else {}),
        )
    return job, locals_


def _command_sweep(spec: JobSpec, out: _Problems) -> tuple[Any, dict[str, str]]:
    from azure.ai.ml import sweep
    from azure.ai.ml.entities import CommandJob

    settings = spec.backends.azureml
    command = spec.command
    _check_space(spec, out, None)
    if out.errors:
        return None, {}
    fixed = {n: d.value for _, n, d in spec.space.distributions() if isinstance(d, Fixed)}
    if spec.space.is_conditional:
        out.error(("sweep", "space"), "Azure ML sweep jobs have no alternative sub-spaces (only AutoML image jobs do)")
        return None, {}

    def placeholder(match: Any) -> str:
        name = match.group(1).split(".", 1)[1]
        return shlex.quote(str(fixed[name])) if name in fixed else "${{search_space." + name + "}}"

    line = PLACEHOLDER.sub(placeholder, command.run)
    if spec.compute.spot:  # cloudauto.checkpoint_dir(): the trial's own checkpoints output, kept when a node is preempted
        line = f"export {ENV_CHECKPOINT_DIR}=${{{{outputs.{AZUREML_OUTPUT}}}}} && {line}"
    environment = command_environment(spec, out)
    if environment is None:
        return None, {}
    code = resolve(command.code, spec.base_dir)
    trial = CommandJob(command=line, code=code, environment=environment, environment_variables=dict(command.env))
    grid = spec.sweep is not None and spec.sweep.sampling is Sampling.GRID
    space = {n: distribution(_grid_ready(d) if grid else d) for n, d in spec.space.subspaces[0].items() if n not in fixed}
    limits = spec.limits
    job = sweep.SweepJob(
        name=None,
        experiment_name=settings.experiment_name or spec.name,
        compute=settings.compute,
        trial=trial,
        outputs=_spot_outputs(spec) or None,
        queue_settings=_queue_settings(spec),
        search_space=space,
        sampling_algorithm=(spec.sweep.sampling.value if spec.sweep else "random"),
        objective=sweep.Objective(goal=spec.objective.goal.value, primary_metric=spec.metric.name),
        early_termination=_policy(spec),
        limits=sweep.SweepJobLimits(
            max_total_trials=trials_run(spec),
            max_concurrent_trials=min(limits.max_concurrent_trials, trials_run(spec)),
            timeout=job_timeout(spec),
            trial_timeout=int(limits.trial_timeout) if limits.trial_timeout else None,
        ),
        tags={**job_tags(spec.name), **spec.tags},
    )
    return job, {"__code__": f"./{code_folder(spec)}"}


def code_folder(spec: JobSpec) -> str:
    """One code folder per compiled job, beside its YAML: compiling another spec into the same folder leaves it alone."""
    return f"{spec.name}.code"


def code_folder_files(spec: JobSpec) -> dict[str, bytes]:
    """What the trial's code folder holds on Azure: the user's code or cloudauto's bundle, plus cloudauto."""
    from cloudauto.runtime.bundle import bundle_files, code_files, package_files, spec_leaves_out

    if spec.engine is Engine.COMMAND:
        code = (Path(spec.base_dir or ".") / spec.command.code).resolve()
        user = code_files(code, prefix="", run=spec.command.run, leave_out=spec_leaves_out(spec))
        return {**package_files(), **user}  # the user's own files win a name clash
    from cloudauto.runtime.trial_inputs import checkpoints_file, local_checkpoints
    from cloudauto.tuning.flat import grid_file

    return bundle_files(spec, extra={**checkpoints_file(local_checkpoints(spec, MOUNTED)[0]), **grid_file(spec)})


# the schemas `az ml` job YAML files name, so an editor validates what compile writes
SWEEP_SCHEMA = "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json"
AUTOML_SCHEMA = "https://azuremlsdk2.blob.core.windows.net/preview/0.0.1/autoMLJob.schema.json"
_CURATED = re.compile(r"^azureml:(//registries/azureml/environments/)?AzureML-", re.I)
_REFERENCE = re.compile(r"^azureml:")
METRIC_PACKAGES = ("mlflow", "azureml-mlflow")


def _needs_mlflow(metric: str, environment: str, extra: str = "") -> str:
    return (
        f"Azure ML sweeps read {metric} from MLflow: {environment} must carry {' and '.join(METRIC_PACKAGES)}{extra}, "
        "or no trial is ranked"
    )


def _pip_names(conda: dict[str, Any]) -> set[str]:
    names = set()
    for dep in conda.get("dependencies") or []:
        entries = dep.get("pip", []) if isinstance(dep, dict) else [dep]
        for entry in entries:
            if isinstance(entry, str):
                names.add(re.split(r"[<>=!~\[; ]", entry.strip(), maxsplit=1)[0].lower().replace("_", "-"))
    return names


def command_environment(spec: JobSpec, out: _Problems) -> Any:
    """The trial's environment: a reference (a warning unless it is curated), or a conda file on a base image.

    A sweep reads its primary metric from MLflow, so an environment without mlflow and
    azureml-mlflow leaves every trial unranked: a conda file that lacks them is refused,
    a named environment cloudauto cannot look into gets a warning.
    """
    from azure.ai.ml.entities import Environment

    command = spec.command
    path = ("command", "environment")
    if command.environment and _REFERENCE.match(command.environment):
        if not _CURATED.match(command.environment):
            out.warn(path, _needs_mlflow(spec.metric.name, command.environment, " (curated AzureML-* environments do)"))
        return command.environment
    if command.environment:
        import yaml

        conda_path = Path(resolve(command.environment, spec.base_dir))
        try:
            conda = yaml.safe_load(conda_path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            out.error(path, f"cannot read the conda file {conda_path}: {str(exc).splitlines()[0]}")
            return None
        if not isinstance(conda, dict) or "dependencies" not in conda:
            out.error(path, f"{conda_path} is not a conda environment file (no dependencies:)")
            return None
        missing = [p for p in METRIC_PACKAGES if p not in _pip_names(conda)]
        if missing:
            out.error(
                path,
                f"{conda_path} lacks {', '.join(missing)}: Azure ML sweeps read {spec.metric.name} through MLflow; "
                f"add {' and '.join(missing)} to its pip dependencies",
            )
            return None
        return Environment(image=command.image or DEFAULT_BASE_IMAGE, conda_file=conda)
    if command.image:
        out.warn(
            ("command", "image"),
            _needs_mlflow(spec.metric.name, f"the image {command.image}", " (or name a conda file in command.environment)"),
        )
        return Environment(image=command.image)
    out.error(("command",), "Azure ML needs command.environment (azureml:name:version, or a conda YAML file) or command.image")
    return None


ENTRY = "python -m cloudauto.runtime.azureml_entry"
MOUNTED = frozenset({"azureml"})  # checkpoint URIs a trial gets as inputs, beside local folders
DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
TABULAR_EXTRAS = ("lightgbm", "catboost", "xgboost")
AUTOGLUON_PIN = f"autogluon.tabular[{','.join(TABULAR_EXTRAS)}]=={AUTOGLUON_VERSION}"
# forecasting trials and endpoints: TimeSeriesPredictor (its own dependencies: gluonts, statsforecast, ...)
TIMESERIES_PINS = (f"autogluon.timeseries=={AUTOGLUON_VERSION}",)
# image and text trials: MultiModalPredictor on the torch and torchvision the local backend runs (PyPI's CUDA build)
MULTIMODAL_PINS = (f"autogluon.multimodal=={AUTOGLUON_VERSION}", "torch==2.13.0", "torchvision==0.28.0")
RUNTIME_PINS = ("pydantic>=2.7,<3", "pyyaml>=6.0", "mlflow", "azureml-mlflow", "azureml-inference-server-http")


def task_pins(task: Optional[Task] = None, extras: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The AutoGluon packages a task's trials and scoring import: the tabular one always (the time-series
    package builds on it, `extras` its foundation families' extras), plus the time-series or multimodal one."""
    tabular = AUTOGLUON_PIN
    if extras:
        tabular = f"autogluon.tabular[{','.join(dict.fromkeys((*TABULAR_EXTRAS, *extras)))}]=={AUTOGLUON_VERSION}"
    if task is not None and task.is_time_series:
        return (tabular, *TIMESERIES_PINS)
    if task in MULTIMODAL_TASKS:
        return (tabular, *MULTIMODAL_PINS)
    return (tabular,)


def default_environment(task: Optional[Task] = None, spec: Optional[JobSpec] = None) -> Any:
    """What cloudauto's trials and scoring script need for this task (and the spec's tabular foundation families),
    on Azure ML's own base image (built on first use)."""
    from azure.ai.ml.entities import Environment

    kind = "timeseries" if task is not None and task.is_time_series else "automm" if task in MULTIMODAL_TASKS else "autogluon"
    from cloudauto.runtime.foundation_packages import tabular_extras

    extras = tabular_extras(spec)
    return Environment(
        image=DEFAULT_BASE_IMAGE,
        conda_file={
            "name": f"cloudauto-{kind}",
            "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "pip", {"pip": [*task_pins(task, extras), *RUNTIME_PINS]}],
        },
        description="cloudauto's default AutoGluon environment"
        + {"timeseries": " with TimeSeriesPredictor", "automm": " with MultiModalPredictor", "autogluon": ""}[kind]
        + (f" and the foundation models' extras ({', '.join(extras)})" if extras else ""),
    )


def _safe(name: str) -> str:
    """A search-space name Azure takes in `${{search_space.<name>}}`: a sub-space's own `<i>.<name>` starts with a
    letter too (`subspace<i>_<name>`)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"subspace{safe}" if safe[:1].isdigit() else safe


def _autogluon_sweep(spec: JobSpec, out: _Problems) -> tuple[Any, dict[str, str]]:
    """A sweep job whose trials run cloudauto's AutoGluon runtime (cloudauto + AutoGluon in the environment)."""
    from azure.ai.ml import Output, sweep
    from azure.ai.ml.entities import CommandJob

    settings = spec.backends.azureml
    problem = untrainable(spec, "Use engine: native (an Azure AutoML job) or engine: command with your own training script.")
    if problem:
        out.error(("engine",), problem)
    _check_space(spec, out, None)
    if settings.environment and not _CURATED.match(settings.environment):
        out.warn(
            ("backends", "azureml", "environment"),
            _needs_mlflow(spec.objective.name, settings.environment, f" beside AutoGluon {AUTOGLUON_VERSION}"),
        )
    if not settings.environment:
        out.warn(
            ("backends", "azureml", "environment"),
            f"no environment named: trials run in one Azure ML builds from {DEFAULT_BASE_IMAGE} and the pinned "
            "AutoGluon (the first job waits for that build); name a prebuilt one (azureml:name:version) to skip it",
        )
    tuned = flat_space(spec)
    safe = {_safe(n): n for n in tuned}
    if len(safe) != len(tuned):
        out.error(("sweep", "space"), "two parameter names map to the same Azure search-space name: " + ", ".join(sorted(tuned)))
    if out.errors:
        return None, {}
    from azure.ai.ml import Input

    from cloudauto.runtime.trial_inputs import image_table_folder, local_checkpoints

    inputs, locals_, data_args = {}, {}, []
    for role, uri in spec.data.uris().items():
        folder, problem = image_table_folder(spec, role, uri)
        if problem:
            out.error(problem.path, problem.message)
            continue
        if folder is not None:  # an image table travels with its folder: the trial reads it by name in the mount
            inputs[role], locals_[f"input:{role}"] = Input(type="uri_folder", path=str(folder)), str(folder)
            data_args.append(f"--data-{role} ${{{{inputs.{role}}}}}/{Path(uri).name}")
            continue
        value, local = _input(uri, spec.base_dir, mltable=False)
        inputs[role] = value
        if local:
            locals_[f"input:{role}"] = local
        data_args.append(f"--data-{role} ${{{{inputs.{role}}}}}")
    checkpoints, _ = local_checkpoints(spec, MOUNTED)  # the ones that are no folder are refused in Backend.check
    for checkpoint in checkpoints:
        inputs[checkpoint.input] = Input(type="uri_folder", path=checkpoint.source)
        if scheme_of(checkpoint.source) is None:
            locals_[f"input:{checkpoint.input}"] = checkpoint.source
    if out.errors:
        return None, {}
    line = " ".join(
        [
            ENTRY,
            "--spec spec.json",
            "--output ${{outputs.model}}",
            *data_args,
            *(f"--input {c.input}=${{{{inputs.{c.input}}}}}" for c in checkpoints),
            *(f"--param {name}=${{{{search_space.{key}}}}}" for key, name in safe.items()),
            *([f"--checkpoints ${{{{outputs.{AZUREML_OUTPUT}}}}}"] if spec.compute.spot else []),
        ]
    )
    environment = settings.environment or default_environment(spec.task, spec)
    from cloudauto.runtime.bundle import reference_environment

    # the `${NAME}` values the code folder's spec.json reads (it keeps the references): the trial's environment
    trial = CommandJob(
        command=line,
        code=f"./{code_folder(spec)}",
        environment=environment,
        environment_variables=reference_environment(spec) or None,
    )
    grid = spec.sweep is not None and spec.sweep.sampling is Sampling.GRID
    limits = spec.limits
    metric = spec.objective
    job = sweep.SweepJob(
        experiment_name=settings.experiment_name or spec.name,
        compute=settings.compute,
        trial=trial,
        inputs=inputs,
        outputs={"model": Output(type="uri_folder"), **_spot_outputs(spec)},
        queue_settings=_queue_settings(spec),
        search_space={key: distribution(_grid_ready(tuned[name]) if grid else tuned[name]) for key, name in safe.items()},
        sampling_algorithm=(spec.sweep.sampling.value if spec.sweep else "random"),
        objective=sweep.Objective(goal=metric.goal.value, primary_metric=metric.name),
        early_termination=_policy(spec),
        limits=sweep.SweepJobLimits(
            max_total_trials=trials_run(spec),
            max_concurrent_trials=min(limits.max_concurrent_trials, trials_run(spec)),
            timeout=job_timeout(spec),
            trial_timeout=int(limits.trial_timeout) if limits.trial_timeout else None,
        ),
        tags={**job_tags(spec.name), **spec.tags},
    )
    return job, {**locals_, "__code__": f"./{code_folder(spec)}"}


def flat_space(spec: JobSpec) -> dict[str, Any]:
    """The sweep's tuned parameters by their name on the command line (fixed values stay in the spec, which the trial
    reads). Alternative sub-spaces as cloudauto.tuning.flat says: grid sampling over discrete ones as the local grid's
    numbered points (`cloudauto_grid_point`, an azure.ai.ml Choice), random and bayesian as a uniform Choice of the
    sub-space (`cloudauto_subspace`) plus the union of their tuned parameters (`<i>.<name>` where they differ)."""
    if grid_encoded(spec):
        return {GRID_PARAM: Choice(values=tuple(range(len(grid_points(spec)))))}
    space = spec.space
    found: dict[str, Any] = {SUBSPACE_PARAM: Choice(values=tuple(range(len(space.subspaces))))} if space.is_conditional else {}
    for sub, keys in zip(space.subspaces, subspace_keys(space), strict=True):
        for name, dist in sub.items():
            if dist.kind != "fixed":
                found.setdefault(keys[name], dist)
    return found


def search_names(spec: JobSpec) -> dict[str, str]:
    """Azure search-space name -> the name the trial's entry reads (`flat_space`'s keys)."""
    names = [GRID_PARAM, SUBSPACE_PARAM, *(key for keys in subspace_keys(spec.space) for key in keys.values())]
    return {_safe(n): n for n in names}


def _queue_settings(spec: JobSpec) -> Any:
    """compute.spot: the job's queue settings ask for the Spot job tier (azure-ai-ml's QueueSettings, which a sweep
    and an AutoML job carry for all their trials); None otherwise."""
    if not spec.compute.spot:
        return None
    import logging

    from azure.ai.ml.entities import QueueSettings

    # azure-ai-ml logs "an experimental class" on first use; the compile notes say what the setting does
    said = logging.getLogger("azure.ai.ml._utils._experimental")
    level = said.level
    said.setLevel(logging.ERROR)
    try:
        return QueueSettings(job_tier="spot")
    finally:
        said.setLevel(level)


def _spot_outputs(spec: JobSpec) -> dict[str, Any]:
    """compute.spot: each trial's checkpoints output, mounted read-write, where cloudauto.checkpoint_dir() points."""
    if not spec.compute.spot or spec.engine is Engine.NATIVE:
        return {}
    from azure.ai.ml import Output

    return {AZUREML_OUTPUT: Output(type="uri_folder", mode="rw_mount")}


def _spot_warnings(spec: JobSpec, out: _Problems) -> None:
    """What compute.spot means where the job runs: the queue's Spot tier is serverless compute's; a named cluster's
    nodes are dedicated or low priority by the cluster's own tier."""
    if not spec.compute.spot:
        return
    settings = spec.backends.azureml
    if settings.compute:
        out.warn(
            ("compute", "spot"),
            f"the job asks for the Spot job tier (queue_settings), which serverless compute honours; on the named "
            f"cluster '{settings.compute}' the trials run on the nodes the cluster has: create it with low-priority "
            f"nodes (AmlCompute tier='low_priority', or `az ml compute create --type amlcompute --tier low_priority`) "
            "for spot prices",
        )
    if spec.compute.max_wait is not None:
        out.warn(
            ("compute", "max_wait"),
            "Azure ML has no wait limit for spare capacity: a preempted trial is queued again; limits.trial_timeout "
            "and limits.timeout bound it",
        )


def trials_run(spec: JobSpec) -> int:
    """The trials the job runs: one without a sweep (every trial would be the same, as validate warns and SageMaker
    and the local backend run it); an AutoML job's max_trials is how many models AutoML tries, sweep or not."""
    if spec.engine is Engine.AUTOGLUON and grid_encoded(spec):  # the local grid's points, numbered: each runs once
        return len(grid_points(spec))
    return 1 if spec.sweep is None and spec.engine is not Engine.NATIVE else spec.max_trials


def cost_basis(spec: JobSpec) -> Any:
    """What the job bills: its trials, each on one node of the cluster. Compile sends Azure ML no instance_count (for
    no job kind: an AutoML trial and a sweep's command trial each run on one node), so compute.instance_count bills nothing more."""
    from cloudauto.cost import CostBasis

    settings, limits = spec.backends.azureml, spec.limits
    vm = settings.vm_size or (spec.compute.instance_type if (spec.compute.instance_type or "").startswith("Standard_") else None)
    return CostBasis(
        backend="azureml",
        instance_type=vm,
        region=settings.location,
        instances_per_trial=1,
        trials=trials_run(spec),
        parallel=min(limits.max_concurrent_trials, trials_run(spec)),
        trial_seconds=limits.trial_timeout,
        job_seconds=limits.timeout,
        price_override=settings.price_per_hour,
        spot=spec.compute.spot,
        bounds={"trial": "limits.trial_timeout", "job": "limits.timeout"},
        instance_hint="the compute cluster's VM size is not in the spec: set backends.azureml.vm_size (e.g. Standard_DS3_v2)",
    )


def _budget_seconds(spec: JobSpec) -> Optional[int]:
    from cloudauto.cost import budget_wall_seconds, estimate

    if spec.limits.max_cost is None:
        return None
    return budget_wall_seconds(spec, estimate(cost_basis(spec)))


def job_timeout(spec: JobSpec) -> Optional[int]:
    """The job's timeout as Azure ML enforces it: limits.timeout, or shorter where limits.max_cost holds it."""
    given = int(spec.limits.timeout) if spec.limits.timeout else None
    budget = _budget_seconds(spec)
    return min(v for v in (given, budget) if v is not None) if (given or budget) else None


def _budget_note(spec: JobSpec) -> Optional[str]:
    budget = _budget_seconds(spec)
    if budget is None:
        return None
    from cloudauto.cost import estimate

    held = job_timeout(spec)
    found = estimate(cost_basis(spec))
    what = "the sweep's limits.timeout" if spec.engine is not Engine.NATIVE else "the AutoML job's timeout_minutes"
    return (
        f"{what} is {held} s: limits.max_cost ${spec.limits.max_cost:g} / (${found.price.usd_per_hour:g}/h × "
        f"{found.basis.instances_per_trial} node(s) × {found.basis.parallel} trials at once) is {budget} s, "
        "so Azure ML ends the job within the budget by itself" + (" (limits.timeout is shorter)" if held < budget else "")
    )


def build(spec: JobSpec) -> tuple[Any, dict[str, str], list[SpecIssue], list[str]]:
    """(the azure-ai-ml entity, the files to write (its YAML first), warnings, notes)."""
    out = _Problems()
    if spec.engine is Engine.NATIVE:
        if spec.task is Task.CUSTOM:
            raise NotSupportedError("task custom has no Azure AutoML job; use engine: command")
        job, locals_ = _automl(spec, out)
    elif spec.engine is Engine.COMMAND:
        job, locals_ = _command_sweep(spec, out)
    else:
        job, locals_ = _autogluon_sweep(spec, out)
    if out.errors:
        raise CompileError("azureml", out.errors)
    if spec.engine is Engine.NATIVE and job is not None:
        job.queue_settings = _queue_settings(spec)
    _spot_warnings(spec, out)
    if spec.backends.azureml.compute is None:
        out.warn(("backends", "azureml", "compute"), "no compute cluster named: set backends.azureml.compute before submit")
    files: dict[str, Any] = {f"{spec.name}.job.yml": to_yaml(job, locals_)}
    from cloudauto.runtime.trial_inputs import local_checkpoints

    sized = {c.source: c.upload_note for c in local_checkpoints(spec, MOUNTED)[0]}  # a big weights folder: its size
    notes = [
        f"upload on submit: {sized.get(path, path)} ({role.removeprefix('input:')})"
        for role, path in locals_.items()
        if not role.startswith(("__", "table:")) and f"table:{role}" not in locals_
    ]
    for key, table in locals_.items():
        if key.startswith("table:"):
            role = key.removeprefix("table:")
            for name, content in table.items():
                files[f"{data_folder(spec)}/{role}/{name}"] = content
            notes.append(
                f"{data_folder(spec)}/{role}/: the {role} images as an MLTable over JSON Lines; "
                "submit uploads the images and sends the table with their datastore URLs"
            )

    if "__code__" in locals_:
        folder = code_folder(spec)
        files.update({f"{folder}/{name}": data for name, data in code_folder_files(spec).items()})
        what = (
            "your code and cloudauto's reporting module" if spec.engine is Engine.COMMAND else "spec.json and cloudauto's runtime"
        )
        notes.append(f"upload on submit: {folder}/ ({what}), the trial's code folder")
        grid = grid_note(spec) if spec.engine is Engine.AUTOGLUON else None
        if grid:
            notes.append(grid + f" (the table is {folder}/grid.json)")
    budget = _budget_note(spec)
    if budget:
        notes.append(budget)
    from cloudauto.runtime.foundation import gpu_note, hub_note, uses_foundation

    hub = hub_note(spec)
    if hub:
        notes.append(hub)
    if spec.compute.gpus:
        settings = spec.backends.azureml
        size = f" (vm_size {settings.vm_size})" if settings.vm_size else ""
        notes.append(
            f"compute.gpus: {spec.compute.gpus} GPU(s) for each trial on a node of cluster "
            f"{settings.compute or '(backends.azureml.compute)'}{size}: compile has no list of Azure's VM sizes, so "
            "submit's preflight checks the cluster's size has them (it reads the region's sizes) and refuses the job "
            "otherwise, before anything is uploaded"
        )
    if uses_foundation(spec):
        notes.append(
            gpu_note(
                "name a GPU cluster (backends.azureml.compute, e.g. one of Standard_NC6s_v3) and its vm_size for the "
                "cost estimate"
            )
        )
    return job, files, out.warnings, notes


def to_yaml(job: Any, local_inputs: dict[str, str]) -> str:
    """The job's YAML, with local paths written as paths (the SDK would write azureml:./...)."""
    import yaml

    data = json.loads(json.dumps(job._to_dict()))  # OrderedDicts and enums -> plain data
    key_of = {"train": "training_data", "validation": "validation_data", "test": "test_data"}
    for role, path in local_inputs.items():
        if role in key_of and isinstance(data.get(key_of[role]), dict):
            data[key_of[role]]["path"] = path
    if "__code__" in local_inputs and isinstance(data.get("trial"), dict):
        data["trial"]["code"] = local_inputs["__code__"]
    for key, path in local_inputs.items():  # a sweep job's own inputs
        role = key.removeprefix("input:")
        if key.startswith("input:") and isinstance(data.get("inputs", {}).get(role), dict):
            data["inputs"][role]["path"] = path
    data.pop("$schema", None)
    schema = SWEEP_SCHEMA if data.get("type") == "sweep" else AUTOML_SCHEMA
    return f"$schema: {schema}\n" + yaml.safe_dump(data, sort_keys=False)


__all__ = ["build", "distribution", "to_yaml"]
