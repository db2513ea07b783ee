"""`cloudauto.checkpoint_dir()`: where a training script keeps what it resumes from, on every backend.

Standard library only, like `reporting.py`: it ships in every trial's code. Each backend
names the folder in `CLOUDAUTO_CHECKPOINT_DIR` before the trial's script starts:

- local: the trial's own folder (`cloudauto resume` runs an interrupted trial there again);
- SageMaker: `/opt/ml/checkpoints/<training job>`: with `compute.spot: true` the training
  job's CheckpointConfig syncs /opt/ml/checkpoints with S3 and brings it back when SageMaker
  restarts the job on new spot capacity. One CheckpointConfig serves every training job of a
  tuning job, so each trial keeps to a subfolder named after its own training job;
- Azure ML: the trial's `checkpoints` output (a read-write mount of its own blob folder),
  which is still there when a low-priority node is preempted and the trial runs again.

Run by itself (no backend), a script gets a new temporary folder: nothing to resume from.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

ENV_CHECKPOINT_DIR = "CLOUDAUTO_CHECKPOINT_DIR"
SAGEMAKER_CHECKPOINTS = "/opt/ml/checkpoints"  # CheckpointConfig.LocalPath
AZUREML_OUTPUT = "checkpoints"  # the sweep trial's output that holds them
STARTED = ".cloudauto-started"  # written when a trial starts: found again, the trial was interrupted and runs again
_scratch: list[Path] = []


def checkpoint_dir() -> Path:
    """The folder this trial saves checkpoints to and resumes from (created if missing).

    What is in it when the script starts is what an earlier run of the same trial left there:
    load it if it is there, then save to it as training goes on.
    """
    named = os.environ.get(ENV_CHECKPOINT_DIR)
    if named:
        folder = Path(named)
    else:
        if not _scratch:  # one per process: a second call gives the same folder
            _scratch.append(Path(tempfile.mkdtemp(prefix="cloudauto-checkpoints-")))
        folder = _scratch[0]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sagemaker_folder(env: Mapping[str, str]) -> Path:
    """The trial's folder under /opt/ml/checkpoints: one per training job (SageMaker sets TRAINING_JOB_NAME).

    /opt/ml is where sagemaker-training's SAGEMAKER_BASE_DIR puts it (a test's tree, or the container's).
    """
    base = env.get("SAGEMAKER_BASE_DIR")
    root = Path(base) / "checkpoints" if base else Path(SAGEMAKER_CHECKPOINTS)
    job = env.get("TRAINING_JOB_NAME", "")
    return root / job if job else root


def note_start(folder: Path) -> bool:
    """Mark the trial as started in its checkpoint folder; True when an earlier run of it had started there
    (the trial was interrupted: spot capacity reclaimed, a node preempted, the scheduler killed)."""
    marker = folder / STARTED
    again = marker.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("started\n")
    except OSError:  # a read-only or absent folder: nothing to note
        pass
    return again


def say_restart(folder: Path, *, autogluon: bool) -> bool:
    """`note_start`, and a line in the trial's log when the trial runs again after an interruption."""
    if not note_start(folder):
        return False
    what = (
        "AutoGluon's fit starts over (a fit keeps no checkpoint to resume from)"
        if autogluon
        else f"the script finds what it saved in cloudauto.checkpoint_dir() ({folder})"
    )
    print(
        f"[cloudauto] this trial was interrupted (spare capacity reclaimed, or its run stopped) and runs again: {what}",
        flush=True,
    )
    return True


__all__ = ["ENV_CHECKPOINT_DIR", "checkpoint_dir", "note_start", "sagemaker_folder", "say_restart"]
