"""A spec that names its backend (issue 32 item 10): --backend > CLOUDAUTO_BACKEND > the spec's backend: > local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import BASE
from .test_cli import run

NAMED = BASE.replace("task: tabular_classification\n", "task: tabular_classification\nbackend: sagemaker\n")


@pytest.fixture
def named(tmp_path: Path) -> Path:
    (tmp_path / "train.csv").write_text("a,target\n1,x\n2,y\n3,x\n")
    path = tmp_path / "spec.yaml"
    path.write_text(NAMED)
    return path


def test_submit_takes_the_specs_backend_below_env_and_flag(named: Path, tmp_path: Path):
    env = {"CLOUDAUTO_BACKEND": "", "SAGEMAKER_ROLE": "", "CLOUDAUTO_HOME": str(tmp_path / "home")}
    spec_only = run("submit", str(named), env=env)
    assert spec_only.returncode == 3 and "no IAM role for SageMaker" in spec_only.stderr, spec_only.stderr
    by_env = run("submit", str(named), env={**env, "CLOUDAUTO_BACKEND": "azureml"})
    assert by_env.returncode == 2 and "backends.azureml.compute" in by_env.stderr, by_env.stderr
    # --backend beats both: the local backend's data check refuses the missing file (exit 1), nothing started
    by_flag = run("run", str(named), "-b", "local", "--set", "data.train=./nope.csv", env={**env, "CLOUDAUTO_BACKEND": "azureml"})
    assert by_flag.returncode == 1 and "nope.csv: no such file" in by_flag.stderr, by_flag.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


def test_mode_refused_for_a_spec_that_names_a_cloud(named: Path):
    result = run("submit", str(named), "--mode", "docker", env={"CLOUDAUTO_BACKEND": ""})
    assert result.returncode == 64 and "--mode is for the local backend, not sagemaker (the spec's backend:)" in result.stderr


def test_compile_each_spec_for_its_own_backend(named: Path, tmp_path: Path):
    local = tmp_path / "local.yaml"
    local.write_text(BASE)
    (tmp_path / "train.csv").write_text("a,target\n1,x\n2,y\n")
    result = run("compile", "--format", "json", str(named), str(local), env={"CLOUDAUTO_BACKEND": ""})
    assert result.returncode == 0, result.stderr
    assert [r["backend"] for r in json.loads(result.stdout)] == ["sagemaker", "local"]
    forced = run("compile", "--format", "json", str(named), str(local), env={"CLOUDAUTO_BACKEND": "local"})
    assert [r["backend"] for r in json.loads(forced.stdout)] == ["local", "local"]


def test_a_misspelt_backend_is_refused_at_its_line_with_the_closest_name(named: Path):
    named.write_text(NAMED.replace("backend: sagemaker", "backend: sagemakr"))
    result = run("validate", str(named))
    assert result.returncode == 1
    assert f"{named}:3:10: error: backend: 'sagemakr' is not a backend cloudauto knows" in result.stderr
    assert "did you mean 'sagemaker'?" in result.stderr and "Traceback" not in result.stderr


def test_a_known_backend_not_installed_is_a_warning(load, monkeypatch):
    import cloudauto.registry as registry

    monkeypatch.setattr(registry, "available_backends", lambda: {"local": "cloudauto-local"})
    spec = load(NAMED)
    (warning,) = [w for w in spec.warnings if w.path == ("backend",)]
    assert "not installed here" in warning.message and warning.hint == "pip install cloudauto-sagemaker"


def test_the_schema_has_backend():
    from cloudauto.schema import json_schema

    assert "CLOUDAUTO_BACKEND" in json_schema()["properties"]["backend"]["description"]
