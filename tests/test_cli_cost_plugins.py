"""`cloudauto cost` for a backend whose plugin is not installed here: the plugin named as compile names it, exit 3."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import cloudauto.registry as registry
from cloudauto.cli import main

from .test_spec_backend import NAMED


@pytest.fixture
def without_sagemaker(monkeypatch):
    """The sagemaker plugin as if not installed: both ways the registry finds a backend leave it out."""
    real, first = registry._entry_points, registry._first_party
    monkeypatch.setattr(registry, "_entry_points", lambda: {k: v for k, v in real().items() if k != "sagemaker"})
    monkeypatch.setattr(registry, "_first_party", lambda name: None if name == "sagemaker" else first(name))


def test_cost_names_the_missing_plugin_of_the_specs_backend_as_compile_does(tmp_path, without_sagemaker):
    spec = tmp_path / "spec.yaml"
    spec.write_text(NAMED)
    compiled = CliRunner().invoke(main, ["compile", str(spec)])
    (said,) = [line for line in compiled.output.splitlines() if "error:" in line]
    assert compiled.exit_code == 3 and "pip install cloudauto-sagemaker" in said
    for extra in ([], ["-b", "sagemaker"], ["-b", "sagemaker", "-b", "azureml"], ["--format", "json"]):
        priced = CliRunner().invoke(main, ["cost", str(spec), *extra])
        assert priced.exit_code == 3, priced.output
        assert said in priced.output.splitlines() and "Traceback" not in priced.output  # the same line, at backend:'s line
    other = CliRunner().invoke(main, ["cost", str(spec).replace("spec.yaml", "plain.yaml")])
    assert other.exit_code == 1  # no such file: an invalid spec, as before


def test_cost_names_a_missing_plugin_the_spec_does_not_name(tmp_path, without_sagemaker):
    spec = tmp_path / "spec.yaml"
    spec.write_text(NAMED.replace("backend: sagemaker\n", ""))
    priced = CliRunner().invoke(main, ["cost", str(spec)])
    assert priced.exit_code == 3, priced.output
    assert "error: backend 'sagemaker' is not installed: pip install cloudauto-sagemaker" in priced.output
    azure = CliRunner().invoke(main, ["cost", str(spec), "-b", "azureml"])
    assert azure.exit_code == 0 and "azureml" in azure.output, azure.output
