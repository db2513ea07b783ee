"""The image spec the cloud backends' MultiModal tests compile: digits_automm.yaml beside its own small data."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

import cloudauto

from ..conftest import ROOT

SPACE = (
    "{model.timm_image.checkpoint_name: {choice: [./data/checkpoints/resnet10t, ./data/checkpoints/resnet14t]}, "
    "optim.lr: 0.003, optim.max_epochs: 2, env.per_gpu_batch_size: 32, env.batch_size: 32, env.num_workers: 0}"
)


def image_spec(tmp_path: Path, *extra: str, small: bool = True) -> cloudauto.JobSpec:
    """digits_automm.yaml beside its own data and checkpoint folders (random weights, made here)."""
    from job_specs import make_data

    data = tmp_path / "data"
    if not (data / "digits").exists():
        make_data.digits(data)
        make_data.checkpoints(data)
        pd.read_csv(data / "digits" / "train.csv").head(240).to_csv(data / "digits" / "small_train.csv", index=False)
        pd.read_csv(data / "digits" / "test.csv").head(60).to_csv(data / "digits" / "small_test.csv", index=False)
    (tmp_path / "spec.yaml").write_text((ROOT / "job_specs" / "digits_automm.yaml").read_text())
    tag = uuid.uuid4().hex[:6]
    overrides = [f"name=digits-{tag}", f"backends.sagemaker.bucket=cloudauto-mm-{tag}"]
    if small:
        overrides += [
            "data.train=./data/digits/small_train.csv",
            "data.test=./data/digits/small_test.csv",
            f"sweep.space={SPACE}",
            "sweep.early_termination={policy: none}",
        ]
    return cloudauto.JobSpec.from_file(tmp_path / "spec.yaml", overrides=[*overrides, *extra])
