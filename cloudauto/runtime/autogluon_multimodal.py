"""Image and text trials through AutoGluon's MultiModalPredictor (the `multimodal` extra).

Parameters map onto AutoMM's own names: `model.*`, `optim.*`, `env.*` and `data.*` go to
`hyperparameters` (`model.timm_image.checkpoint_name`, `optim.lr`, `optim.max_epochs`,
`env.per_gpu_batch_size` ...), `presets` and `time_limit` to `fit`. A checkpoint is a hub
name, a folder (relative to the spec file) or an `s3://` folder fetched before the fit, so a
team without hub access brings its own weights. The validation metric is reported each time
Lightning validates (AutoMM validates twice an epoch by default), and the policy's verdict
stops the fit there (`trainer.should_stop`), as a tabular trial's ends its fit.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..spec.metrics import Task
from ..spec.types import scheme_of
from .autogluon_params import MULTIMODAL_PREFIXES
from .data import read_table, resolve
from .image_data import image_records
from .trial_inputs import CHECKPOINT_SUFFIX, local_folder

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec.models import JobSpec
    from .autogluon_trial import Reporter, TrialResult

IMAGE_COLUMN = "image"


def multimodal_frame(spec: JobSpec, uri: str, base_dir: Optional[str]) -> pd.DataFrame:
    """A role's data as AutoMM reads it: image tasks one absolute image path per row; text tasks the table as it is."""
    import pandas as pd

    location = resolve(uri, base_dir)
    label = spec.data.label or "label"
    if spec.task is Task.IMAGE_CLASSIFICATION:
        records = image_records(location, label)
        return pd.DataFrame({IMAGE_COLUMN: [str(r.image) for r in records], label: [r.label for r in records]})
    return read_table(location)


def fetch_checkpoint(value: str, base_dir: Optional[str], into: Path) -> str:
    """A checkpoint as AutoMM takes it: a hub name stays; a folder becomes absolute; s3:// is downloaded first."""
    if value.startswith("s3://"):
        import boto3

        bucket, _, prefix = value[len("s3://") :].partition("/")
        prefix = prefix.rstrip("/") + "/"
        target = into / "checkpoints" / prefix.strip("/").replace("/", "_")
        s3 = boto3.client("s3")
        found = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                path = target / item["Key"][len(prefix) :]
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))
                found += 1
        if not found:
            raise FileNotFoundError(f"checkpoint {value}: no files under that prefix")
        return str(target)
    local = local_folder(value, base_dir)
    if local is None:
        if scheme_of(value) is not None:
            raise FileNotFoundError(f"checkpoint {value}: {scheme_of(value)}:// is not read here (a folder, a hub name or s3://)")
        return value  # a hub name (timm's or Hugging Face's)
    if local.is_file():
        raise FileNotFoundError(f"checkpoint {value}: is a file, not a folder ({local})")
    if not local.is_dir():
        raise FileNotFoundError(f"checkpoint {value}: no such folder ({local})")
    return str(local)


def hyperparameters_of(params: dict[str, Any], base_dir: Optional[str], out_dir: Path, gpus: int = 0) -> dict[str, Any]:
    """AutoMM's hyperparameters of a trial: its groups' parameters, checkpoints fetched, and `compute.gpus` where set
    (0, the default, leaves AutoMM's own: every GPU the trial sees, the CPU where there is none)."""
    chosen: dict[str, Any] = {"env.num_gpus": gpus} if gpus else {}
    for name, value in params.items():
        if not name.startswith(MULTIMODAL_PREFIXES):
            continue
        if name.endswith(CHECKPOINT_SUFFIX) and isinstance(value, str):
            value = fetch_checkpoint(value, base_dir, out_dir)
        chosen[name] = value
    return chosen


def self_contained(model_dir: Path) -> list[str]:
    """Make a saved model load where its timm checkpoint folder is not (an endpoint's container); returns what changed.

    AutoMM 1.6.3 keeps a timm checkpoint folder's path in config.yaml and reads the folder
    again on load (Hugging Face checkpoints it copies in itself). The trained weights are in
    model.ckpt, so naming the folder's timm architecture instead loads the same model,
    built by timm with no weights and no download, then filled from model.ckpt.
    """
    import json

    from omegaconf import OmegaConf

    path = model_dir / "config.yaml"
    config = OmegaConf.load(path)
    changed = []
    for name in config.model.get("names", []):
        section = config.model.get(name)
        folder = Path(str(section.get("checkpoint_name", ""))) if section is not None else None
        if folder is None or not (folder / "config.json").is_file():
            continue
        architecture = json.loads((folder / "config.json").read_text()).get("architecture")
        if architecture:
            section.checkpoint_name = architecture
            changed.append(f"{name}: {folder} -> {architecture}")
    if changed:
        OmegaConf.save(config, path)
    return changed


class _EpochReports:
    """A Lightning callback (built where Lightning is imported) that reports each validation and obeys the verdict."""

    @staticmethod
    def make(report: Reporter, metric: str, greater_is_better: bool) -> Any:
        import lightning.pytorch as pl

        class ReportEachValidation(pl.Callback):
            def __init__(self) -> None:
                self.values: list[float] = []
                self.stopped = False

            def on_validation_end(self, trainer: Any, module: Any) -> None:
                if trainer.sanity_checking or self.stopped:
                    return
                value = trainer.callback_metrics.get(metric)
                if value is None:
                    return
                value = float(value)
                self.values.append(value)
                finite = [v for v in self.values if math.isfinite(v)]
                best = (max(finite) if greater_is_better else min(finite)) if finite else value
                if report(best):
                    self.stopped = True
                    trainer.should_stop = True

        return ReportEachValidation()


def run_multimodal(
    spec: JobSpec,
    params: dict[str, Any],
    out_dir: Path,
    report: Reporter,
    *,
    base_dir: Optional[str] = None,
    num_cpus: Optional[int] = None,
    default_time_limit: Optional[float] = None,
) -> TrialResult:
    from .autogluon_trial import FIT_ARGS, ParameterError

    try:
        import autogluon.multimodal  # noqa: F401 - the install is checked before any data is read
    except ImportError:
        raise ParameterError(
            f"{spec.task.value} trials need autogluon.multimodal: pip install -c constraints.txt 'cloudauto-local[multimodal]'"
        ) from None
    data = spec.data
    train = multimodal_frame(spec, data.train, base_dir)
    tuning = multimodal_frame(spec, data.validation, base_dir) if data.validation else None
    if data.label not in train.columns:
        raise ParameterError(
            f"label column '{data.label}' is not in {data.train} (columns: {', '.join(map(str, train.columns))})"
        )
    kwargs: dict[str, Any] = {k: FIT_ARGS[k](v) for k, v in params.items() if k in ("presets", "time_limit")}
    if default_time_limit and "time_limit" not in kwargs:
        kwargs["time_limit"] = default_time_limit
    # s3:// checkpoints are fetched beside the model, not into it: SageMaker packs all of out_dir as the artifact
    scratch = Path(tempfile.mkdtemp(prefix="cloudauto-checkpoints-"))
    try:
        return _fit(
            spec,
            params,
            out_dir,
            report,
            train,
            tuning,
            kwargs,
            hyperparameters_of(params, base_dir, scratch, spec.compute.gpus),
            num_cpus,
            base_dir,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fit(
    spec: JobSpec,
    params: dict[str, Any],
    out_dir: Path,
    report: Reporter,
    train: pd.DataFrame,
    tuning: Optional[pd.DataFrame],
    kwargs: dict[str, Any],
    hyperparameters: dict[str, Any],
    num_cpus: Optional[int],
    base_dir: Optional[str],
) -> TrialResult:
    from autogluon.multimodal import MultiModalPredictor

    from .autogluon_trial import TrialResult, score_test

    data = spec.data
    if num_cpus and "env.num_workers" not in hyperparameters:
        hyperparameters["env.num_workers"] = max(0, min(2, num_cpus - 1))  # loader processes beside the trainer's own
    predictor = MultiModalPredictor(
        label=data.label,
        eval_metric=spec.objective.autogluon,
        path=str(out_dir / "model"),
        verbosity=2,
        enable_progress_bar=False,  # a trial's log is a file: a bar would write thousands of lines into it
    )
    callbacks: list[Any] = []
    learner = predictor._learner  # AutoMM 1.6.3 builds Lightning's callbacks here, per run
    make_callbacks = learner.get_callbacks_per_run

    def with_reports(*args: Any, **kw: Any) -> list[Any]:
        made = make_callbacks(*args, **kw)
        module = kw.get("litmodule")
        if kw.get("is_train", True) and module is not None:
            goal = spec.objective.goal.value == "maximize"
            callbacks.append(_EpochReports.make(report, module.validation_metric_name, goal))
            made.append(callbacks[-1])
        return made

    learner.get_callbacks_per_run = with_reports
    predictor.fit(train, tuning_data=tuning, hyperparameters=hyperparameters or None, **kwargs)
    learner.get_callbacks_per_run = make_callbacks  # not pickled with the predictor
    self_contained(Path(predictor.path))
    reported = [v for c in callbacks for v in c.values if math.isfinite(v)]
    if not reported:
        raise RuntimeError("AutoMM's fit ended before its first validation (see the trial log)")
    objective = max(reported) if spec.objective.goal.value == "maximize" else min(reported)
    metrics: dict[str, float] = {}
    test_error = None
    if data.test:

        def evaluate() -> Optional[float]:
            name = spec.objective.autogluon
            scores = predictor.evaluate(multimodal_frame(spec, data.test, base_dir), metrics=[name])
            return float(scores[name]) if name in scores else None

        test_error = score_test(data.test, spec.objective.name, evaluate, metrics)
    from .inference import write_model_info

    features = [c for c in train.columns if c != data.label]
    write_model_info(
        out_dir / "model",
        kind="multimodal",
        label=data.label,
        features=features,
        images=[IMAGE_COLUMN] if spec.task is Task.IMAGE_CLASSIFICATION else [],
        problem_type=predictor.problem_type,
        eval_metric=spec.objective.autogluon,
    )
    stopped = any(c.stopped for c in callbacks)
    return TrialResult(
        objective=objective, metrics=metrics, model_dir=str(out_dir / "model"), stopped=stopped, test_error=test_error
    )


__all__ = ["fetch_checkpoint", "hyperparameters_of", "multimodal_frame", "run_multimodal", "self_contained"]
