"""The region -> DLC registry account table in images.py agrees with the sagemaker SDK's own image config."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from cloudauto_sagemaker.images import REGISTRIES

import cloudauto
from cloudauto.backend import CompileError

from ..conftest import BASE, ROOT

ISOLATED = ("us-iso", "eu-isoe-", "eusc-")  # partitions whose ECR is not under amazonaws.com(.cn): left out on purpose


def _sdk_registries(framework: str, scope: str) -> dict[str, str]:
    """The newest `framework` `scope` version's registries in the installed SDK's config (read, not imported)."""
    try:
        dist = distribution("sagemaker-core")
    except PackageNotFoundError:
        pytest.skip("the sagemaker SDK is not installed")
    config = json.loads(dist.locate_file(f"sagemaker/core/image_uri_config/{framework}.json").read_text())
    versions = config[scope]["versions"]
    newest = max((v for v in versions if "registries" in versions[v]), key=lambda v: tuple(map(int, v.split("."))))
    return versions[newest]["registries"]


@pytest.mark.parametrize(("framework", "scope"), [("pytorch", "training"), ("autogluon", "training"), ("autogluon", "inference")])
def test_the_registry_table_is_the_sdks(framework, scope):
    sdk = _sdk_registries(framework, scope)
    differ = {r: (REGISTRIES[r], a) for r, a in sdk.items() if r in REGISTRIES and REGISTRIES[r] != a}
    assert not differ, f"cloudauto's account differs from the SDK's (ours, the SDK's): {differ}"
    missing = sorted(r for r in sdk if r not in REGISTRIES and not r.startswith(ISOLATED))
    assert not missing, f"regions the SDK's {framework} {scope} config has a DLC registry for and the table lacks: {missing}"


def test_every_region_of_the_table_is_one_the_sdk_knows():
    sdk = _sdk_registries("pytorch", "training")  # the SDK's fullest DLC map
    assert sorted(set(REGISTRIES) - set(sdk)) == []


def test_compile_names_the_regions_registry_and_refuses_a_region_without_one():
    def image(region: str) -> str:
        text = BASE + f"backends:\n  sagemaker: {{region: {region}}}\n"
        native = cloudauto.compile(cloudauto.JobSpec.from_yaml(text), backend="sagemaker").native
        return native["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]

    assert image("cn-north-1").startswith("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/autogluon:")
    assert image("mx-central-1").startswith("637423239942.dkr.ecr.mx-central-1.amazonaws.com/autogluon:")
    with pytest.raises(CompileError, match="region xx-nowhere-1 has no Deep Learning Container registry known"):
        image("xx-nowhere-1")


@pytest.mark.parametrize("engine", ["autogluon", "command"])
def test_a_region_without_a_dlc_registry_is_a_spec_error_at_backends_sagemaker_region(engine):
    """us-iso-east-1's ECR is not under amazonaws.com: refused (exit 2, the field named), never a wrong URI or an internal error."""
    from cloudauto.spec.loader import load_spec

    path = ROOT / "job_specs" / ("torch_digits/spec.yaml" if engine == "command" else "iris.yaml")
    spec = load_spec(path, overrides=["backends.sagemaker.region=us-iso-east-1"])
    with pytest.raises(CompileError) as caught:
        cloudauto.compile(spec, backend="sagemaker")
    (issue,) = caught.value.issues
    assert issue.path == ("backends", "sagemaker", "region")
    assert "region us-iso-east-1 has no Deep Learning Container registry" in issue.message
