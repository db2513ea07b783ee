"""`cloudauto setup azureml`, `teardown azureml`, and the Azure checks of doctor and submit's preflight (issue 31),
through the real MLClient against the recording workspace: its compute, usages and VM sizes answer in the REST
shapes of azure-rest-api-specs' examples, so what the SDK parses is what Azure ML would send."""

from __future__ import annotations

import base64
import json
import time

import pytest

import cloudauto
from cloudauto.preflight import CheckLevel, problems
from cloudauto.registry import get_backend

from ..conftest import ROOT

NCSV3 = "Standard NCSv3 Family Cluster Dedicated vCPUs"
DSV2 = "Standard DSv2 Family Cluster Dedicated vCPUs"


class SignedIn:
    """A credential whose token names its user, as Entra ID's access tokens do (a JWT with upn and tid claims)."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        claims = {"upn": "alice@example.com", "tid": "72f988bf-0000-0000-0000-000000000000", "aud": scopes[0]}
        return AccessToken(f"{part({'alg': 'RS256'})}.{part(claims)}.sig", int(time.time()) + 3600)


@pytest.fixture
def azure(monkeypatch, tmp_path):
    """The recording workspace behind a real MLClient signed in as alice."""
    from azure.ai.ml import MLClient

    from .azure_fake import SUB, FakeWorkspace

    fake = FakeWorkspace()
    client = MLClient(SignedIn(), SUB, "rg", "ws", transport=fake)
    monkeypatch.setattr("cloudauto_azureml.submit.client_for", lambda spec=None, credential=None: client)
    return fake


def _checks(found, name):
    return [c for c in found if c.name == name]


def test_setup_makes_a_cluster_that_scales_to_zero_and_a_second_run_finds_it(azure):
    backend = get_backend("azureml")
    first = backend.setup(compute="cpu-cluster")
    (sent,) = azure.sent("PUT", "/computes/cpu-cluster")
    props = sent["properties"]["properties"]
    assert sent["properties"]["computeType"] == "AmlCompute" and props["vmSize"] == "Standard_DS3_v2"
    assert props["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT5M"}
    assert sent["tags"]["cloudauto:creator"] == "cloudauto" and sent["tags"]["cloudauto:setup"] == "azureml"
    assert first[0].startswith("ok       azure credentials: alice@example.com (tenant 72f988bf")
    assert "ok       workspace: ws in resource group rg" in first[1] and first[1].endswith("eastus")
    assert any(line.startswith("ok       compute cpu-cluster: created: Standard_DS3_v2, 0 to 4 nodes") for line in first)
    assert (
        "      compute: cpu-cluster" in first and "      vm_size: Standard_DS3_v2" in first and "      location: eastus" in first
    )

    second = backend.setup(compute="cpu-cluster")
    assert len(azure.sent("PUT", "/computes/")) == 1  # found, not made again
    assert "ok       compute cpu-cluster: found (made by cloudauto setup): Standard_DS3_v2, 0 to 4 nodes" in second
    assert second[-7:] == first[-7:]  # the same spec lines


def test_setup_says_how_an_existing_cluster_differs_and_leaves_it(azure):
    azure.add_cluster("cpu-cluster", size="STANDARD_NC6S_V3", max_nodes=1, min_nodes=1)
    lines = get_backend("azureml").setup(compute="cpu-cluster", vm_size="Standard_DS3_v2", max_nodes=4)
    assert azure.sent("PUT", "/computes/") == []
    text = "\n".join(lines)
    assert "warning  compute cpu-cluster: found (not made by cloudauto setup: teardown leaves it)" in text
    assert "VM size STANDARD_NC6S_V3, not Standard_DS3_v2" in text and "max nodes 1, not 4" in text
    assert "min nodes 1: they run and are billed while idle" in text
    assert "      vm_size: Standard_NC6s_v3" in lines  # the cluster's own size, as the region names it


def test_setup_after_one_stopped_half_way_finds_the_cluster_still_being_made(azure):
    """The PUT went out, then setup was killed: Azure goes on creating it; a rerun finds it, makes nothing twice."""
    tags = {"cloudauto:creator": "cloudauto", "cloudauto:setup": "azureml"}
    azure.add_cluster("cpu-cluster", state="Creating", tags=tags)
    lines = get_backend("azureml").setup(compute="cpu-cluster")
    assert (
        "ok       compute cpu-cluster: found (made by cloudauto setup; provisioning Creating): Standard_DS3_v2, 0 to 4 nodes"
        in lines
    )
    assert azure.sent("PUT", "/computes/") == []

    azure.add_cluster("cpu-cluster", state="Failed", tags=tags)
    text = "\n".join(get_backend("azureml").setup(compute="cpu-cluster"))
    assert "warning  compute cpu-cluster: found (made by cloudauto setup; provisioning Failed)" in text
    assert "its creation failed: `az ml compute delete -n cpu-cluster`, then run this again" in text


def test_setup_refuses_a_vm_size_the_region_does_not_offer_before_making_anything(azure):
    with pytest.raises(cloudauto.CloudautoError, match="--vm-size Standard_Q9: not offered for clusters in eastus") as info:
        get_backend("azureml").setup(compute="c1", vm_size="Standard_Q9")
    assert info.value.exit_code == 64 and azure.sent("PUT", "/computes/") == []


def test_setup_says_a_family_without_quota(azure):
    azure.set_quota(NCSV3, 0)
    lines = get_backend("azureml").setup(compute="gpu", vm_size="Standard_NC6s_v3", max_nodes=2)
    (line,) = [x for x in lines if x.startswith("problem  vCPU quota (family)")]
    assert f"{NCSV3} in eastus: limit 0, in use 0; a trial needs 6" in line and "how-to-manage-quotas" in line


def test_the_setup_and_teardown_commands(azure, capsys):
    from cloudauto.cli import main

    azure.add_cluster("theirs")
    with pytest.raises(SystemExit) as done:
        main(["setup", "azureml", "--compute", "mine", "--max-nodes", "2"], prog_name="cloudauto")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "compute mine: created: Standard_DS3_v2, 0 to 2 nodes" in out and "      compute: mine" in out

    with pytest.raises(SystemExit) as done:
        main(["teardown", "azureml", "--compute", "theirs"], prog_name="cloudauto")
    assert done.value.code == 3 and "not made by cloudauto setup" in capsys.readouterr().err
    assert "/computes/theirs" in azure.store

    with pytest.raises(SystemExit) as done:
        main(["teardown", "azureml"], prog_name="cloudauto")
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "removed compute mine (Standard_DS3_v2, 0 to 2 nodes) from workspace ws"
    assert "/computes/mine" not in azure.store and "/computes/theirs" in azure.store
    assert [u for m, u, _ in azure.calls if m == "DELETE"] and all(
        "/computes/mine" in u for m, u, _ in azure.calls if m == "DELETE"
    )

    with pytest.raises(SystemExit) as done:
        main(["teardown", "azureml"], prog_name="cloudauto")
    assert done.value.code == 0 and "nothing to remove" in capsys.readouterr().out


def _iris(tmp_path, *overrides):
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    named = ["backends.azureml.compute=cpu-cluster", "backends.azureml.environment=azureml:autogluon:1", *overrides]
    return cloudauto.JobSpec.from_file(tmp_path / "iris.yaml", overrides=named)


def test_doctor_without_a_spec_says_who_and_which_workspace(azure):
    found = get_backend("azureml").doctor()
    assert [c.name for c in found] == ["azure credentials", "workspace"]
    assert all(c.level is CheckLevel.OK for c in found)
    assert found[0].detail == "alice@example.com (tenant 72f988bf-0000-0000-0000-000000000000) via SignedIn"


def test_doctor_passes_a_spec_the_cluster_and_quota_cover(azure, tmp_path):
    azure.add_cluster("cpu-cluster", max_nodes=4)
    spec = _iris(tmp_path, "limits.max_concurrent_trials=4", "limits.max_trials=8")
    found = get_backend("azureml").doctor(spec)
    assert problems(found) == [] and [c for c in found if c.level is not CheckLevel.OK] == []
    (family,) = _checks(found, "vCPU quota (family)")
    assert family.detail == f"{DSV2} in eastus: limit 100, in use 0; the job needs up to 16 (4 vCPUs of Standard_DS3_v2 each)"
    assert get_backend("azureml").preflight(spec) == found[2:]


def test_a_quota_below_one_trial_is_a_problem_naming_the_family_and_figures(azure):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")  # 4 trials at once on NC24s_v3
    azure.add_cluster(spec.backends.azureml.compute, size="Standard_NC24s_v3", max_nodes=4)
    azure.set_quota(NCSV3, limit=12, current=0)
    (problem,) = problems(get_backend("azureml").preflight(spec))
    assert problem.name == "vCPU quota (family)"
    assert problem.detail == (
        f"{NCSV3} in eastus: limit 12, in use 0; a trial needs 24 (1 node(s) × 24 vCPUs of Standard_NC24s_v3), "
        "all trials at once 96: no trial could start"
    )
    assert "Quota" in problem.fix and "how-to-manage-quotas" in problem.fix and "(at least 96)" in problem.fix

    azure.set_quota(NCSV3, limit=48, current=0)  # two trials fit: the job runs, slower than asked
    found = get_backend("azureml").preflight(spec)
    assert problems(found) == []
    (family,) = _checks(found, "vCPU quota (family)")
    assert family.level is CheckLevel.WARNING and "2 trial(s) fit at once, not 4 (96 vCPUs)" in family.detail

    azure.set_quota(NCSV3, limit=96, current=90)  # enough, but in use by other jobs now
    (family,) = _checks(get_backend("azureml").preflight(spec), "vCPU quota (family)")
    assert family.level is CheckLevel.WARNING and "waits until other jobs free 90" in family.detail

    azure.set_quota(NCSV3, limit=96)
    assert all(c.level is CheckLevel.OK for c in get_backend("azureml").preflight(spec))


def test_the_regional_total_counts_too(azure, tmp_path):
    azure.add_cluster("cpu-cluster", max_nodes=4)
    azure.set_quota("Total Cluster Dedicated Regional vCPUs", limit=2, current=0)
    (problem,) = problems(get_backend("azureml").preflight(_iris(tmp_path)))
    assert problem.name == "vCPU quota (region)" and "Total Cluster Dedicated Regional vCPUs in eastus: limit 2" in problem.detail


def test_a_quota_the_caller_may_not_read_is_a_warning(azure, tmp_path):
    azure.add_cluster("cpu-cluster")
    azure.forbidden["/usages"] = "Microsoft.MachineLearningServices/locations/usages/read"
    found = get_backend("azureml").preflight(_iris(tmp_path))
    assert problems(found) == []
    (quota,) = _checks(found, "vCPU quota")
    assert quota.level is CheckLevel.WARNING and "403" in quota.detail and "locations/usages/read" in quota.detail


def test_the_cluster_must_exist_and_grow_to_the_trials_at_once(azure, tmp_path):
    spec = _iris(tmp_path, "compute.instance_count=2", "limits.max_concurrent_trials=3", "limits.max_trials=3")
    (missing,) = problems(get_backend("azureml").preflight(spec))
    assert missing.detail == "no compute named cpu-cluster in workspace ws"
    assert missing.fix.startswith("`cloudauto setup azureml --compute cpu-cluster`")

    azure.add_cluster("cpu-cluster", max_nodes=2)
    found = get_backend("azureml").preflight(spec)
    assert problems(found) == []  # Azure ML queues the third trial: slower, not failed
    (nodes,) = _checks(found, "cluster nodes")
    assert nodes.level is CheckLevel.WARNING and nodes.detail.startswith("2 trial(s) run at once (one per node), not 3")
    assert "--max-instances 3" in nodes.fix

    azure.add_cluster("cpu-cluster", max_nodes=3)  # one node a trial: compile sends no instance_count
    (nodes,) = _checks(get_backend("azureml").preflight(spec), "cluster nodes")
    assert nodes.level is CheckLevel.OK


def test_a_trial_asking_for_gpus_the_cluster_has_not(azure, tmp_path):
    azure.add_cluster("cpu-cluster")
    (problem,) = problems(get_backend("azureml").preflight(_iris(tmp_path, "compute.gpus=1")))
    assert problem.detail == "a trial asks for 1 GPU(s) (compute.gpus); Standard_DS3_v2 has 0"


def test_preflight_leaves_no_compute_to_submit_and_sends_nothing(azure, tmp_path):
    spec = _iris(tmp_path)
    spec = cloudauto.JobSpec.from_file(tmp_path / "iris.yaml")
    assert get_backend("azureml").preflight(spec) == [] and azure.calls == []
    (problem,) = problems(get_backend("azureml").doctor(spec))
    assert problem.detail == "the spec names no compute cluster"


_NO_SIGN_IN = (
    "not signed in to Azure (run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service "
    "principal); CLOUDAUTO_DEBUG=1 lists every credential DefaultAzureCredential tried)"
)


def _unsigned(tmp_path, code: str, *args: str):
    """A process as a user without Azure credentials runs it: no AZURE_* sign-in variables, no az CLI cache in HOME."""
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(tmp_path),
        "CLOUDAUTO_HOME": str(tmp_path / "home"),
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZUREML_WORKSPACE_NAME": "ws",
    }
    run = [sys.executable, "-c", code, *args]
    return subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_setup_without_signing_in_is_one_line_without_the_credential_chains_noise(tmp_path):
    done = _unsigned(tmp_path, "import sys; from cloudauto.cli import main; sys.exit(main())", "setup", "azureml")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == f"error: azure credentials: {_NO_SIGN_IN}" and done.stdout == ""


def test_doctor_without_signing_in_says_so_once(tmp_path):
    code = "from cloudauto.registry import get_backend\nfor c in get_backend('azureml').doctor(): print(c.line())"
    done = _unsigned(tmp_path, code)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines() == [
        "problem  azure credentials: not signed in to Azure",
        "         fix: run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal); "
        "CLOUDAUTO_DEBUG=1 lists every credential DefaultAzureCredential tried",
        "warning  workspace: ws not checked: not signed in",
    ]
