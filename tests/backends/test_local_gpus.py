"""Local backend: compute.gpus on a machine without that many NVIDIA GPUs is refused at submit (process mode)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cloudauto_local import gpus

import cloudauto
from cloudauto.backend import CompileError

from ..conftest import BASE


@pytest.fixture
def no_gpu(tmp_path, monkeypatch) -> Path:
    """A machine without the NVIDIA driver: no /proc/driver/nvidia/gpus, no nvidia-smi."""
    monkeypatch.setattr(gpus, "PROC_GPUS", tmp_path / "proc-nvidia-gpus")
    monkeypatch.setattr(gpus, "NVIDIA_SMI", "cloudauto-test-no-nvidia-smi")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path / "proc-nvidia-gpus"


def test_the_gpus_the_driver_lists(no_gpu, tmp_path, monkeypatch):
    assert gpus.visible_gpus() == 0
    no_gpu.mkdir()
    for bus in ("0000:00:1e.0", "0000:00:1f.0"):  # the driver's folder per GPU
        (no_gpu / bus).mkdir()
    assert gpus.visible_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert gpus.visible_gpus() == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CUDA sees none
    assert gpus.visible_gpus() == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    # no /proc folder (a container without it): nvidia-smi -L's lines
    no_gpu.rename(tmp_path / "elsewhere")
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A10G (UUID: GPU-1)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(gpus, "NVIDIA_SMI", str(smi))
    assert gpus.visible_gpus() == 1
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n")
    assert gpus.visible_gpus() == 0


def test_a_trial_asking_for_gpus_this_machine_lacks_is_refused_at_submit(no_gpu, runs_dir, datasets, spec_file):
    """gpus: 1 without a GPU started the job and every trial failed on "Found no NVIDIA driver" (exit 4): refused at
    submit now, at compute.gpus' line, exit 2, no job written."""
    text = BASE.replace("./train.csv", str(datasets / "iris" / "train.csv")) + "compute:\n  gpus: 1\n"
    spec = cloudauto.JobSpec.from_file(spec_file(text))
    with pytest.raises(CompileError) as info:
        cloudauto.submit(spec, backend="local")
    assert info.value.exit_code == 2
    (issue,) = [spec.locate(i) for i in info.value.issues]
    assert issue.path == ("compute", "gpus") and issue.line == 8, issue
    assert "1 GPU(s)" in issue.message and "has none" in issue.message and "compute.gpus: 0" in issue.message
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    # compile (for another machine) still works
    cloudauto.compile(spec, backend="local")


def test_the_cli_says_it_at_the_line(tmp_path, datasets):
    from ..test_cli import run

    spec = tmp_path / "s.yaml"
    spec.write_text(BASE.replace("./train.csv", str(datasets / "iris" / "train.csv")) + "compute: {gpus: 2}\n")
    env = {"CLOUDAUTO_HOME": str(tmp_path / "home"), "CUDA_VISIBLE_DEVICES": ""}  # no GPU on any machine
    result = run("submit", "-b", "local", str(spec), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{spec}:7:" in result.stderr and "compute.gpus" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "runs").exists() or not os.listdir(tmp_path / "home" / "runs")
