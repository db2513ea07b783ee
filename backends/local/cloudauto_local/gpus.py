"""How many NVIDIA GPUs a process-mode trial can use here, read without importing torch.

A spec's `compute.gpus` sets the trials' `num_gpus` / `device: cuda`; on a machine without them every trial fails
("Found no NVIDIA driver"), so submit refuses it first. The driver lists one folder per GPU under
/proc/driver/nvidia/gpus; where that is absent (some containers) `nvidia-smi -L` lists one line per GPU.
CUDA_VISIBLE_DEVICES narrows what CUDA shows the trials (empty: none).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

from cloudauto.backend import CompileError
from cloudauto.spec.backends import LocalMode
from cloudauto.spec.errors import SpecIssue
from cloudauto.spec.models import JobSpec

PROC_GPUS = Path("/proc/driver/nvidia/gpus")
NVIDIA_SMI = "nvidia-smi"
SMI_TIMEOUT_S = 10.0


def _installed() -> int:
    try:
        return sum(1 for p in PROC_GPUS.iterdir() if p.is_dir())
    except OSError:
        pass
    try:
        listed = subprocess.run([NVIDIA_SMI, "-L"], capture_output=True, text=True, timeout=SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def visible_gpus() -> int:
    """The NVIDIA GPUs a trial started here sees."""
    found = _installed()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    named = [d for d in visible.split(",") if d.strip()]
    if any(d.strip().startswith("-") for d in named):  # CUDA stops at the first invalid (e.g. -1) ordinal
        named = named[: next(i for i, d in enumerate(named) if d.strip().startswith("-"))]
    return min(found, len(named))


def gpu_problem(spec: JobSpec) -> Optional[str]:
    """compute.gpus beyond this machine's GPUs in process mode (docker mode checks its engine's runtime)."""
    asked = spec.compute.gpus
    if not asked or spec.backends.local.mode is LocalMode.DOCKER:
        return None
    have = visible_gpus()
    if asked <= have:
        return None
    where = "CUDA_VISIBLE_DEVICES shows" if "CUDA_VISIBLE_DEVICES" in os.environ else "this machine has"
    return (
        f"{asked} GPU(s) asked for each trial, but {where} {have or 'none'} (NVIDIA, as {PROC_GPUS} or nvidia-smi "
        f"lists them), so every trial would fail on CUDA: set compute.gpus: {have}, or run on a machine with "
        f"{asked} NVIDIA GPU(s)"
    )


def check(spec: JobSpec) -> None:
    """Refuse, at compute.gpus, a job whose trials ask for GPUs this machine lacks."""
    problem = gpu_problem(spec)
    if problem:
        raise CompileError("local", [SpecIssue(f"local: {problem}", ("compute", "gpus"))])
