"""A spec as a SageMaker `CreateHyperParameterTuningJob` request, offline.

The request uses the API's own field names, so `aws sagemaker create-hyper-parameter-tuning-job
--cli-input-json file://...` accepts the file as written. Search-space mapping (exact):

| cloudauto | SageMaker |
| --- | --- |
| uniform(low, high) | Continuous, Linear, [low, high] |
| loguniform(low, high) | Continuous, Logarithmic, [low, high] (values) |
| randint [low, high) | Integer, Linear, [low, high - 1] |
| quniform(low, high, q) | Integer over k in [ceil(low/q), floor(high/q)]; the entry script uses k * q |
| qloguniform(low, high, q) | Continuous, Logarithmic; the entry script rounds to q |
| choice(values) | Categorical, each value JSON-encoded (the SDK's `as_json_range`) |
| fixed | a static hyperparameter, JSON-encoded as the SageMaker SDK writes them |

Static and categorical values are JSON because SageMaker's training toolkit runs `json.loads`
on every hyperparameter before the entry script sees it; how each tuned value is decoded
lives in the static hyperparameter `cloudauto_space`.
Alternative sub-spaces become a categorical `cloudauto_subspace` plus the union of their
parameters; a name whose distribution differs between sub-spaces is kept apart as
`<i>.<name>`. Under grid sampling they become the local grid's own points, numbered, as one
categorical `cloudauto_grid_point` (cloudauto.tuning.flat): SageMaker's Grid runs exactly the
trials the local backend runs. What SageMaker cannot express is a compile error naming the parameter.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import CompileError
from cloudauto.checkpoints import SAGEMAKER_CHECKPOINTS
from cloudauto.endpoints import job_tags
from cloudauto.reporting import metric_regex
from cloudauto.runtime.autogluon_trial import untrainable
from cloudauto.runtime.data import resolve
from cloudauto.runtime.sagemaker_entry import SPACE_PARAM, SUBSPACE_PARAM, as_json, wire
from cloudauto.runtime.trial_inputs import image_table_folder, local_checkpoints
from cloudauto.runtime.versions import AUTOGLUON_VERSION
from cloudauto.spec.errors import SpecIssue
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine, JobSpec, Sampling
from cloudauto.spec.space import Choice, Fixed, LogUniform, QLogUniform, QUniform, RandInt, Uniform
from cloudauto.spec.types import scheme_of
from cloudauto.tuning.flat import GRID_PARAM, clashing, grid_encoded, grid_note, grid_points, grid_table

from . import images

# SageMaker's own limits, quoted in the errors
MAX_TUNABLE = 30
MAX_CATEGORICAL_VALUES = 30
MAX_CATEGORICAL_VALUE_LEN = 256
MAX_HYPERPARAMETERS = 100
MAX_CHANNELS = 20
MAX_STATIC_VALUE_LEN = 2500
MAX_ENVIRONMENT, MAX_ENVIRONMENT_VALUE_LEN = 48, 512  # HyperParameterTrainingJobEnvironmentMap
NAME_MAX = 32
RUNTIME_MIN, RUNTIME_MAX = 120, 15_768_000
DEFAULT_TRIAL_RUNTIME = 86_400
DEFAULT_WAIT_FACTOR = 2  # compute.spot without compute.max_wait: as long again to wait for capacity as to run
ENTRY_POINT = "cloudauto_entry.py"
CPU_DEFAULT, GPU_DEFAULT = "ml.m5.2xlarge", "ml.g5.2xlarge"
_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^\s:@]+([:@]\S+)?$")
_AUTOGLUON_TAG = re.compile(r"/autogluon(?:-training|-inference)?:(\d+\.\d+\.\d+)-")
_GPU_TASKS = {Task.IMAGE_CLASSIFICATION, Task.IMAGE_OBJECT_DETECTION, Task.TEXT_CLASSIFICATION}


class _Problems:
    def __init__(self) -> None:
        self.errors: list[SpecIssue] = []
        self.warnings: list[SpecIssue] = []

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(SpecIssue(f"sagemaker: {message}", path))

    def warn(self, path: tuple, message: str) -> None:
        self.warnings.append(SpecIssue(f"sagemaker: {message}", path, level="warning"))


def source_tar(spec: JobSpec) -> bytes:
    """The `sagemaker_submit_directory` tarball before gzip: spec.json, cloudauto's code, the command's code,
    checkpoints.json. What defines the run (`run_identity`): compile names the job without compressing it.

    spec.json keeps `${NAME}` references: the values travel in the training job's `Environment`.
    """
    from cloudauto.runtime.bundle import bundle_files, tar
    from cloudauto.runtime.trial_inputs import checkpoints_file

    return tar(bundle_files(spec, extra=checkpoints_file(local_checkpoints(spec)[0])))


def source_tarball(spec: JobSpec) -> bytes:
    """The `sagemaker_submit_directory` tarball, gzipped, as it is uploaded."""
    from cloudauto.runtime.bundle import gz

    return gz(source_tar(spec))


def _digest_path(path: Path, into: Any) -> None:
    """A file's bytes, or a folder's files (relative path, size, bytes) in sorted order, into a hash."""
    if path.is_file():
        files = [(path, "")]
    elif path.is_dir():
        files = [(p, p.relative_to(path).as_posix()) for p in sorted(path.rglob("*")) if p.is_file()]
    else:
        files = []
        into.update(b"\0missing")  # submit refuses it before anything is uploaded
    for file, relative in files:
        into.update(f"\0{relative}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                into.update(block)


def run_identity(spec: JobSpec, source: Optional[bytes] = None) -> str:
    """What defines a run: the source tarball (`source_tar`, uncompressed: the gzip of the same bytes is the same)
    and the content of every local input (data, image folders, checkpoint folders). `s3://` inputs count by their
    URI (in the spec)."""
    from cloudauto.runtime.bundle import BundleError, SnapshotRefused

    digest = hashlib.sha256()
    try:
        digest.update(source if source is not None else source_tar(spec))
    except SnapshotRefused:  # every trial would fail: compile refuses too
        raise
    except BundleError:  # submit refuses it; compile still names a job
        digest.update(json.dumps(spec.to_stored(), sort_keys=True).encode())
    for local, s3_uri in channels(spec, "bucket", "job")[1]:
        digest.update(f"\0{s3_uri}".encode())
        _digest_path(Path(resolve(local.removeprefix("file://"), spec.base_dir)), digest)
    return digest.hexdigest()


def job_name(spec: JobSpec, identity: str = "", attempt: int = 0) -> str:
    """≤ 32 characters, the same for the same run identity: a CI retry cannot double-submit.

    `attempt` numbers the runs of one identity: submit takes the next one when a job of that
    identity has ended (attempt 0 has the name compile shows).
    """
    salt = identity + (f"#{attempt}" if attempt else "")
    digest = hashlib.sha256(salt.encode()).hexdigest()[:10]
    return f"{spec.name[: NAME_MAX - 11].rstrip('-')}-{digest}"


REQUEST_SUFFIX = ".tuning-job.json"


def earlier_request(spec: JobSpec, path: Path) -> bool:
    """Whether `path`, which an earlier `compile -o` wrote, is this spec's request of another run identity (the spec
    edited since): named as `job_name` names this spec's jobs, tagged with this spec's name (two specs whose names
    `job_name` cuts to the same stem are told apart by it). A listed name that is gone is one too: its line goes."""
    from cloudauto.endpoints import TAG_SPEC

    stem = spec.name[: NAME_MAX - 11].rstrip("-")
    if not re.fullmatch(re.escape(stem) + r"-[0-9a-f]{10}" + re.escape(REQUEST_SUFFIX), path.name):
        return False
    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink() or not path.is_file():
        return False
    try:
        tags = {t["Key"]: t["Value"] for t in json.loads(path.read_text(encoding="utf-8"))["Tags"]}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return tags.get(TAG_SPEC) == spec.name


def instance_type(spec: JobSpec) -> str:
    settings = spec.backends.sagemaker
    chosen = settings.instance_type or spec.compute.instance_type
    if chosen is None:
        from cloudauto.runtime.foundation import uses_foundation

        return GPU_DEFAULT if spec.task in _GPU_TASKS or uses_foundation(spec) else CPU_DEFAULT
    return chosen


def _instance_field(spec: JobSpec) -> str:
    """Where the training instance comes from, as a message names it."""
    if spec.backends.sagemaker.instance_type:
        return "backends.sagemaker.instance_type"
    return "compute.instance_type" if spec.compute.instance_type else "the default for this task"


def _gpu_problem(spec: JobSpec, instance: str) -> Optional[str]:
    """compute.gpus on an instance without a GPU: every trial would set `device: cuda` (num_gpus) there and fail,
    billed. Only the families `images.accelerator` knows as CPU ones are refused: how many GPUs a GPU instance holds
    is not known here, so `gpus` above it is left to the trial."""
    gpus = spec.compute.gpus
    if not gpus or not instance.startswith("ml.") or images.accelerator(instance) == "gpu":
        return None
    field = _instance_field(spec)
    setting = field if field.endswith("instance_type") else "compute.instance_type"
    return (
        f"{gpus} GPU(s) asked for each trial, but {instance} ({field}) has no GPU (0: SageMaker's GPU instances are the "
        f"ml.g* and ml.p* families), so every trial would fail on CUDA: set {setting} to a GPU one (e.g. {GPU_DEFAULT}), "
        "or compute.gpus: 0"
    )


def _foundation_note(spec: JobSpec, instance: str) -> Optional[str]:
    """Why a foundation-model sweep trains where it does (a GPU instance chosen by default is said, as Azure's is)."""
    from cloudauto.runtime.foundation import gpu_note, uses_foundation

    if not uses_foundation(spec):
        return None
    field = _instance_field(spec)
    if field.startswith("the "):
        where = (
            f"the trials run on {instance}, a GPU instance, SageMaker's default for a spec that names a foundation "
            f"model (compute.instance_type chooses another, e.g. {CPU_DEFAULT} to train on CPUs)"
        )
    elif images.accelerator(instance) == "gpu":
        where = f"the trials run on {instance} ({field})"
    else:
        where = f"{instance} ({field}) has no GPU: the trials fit them on its CPUs, slower (e.g. {GPU_DEFAULT} has one)"
    return gpu_note(where)


def strategy_of(spec: JobSpec) -> str:
    settings = spec.backends.sagemaker
    if settings.strategy:
        return settings.strategy
    if spec.policy is not None and spec.policy.policy in ("asha", "hyperband"):
        return "Hyperband"  # SageMaker's own multi-fidelity strategy: it samples and stops by itself
    sampling = spec.sweep.sampling if spec.sweep else Sampling.GRID
    return {Sampling.RANDOM: "Random", Sampling.GRID: "Grid", Sampling.BAYESIAN: "Bayesian"}[sampling]


def _hyperband(spec: JobSpec, strategy: str, out: _Problems) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """asha / hyperband as `Strategy: Hyperband` with its resource bounds: (StrategyConfig, the compile note).

    A bare `backends.sagemaker.strategy: Hyperband` must agree with the policy: without asha or
    hyperband the bounds are unknown (SageMaker would guess MaxResource from an `epochs`
    hyperparameter), and asha or hyperband under another strategy would not be applied at all.
    """
    policy = spec.policy
    multi = policy is not None and policy.policy in ("asha", "hyperband")
    override = ("backends", "sagemaker", "strategy")
    if strategy == "Hyperband" and not multi:
        out.error(
            override,
            "strategy: Hyperband needs its resource bounds: set sweep.early_termination to {policy: hyperband, "
            "min_resource: N, max_resource: M} (the strategy follows from it; drop the override)"
            + (f"; Hyperband stops trials itself, so the {policy.policy} policy cannot run beside it" if policy else ""),
        )
        return None, None
    if not multi:
        return None, None
    if strategy != "Hyperband":
        out.error(
            override,
            f"strategy: {strategy} disagrees with sweep.early_termination policy {policy.policy}: SageMaker runs "
            "successive halving only as its Hyperband strategy; drop the override (or set it to Hyperband)",
        )
        return None, None
    # MaxResource's limit (20,000) is the spec's own, on every backend (spec.models.MAX_RESOURCE_LIMIT)
    config = {"HyperbandStrategyConfig": {"MinResource": policy.min_resource, "MaxResource": policy.max_resource}}
    note = (
        f"early termination: {policy.policy} is SageMaker's Hyperband strategy (StrategyConfig.HyperbandStrategyConfig "
        f"MinResource {policy.min_resource}, MaxResource {policy.max_resource} {policy.resource}s; "
        "TrainingJobEarlyStoppingType Off, as Hyperband requires). The resource is the reported step: SageMaker counts "
        "each objective value a trial emits (one per cloudauto.report) as one step, as the local backend does. Unlike "
        f"asha, SageMaker chooses its own reduction factor and brackets (reduction_factor {policy.reduction_factor} "
        "is not sent: the API takes none) and, from the intermediate and final results, which configurations to "
        f"start and how far each runs; a trial is not stopped before {policy.resource} {policy.min_resource} and is "
        f"stopped at {policy.max_resource}, as locally"
    )
    return config, note


def cost_basis(spec: JobSpec) -> Any:
    """What the tuning job bills: its training jobs, each on InstanceCount instances, at most MaxRuntimeInSeconds each."""
    from cloudauto.cost import CostBasis

    trials = spec.max_trials
    if grid_encoded(spec):  # the local grid's points, numbered: Grid runs each once
        trials = len(grid_points(spec))
    elif strategy_of(spec) == "Grid" and spec.space.is_discrete:  # Grid runs every combination (no MaxNumberOfTrainingJobs)
        from cloudauto.tuning.samplers import make_sampler

        trials = make_sampler(spec).size
    limits = spec.limits
    return CostBasis(
        backend="sagemaker",
        instance_type=instance_type(spec),
        region=region_of(spec),
        instances_per_trial=spec.compute.instance_count,
        trials=trials,
        parallel=min(limits.max_concurrent_trials, trials),
        trial_seconds=float(int(limits.trial_timeout)) if limits.trial_timeout else float(DEFAULT_TRIAL_RUNTIME),
        job_seconds=float(int(limits.timeout)) if limits.timeout else None,
        price_override=spec.backends.sagemaker.price_per_hour,
        spot=spec.compute.spot,
        bounds={
            "trial": "limits.trial_timeout" if limits.trial_timeout else "SageMaker's default trial MaxRuntimeInSeconds",
            "job": "limits.timeout",
        },
    )


def image_uri(spec: JobSpec, region: str, instance: str, scope: str = "training") -> tuple[str, str]:
    """(URI, how it was chosen): a pinned URI, or the AutoGluon DLC of cloudauto's one AutoGluon release."""
    settings = spec.backends.sagemaker
    pinned = settings.image_uri if scope == "training" else settings.serving_image_uri or settings.image_uri
    if pinned:
        field = "image_uri" if pinned == settings.image_uri else "serving_image_uri"
        return pinned, f"pinned by backends.sagemaker.{field}"
    version = settings.framework_version or AUTOGLUON_VERSION
    try:
        image = images.find("autogluon", version, scope, instance)
    except images.ImageError as exc:
        raise CompileError(
            "sagemaker", [SpecIssue(f"sagemaker: {exc}", ("backends", "sagemaker", "framework_version"))]
        ) from None
    uri = image.uri(_registry(region), region)
    return uri, f"the AutoGluon {image.version} DLC, {image.accelerator}, {scope}; {images.PROVENANCE}"


def _registry(region: str) -> str:
    """The region's DLC registry account, or the spec error that names backends.sagemaker.region."""
    try:
        return images.account(region)
    except images.ImageError as exc:
        raise CompileError("sagemaker", [SpecIssue(f"sagemaker: {exc}", ("backends", "sagemaker", "region"))]) from None


def image_autogluon(uri: str) -> Optional[str]:
    """The AutoGluon release inside an AWS AutoGluon DLC, from its tag (None for any other image)."""
    match = _AUTOGLUON_TAG.search(uri)
    return match.group(1) if match else None


def command_image(spec: JobSpec, region: str, instance: str, out: _Problems) -> tuple[str, str]:
    """engine: command: the user's ECR image, else the PyTorch training DLC (it carries sagemaker-training)."""
    settings = spec.backends.sagemaker
    if settings.image_uri:
        chosen, field = settings.image_uri, ("backends", "sagemaker", "image_uri")
    elif spec.command.image:
        chosen, field = spec.command.image, ("command", "image")
    else:
        from importlib.metadata import PackageNotFoundError, version

        try:
            torch = version("torch")
        except PackageNotFoundError:
            torch = None
        release, why = images.pytorch_for(torch)
        image = images.find("pytorch", release, "training", instance)
        uri = image.uri(_registry(region), region)
        return uri, f"the PyTorch {release} training DLC: {why}; {images.PROVENANCE}"
    if not _ECR.match(chosen):
        out.error(
            field,
            f"'{chosen}' is not an Amazon ECR image: SageMaker training pulls only from ECR "
            "(ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG), and an image without the SageMaker "
            "training toolkit would ignore sagemaker_program; push it to ECR and name it in "
            "backends.sagemaker.image_uri, or leave command.image out for the PyTorch training DLC",
        )
    return chosen, "pinned by " + ".".join(field)


def _ranges(spec: JobSpec, out: _Problems) -> tuple[dict[str, list], dict[str, str], dict[str, Any]]:
    """(ParameterRanges, static hyperparameters, the decoding table for the entry script)."""
    space = spec.space
    if grid_encoded(spec):
        return _grid_ranges(spec, out)
    integer: list[dict] = []
    continuous: list[dict] = []
    categorical: list[dict] = []
    static: dict[str, str] = {}
    decode: dict[str, Any] = {"subspaces": [], "params": {}}

    # which names can be shared between alternative sub-spaces (identical distribution everywhere)
    clash = clashing(space)
    if space.is_conditional:
        categorical.append({"Name": SUBSPACE_PARAM, "Values": [as_json(i) for i in range(len(space.subspaces))]})
        tuned_clash = sorted(n for n in clash if not all(isinstance(d, Fixed) for _, m, d in space.distributions() if m == n))
        if tuned_clash:
            verb = "differs" if len(tuned_clash) == 1 else "differ"
            out.warn(
                ("sweep", "space"),
                f"{', '.join(tuned_clash)} {verb} between sub-spaces: tuned as "
                "<sub-space>.<name> and decoded by the entry script",
            )

    done: set[str] = set()
    for index, sub in enumerate(space.subspaces):
        keys = {}
        for name, dist in sub.items():
            key = f"{index}.{name}" if name in clash else name
            keys[name] = key
            if key in done:
                continue
            done.add(key)
            path = ("sweep", "space", index, name)
            if isinstance(dist, Fixed):
                static[key] = as_json(dist.value)
                decode["params"][key] = {"type": "fixed"}
            elif isinstance(dist, Choice):
                values = [as_json(v) for v in dist.values]
                if len(values) > MAX_CATEGORICAL_VALUES:
                    out.error(
                        path,
                        f"'{name}' has {len(values)} choices; SageMaker allows at most {MAX_CATEGORICAL_VALUES} values per categorical parameter",
                    )
                if any(len(v) > MAX_CATEGORICAL_VALUE_LEN for v in values):
                    out.error(path, f"a value of '{name}' is longer than SageMaker's {MAX_CATEGORICAL_VALUE_LEN} characters")
                categorical.append({"Name": key, "Values": values})
                decode["params"][key] = {"type": "choice", "values": list(dist.values)}
            elif isinstance(dist, Uniform):
                continuous.append({"Name": key, "MinValue": wire(dist.low), "MaxValue": wire(dist.high), "ScalingType": "Linear"})
            elif isinstance(dist, (LogUniform, QLogUniform)):
                continuous.append(
                    {"Name": key, "MinValue": wire(dist.low), "MaxValue": wire(dist.high), "ScalingType": "Logarithmic"}
                )
                if isinstance(dist, QLogUniform):
                    decode["params"][key] = {"type": "qloguniform", "q": dist.q, "low": dist.low, "high": dist.high}
            elif isinstance(dist, RandInt):
                integer.append({"Name": key, "MinValue": str(dist.low), "MaxValue": str(dist.high - 1), "ScalingType": "Linear"})
                decode["params"][key] = {"type": "int"}
            elif isinstance(dist, QUniform):
                low_k, high_k = math.ceil(dist.low / dist.q - 1e-9), math.floor(dist.high / dist.q + 1e-9)
                integer.append({"Name": key, "MinValue": str(low_k), "MaxValue": str(high_k), "ScalingType": "Linear"})
                decode["params"][key] = {"type": "quniform", "q": dist.q, "low": dist.low, "high": dist.high}
            else:
                out.error(path, f"'{name}' is {dist.kind}: SageMaker ranges are bounded (Continuous, Integer, Categorical)")
        decode["subspaces"].append(keys)

    tunable = len(integer) + len(continuous) + len(categorical)
    if tunable > MAX_TUNABLE:
        out.error(("sweep", "space"), f"{tunable} tuned parameters; SageMaker allows at most {MAX_TUNABLE}")
    if spec.sweep and spec.sweep.sampling is Sampling.GRID and (integer or continuous):
        names = [r["Name"] for r in integer + continuous]
        out.error(
            ("sweep", "space"),
            f"SageMaker's Grid strategy takes categorical parameters only; {', '.join(names)} would need choice",
        )
    ranges = {
        k: v
        for k, v in (
            ("IntegerParameterRanges", integer),
            ("ContinuousParameterRanges", continuous),
            ("CategoricalParameterRanges", categorical),
        )
        if v
    }
    return ranges, static, decode


def _grid_ranges(spec: JobSpec, out: _Problems) -> tuple[dict[str, list], dict[str, str], dict[str, Any]]:
    """Grid sampling over alternative sub-spaces: the local grid's points, numbered, as one categorical
    `cloudauto_grid_point`; SageMaker's Grid runs each value once and the entry reads the point from the table."""
    points = grid_points(spec)
    if len(points) > MAX_CATEGORICAL_VALUES:
        out.error(
            ("sweep", "space"),
            f"grid sampling {'over alternative sub-spaces' if spec.space.is_conditional else 'of family settings'} "
            f"runs {len(points)} points here, one value each of the "
            f"categorical {GRID_PARAM}; SageMaker's CategoricalParameterRange takes at most {MAX_CATEGORICAL_VALUES} "
            f"values: set limits.max_trials to {MAX_CATEGORICAL_VALUES} or fewer (the grid's first points), or use "
            "random or bayesian sampling",
        )
    values = [as_json(i) for i in range(len(points))]
    return {"CategoricalParameterRanges": [{"Name": GRID_PARAM, "Values": values}]}, {}, {"grid": grid_table(points)}


def _channel(name: str, s3_uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": s3_uri, "S3DataDistributionType": "FullyReplicated"}},
    }


def channels(spec: JobSpec, bucket: str, name: str, out: Optional[_Problems] = None) -> tuple[list[dict], list[tuple[str, str]]]:
    """(InputDataConfig, the (local path, S3 URI) pairs submit uploads).

    A local image table travels with its folder (its images are relative to it): the channel is
    that folder, one upload shared by the roles that read a table from it. Each local checkpoint
    folder is a channel of its own, `checkpoint_<i>`, which SageMaker downloads before the
    container starts, as it does the data.
    """
    out = out or _Problems()
    prefix = f"s3://{bucket}/{spec.backends.sagemaker.prefix}/{name}"
    found, uploads = [], []
    for role, uri in {**spec.data.uris(), **spec.backends.sagemaker.data}.items():
        scheme = scheme_of(uri)
        if scheme not in (None, "file", "s3"):
            out.error(
                ("data", role),
                f"{scheme}:// data cannot be a SageMaker channel; copy it to s3:// and name it in backends.sagemaker.data.{role}",
            )
            continue
        if scheme == "s3":
            found.append(_channel(role, uri))
            continue
        folder, problem = image_table_folder(spec, role, uri)
        if problem:
            out.error(problem.path, problem.message)
            continue
        if folder is not None:
            # the folder as the spec names it, so the same spec compiles alike on every machine
            digest = hashlib.sha256(os.path.relpath(folder, spec.base_dir or ".").encode()).hexdigest()[:8]
            s3_uri = f"{prefix}/data/{folder.name}-{digest}/"
            local = str(folder)
        else:
            s3_uri = f"{prefix}/data/{role}/{os.path.basename(uri.rstrip('/')) or role}"
            local = uri
            if Path(resolve(uri.removeprefix("file://"), spec.base_dir)).is_dir():
                s3_uri += "/"  # a folder's files keep their paths under the channel
        found.append(_channel(role, s3_uri))
        if (local, s3_uri) not in uploads:
            uploads.append((local, s3_uri))
    checkpoints, _ = local_checkpoints(spec)  # the ones that are no folder are refused in Backend.check
    for index, checkpoint in enumerate(checkpoints):
        s3_uri = f"{prefix}/checkpoints/{index}/"
        found.append(_channel(checkpoint.input, s3_uri))
        uploads.append((checkpoint.source, s3_uri))
    if len(found) > MAX_CHANNELS:
        out.error(
            ("sweep", "space"),
            f"{len(found)} input channels ({len(checkpoints)} of them checkpoint folders); SageMaker allows {MAX_CHANNELS}: "
            "put the checkpoints in s3:// folders and name those",
        )
    return found, uploads


def region_of(spec: JobSpec) -> str:
    return spec.backends.sagemaker.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _budget_runtime(spec: JobSpec, resource_limits: dict[str, Any], out: _Problems) -> Optional[str]:
    """limits.max_cost as the tuning job's own MaxRuntimeInSeconds, so SageMaker holds the budget without cloudauto."""
    from cloudauto.cost import budget_wall_seconds, estimate

    found = estimate(cost_basis(spec)) if spec.limits.max_cost is not None else None
    seconds = budget_wall_seconds(spec, found) if found is not None else None
    if seconds is None:
        return None
    if seconds < RUNTIME_MIN:
        out.error(
            ("limits", "max_cost"),
            f"limits.max_cost ${spec.limits.max_cost:g} buys {seconds} s of the job's {found.basis.parallel} trials at once; "
            f"SageMaker's MaxRuntimeInSeconds is at least {RUNTIME_MIN} s",
        )
        return None
    held = min(seconds, RUNTIME_MAX, resource_limits.get("MaxRuntimeInSeconds", RUNTIME_MAX))
    resource_limits["MaxRuntimeInSeconds"] = held
    return (
        f"ResourceLimits.MaxRuntimeInSeconds is {held} s: limits.max_cost ${spec.limits.max_cost:g} / "
        f"(${found.price.usd_per_hour:g}/h × {found.basis.instances_per_trial} instance(s) × {found.basis.parallel} trials at once) "
        f"is {seconds} s, so SageMaker stops the tuning job within the budget by itself"
        + (" (limits.timeout is shorter)" if held < seconds else "")
    )


def _spot(spec: JobSpec, definition: dict[str, Any], checkpoints: str, out: _Problems) -> Optional[str]:
    """compute.spot: managed spot training, a wait limit of at least the runtime limit, and the checkpoint folder
    SageMaker syncs with S3 and brings back when it restarts a trial on new capacity."""
    if not spec.compute.spot:
        return None
    runtime = definition["StoppingCondition"]["MaxRuntimeInSeconds"]
    given = spec.compute.max_wait
    wait = int(given) if given is not None else DEFAULT_WAIT_FACTOR * runtime
    if wait < runtime:
        limit = "limits.trial_timeout" if spec.limits.trial_timeout else "SageMaker's default trial runtime"
        out.error(
            ("compute", "max_wait"),
            f"compute.max_wait is {wait} s, below the trial's MaxRuntimeInSeconds {runtime} s ({limit}): SageMaker's "
            f"MaxWaitTimeInSeconds is the wait for spot capacity plus the run, at least the runtime; set compute.max_wait "
            f"to {runtime} s or more (e.g. {DEFAULT_WAIT_FACTOR * runtime} s)",
        )
    definition["EnableManagedSpotTraining"] = True
    definition["StoppingCondition"]["MaxWaitTimeInSeconds"] = wait
    definition["CheckpointConfig"] = {"S3Uri": checkpoints, "LocalPath": SAGEMAKER_CHECKPOINTS}
    return (
        f"spot: each trial runs on managed spot capacity (EnableManagedSpotTraining), waiting and running {wait} s "
        f"at most (MaxWaitTimeInSeconds, {'compute.max_wait' if given is not None else f'{DEFAULT_WAIT_FACTOR} × the runtime limit'}); "
        f"{SAGEMAKER_CHECKPOINTS} is synced with {checkpoints}, each trial in a folder named after its training job "
        "(cloudauto.checkpoint_dir()), and comes back when SageMaker restarts an interrupted trial"
    )


def _environment(spec: JobSpec, out: _Problems) -> dict[str, str]:
    from cloudauto.runtime.bundle import reference_environment

    environment = reference_environment(spec)
    if len(environment) > MAX_ENVIRONMENT:
        out.error((), f"the spec reads {len(environment)} ${{NAME}} variables; a SageMaker training job takes {MAX_ENVIRONMENT}")
    for name, value in environment.items():
        if len(value) > MAX_ENVIRONMENT_VALUE_LEN:
            out.error(
                (),
                f"${{{name}}} is {len(value)} characters; a SageMaker training job's environment value is at most "
                f"{MAX_ENVIRONMENT_VALUE_LEN}",
            )
    return environment


def tuning_request(
    spec: JobSpec,
    *,
    bucket: str | None = None,
    role: str | None = None,
    name: str | None = None,
    region: str | None = None,
) -> tuple[dict[str, Any], list[SpecIssue], list[str]]:
    """(the request, warnings, notes on what submit will upload); submit passes the bucket, role, job name and
    region it resolved."""
    out = _Problems()
    settings = spec.backends.sagemaker
    region = region or region_of(spec)
    role = role or settings.role or os.environ.get("SAGEMAKER_ROLE")
    if not role:
        role = "arn:aws:iam::000000000000:role/SET-backends.sagemaker.role"
        out.warn(
            ("backends", "sagemaker", "role"),
            "no IAM role: the request holds a placeholder; submit needs backends.sagemaker.role (or SAGEMAKER_ROLE)",
        )
    bucket = bucket or settings.bucket or os.environ.get("SAGEMAKER_BUCKET") or "SET-backends.sagemaker.bucket"
    if bucket.startswith("SET-"):
        out.warn(
            ("backends", "sagemaker", "bucket"),
            "no bucket: S3 locations hold a placeholder (submit uses the session's default bucket)",
        )
    name = name or job_name(spec, run_identity(spec))
    instance = instance_type(spec)
    if not instance.startswith("ml."):
        out.error(
            ("compute", "instance_type"),
            f"'{instance}' is not a SageMaker instance type (ml.*); set backends.sagemaker.instance_type",
        )
    gpu_problem = _gpu_problem(spec, instance)
    if gpu_problem:
        out.error(("compute", "gpus"), gpu_problem)
    if not instance.startswith("ml."):
        training_image, image_note = "", ""
    elif spec.engine is Engine.COMMAND:
        training_image, image_note = command_image(spec, region, instance, out)
    else:
        training_image, image_note = image_uri(spec, region, instance)
        if settings.image_uri and not _ECR.match(settings.image_uri):
            out.error(
                ("backends", "sagemaker", "image_uri"),
                f"'{settings.image_uri}' is not an Amazon ECR image: SageMaker training pulls only from ECR "
                "(ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG)",
            )
        version = settings.framework_version
        if version and not AUTOGLUON_VERSION.startswith(version) and not settings.image_uri:
            out.warn(
                ("backends", "sagemaker", "framework_version"),
                f"AutoGluon {version} on SageMaker, {AUTOGLUON_VERSION} on the local backend and Azure ML: "
                "models trained here load only where the same release runs",
            )
    problem = untrainable(
        spec,
        "Use engine: command with your own training script (command.image for its container), "
        "or the azureml backend with engine: native (an Azure AutoML job).",
    )
    if problem:
        out.error(("task",), problem)
    ranges, static, decode = _ranges(spec, out)
    inputs, uploads = channels(spec, bucket, name, out)
    limits = spec.limits

    strategy = strategy_of(spec)
    if spec.sweep is None:
        strategy = "Grid" if ranges.get("CategoricalParameterRanges") else "Random"
    # the policy itself is approximated by Auto: SageMakerBackend.warnings says so (an error under --strict)
    early = "Auto" if spec.policy is not None and strategy != "Hyperband" else "Off"
    strategy_config, hyperband_note = _hyperband(spec, strategy, out)

    reported = spec.metric.name if spec.engine is Engine.COMMAND else spec.objective.name
    metric_name = f"cloudauto:{reported}"
    resource_limits: dict[str, Any] = {"MaxParallelTrainingJobs": min(limits.max_concurrent_trials, spec.max_trials)}
    if strategy != "Grid":
        resource_limits["MaxNumberOfTrainingJobs"] = spec.max_trials
    if limits.timeout is not None:
        if not RUNTIME_MIN <= limits.timeout <= RUNTIME_MAX:
            out.error(
                ("limits", "timeout"),
                f"SageMaker's MaxRuntimeInSeconds is {RUNTIME_MIN}–{RUNTIME_MAX:,} s, got {limits.timeout:g}",
            )
        resource_limits["MaxRuntimeInSeconds"] = int(limits.timeout)
    budget_note = _budget_runtime(spec, resource_limits, out)
    trial_runtime = int(limits.trial_timeout) if limits.trial_timeout else DEFAULT_TRIAL_RUNTIME
    if limits.trial_timeout and limits.trial_timeout < 1:
        out.error(("limits", "trial_timeout"), "SageMaker's trial MaxRuntimeInSeconds is at least 1 s")

    source = f"s3://{bucket}/{settings.prefix}/{name}/source/sourcedir.tar.gz"
    static.update(
        {
            "sagemaker_program": as_json(ENTRY_POINT),
            "sagemaker_submit_directory": as_json(source),
            "sagemaker_region": as_json(region),
            "sagemaker_container_log_level": as_json(20),
            SPACE_PARAM: as_json(decode),
        }
    )
    for key, value in static.items():
        if len(value) > MAX_STATIC_VALUE_LEN:
            out.error(
                ("sweep", "space"),
                f"static hyperparameter '{key}' is {len(value)} characters; SageMaker allows {MAX_STATIC_VALUE_LEN}",
            )
    total = len(static) + sum(len(v) for v in ranges.values())
    if total > MAX_HYPERPARAMETERS:
        out.error(("sweep", "space"), f"{total} hyperparameters in all; SageMaker allows at most {MAX_HYPERPARAMETERS}")

    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": spec.objective.goal.value.capitalize(), "MetricName": metric_name},
        "ResourceLimits": resource_limits,
        "ParameterRanges": ranges,
        "TrainingJobEarlyStoppingType": early,
    }
    if strategy_config:
        config["StrategyConfig"] = strategy_config
    if spec.sweep and spec.sweep.seed is not None and strategy != "Grid":
        config["RandomSeed"] = spec.sweep.seed
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {
                "TrainingImage": training_image,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": metric_name, "Regex": metric_regex(reported)}, *_extra_definitions(spec, out)],
            },
            "RoleArn": role,
            "InputDataConfig": inputs,
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{settings.prefix}/{name}/output"},
            "ResourceConfig": {
                "InstanceType": instance,
                "InstanceCount": spec.compute.instance_count,
                "VolumeSizeInGB": settings.volume_size_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": trial_runtime},
        },
        "Tags": [{"Key": k, "Value": v} for k, v in {**job_tags(spec.name, name), **spec.tags}.items()],
    }
    if not inputs:
        del request["TrainingJobDefinition"]["InputDataConfig"]
    spot_note = _spot(spec, request["TrainingJobDefinition"], f"s3://{bucket}/{settings.prefix}/{name}/trial-checkpoints/", out)
    environment = _environment(spec, out)
    if environment:  # the `${NAME}` values spec.json reads, set in each trial's container (never in the tarball)
        request["TrainingJobDefinition"]["Environment"] = environment
    from .completion import apply

    completion_notes = apply(spec, request, out)  # stop_when, warm_start, trial_retries, max_failed_trials
    if out.errors:
        raise CompileError("sagemaker", out.errors)
    sized = {c.source: c.upload_note for c in local_checkpoints(spec)[0]}  # a big weights folder: its size
    notes = [
        f"training image: {training_image} ({image_note})",
        f"upload on submit: the source tarball -> {source}",
        *(f"upload on submit: {sized.get(local, local)} -> {uri}" for local, uri in uploads),
        *([budget_note] if budget_note else []),
        *([hyperband_note] if hyperband_note else []),
        *([grid + f" (the table is the static hyperparameter {SPACE_PARAM})"] if (grid := grid_note(spec)) else []),
        *([spot_note] if spot_note else []),
        *completion_notes,
    ]
    from cloudauto.runtime.foundation import hub_note

    hub = hub_note(spec)
    if hub:
        notes.append(hub)
    foundation = _foundation_note(spec, instance)
    if foundation:
        notes.append(foundation)
    return request, out.warnings, notes


MAX_METRIC_DEFINITIONS = 40  # SageMaker's AlgorithmSpecification.MetricDefinitions


def _extra_definitions(spec: Any, out: Any) -> list[dict[str, str]]:
    """The spec's `metrics:`, as each trial reports them (val_<name>, test_<name>), and the primary metric's test score
    (test_<metric>, as local trials report it): SageMaker keeps them per training job."""
    roles = ("val", "test") if spec.data.test else ("val",)
    primary = [f"test_{spec.objective.name}"] if spec.data.test and spec.engine is not Engine.COMMAND else []
    reported = primary + [f"{role}_{m.name}" for m in spec.extra_metrics for role in roles]
    found = [{"Name": f"cloudauto:{key}", "Regex": metric_regex(key)} for key in reported]
    if len(found) + 1 > MAX_METRIC_DEFINITIONS:
        out.error(("metrics",), f"{len(found) + 1} metric definitions; SageMaker takes at most {MAX_METRIC_DEFINITIONS}")
    return found


__all__ = [
    "channels",
    "command_image",
    "image_autogluon",
    "image_uri",
    "instance_type",
    "job_name",
    "region_of",
    "run_identity",
    "source_tar",
    "source_tarball",
    "tuning_request",
]
