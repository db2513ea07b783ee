"""Every backend trains and serves the one AutoGluon release: a model moves between them."""

from __future__ import annotations

import json
import re

import pytest

from cloudauto.runtime.versions import AUTOGLUON_VERSION, installed_autogluon

from .conftest import ROOT


def test_every_install_path_pins_the_same_release():
    constraints = (ROOT / "constraints.txt").read_text()
    assert f"autogluon.tabular=={AUTOGLUON_VERSION}" in constraints and f"autogluon.core=={AUTOGLUON_VERSION}" in constraints
    local = (ROOT / "backends/local/pyproject.toml").read_text()
    assert set(re.findall(r"autogluon\.\w+(?:\[[^\]]*\])?==([\d.]+)", local)) == {AUTOGLUON_VERSION}
    dockerfile = (ROOT / "backends/local/Dockerfile").read_text()
    assert set(re.findall(r"autogluon\.tabular\[lightgbm\]==([\d.]+)", dockerfile)) == {AUTOGLUON_VERSION}
    assert f'LABEL cloudauto.autogluon="{AUTOGLUON_VERSION}"' in dockerfile
    assert installed_autogluon() == AUTOGLUON_VERSION


def test_the_cloud_backends_default_to_it():
    pytest.importorskip("cloudauto_sagemaker")
    pytest.importorskip("cloudauto_azureml")
    from cloudauto_azureml.compile import AUTOGLUON_PIN
    from cloudauto_sagemaker.compile import image_autogluon

    import cloudauto

    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml")
    image = cloudauto.compile(spec, backend="sagemaker").native["TrainingJobDefinition"]["AlgorithmSpecification"][
        "TrainingImage"
    ]
    assert image_autogluon(image) == AUTOGLUON_VERSION
    assert AUTOGLUON_PIN.endswith(f"=={AUTOGLUON_VERSION}")


def test_a_model_of_another_release_is_refused_by_name_not_by_assertion(tmp_path):
    from cloudauto.runtime.inference import Model, ModelLoadError

    (tmp_path / "cloudauto_model.json").write_text(json.dumps({"kind": "tabular", "autogluon_version": "1.5.0"}))
    with pytest.raises(
        ModelLoadError, match=rf"trained with AutoGluon 1\.5\.0 and this serving environment runs AutoGluon {AUTOGLUON_VERSION}"
    ):
        Model(tmp_path)
