"""`cloudauto setup azureml` / `teardown azureml`: the compute cluster a first job needs, made once and found after.

The cluster scales to zero (min 0 nodes, a short idle time-out), so it costs nothing while no job runs.
An existing cluster of the name is never changed: setup says how it differs from what was asked.
What setup makes carries the `cloudauto:setup` tag; teardown removes only what carries it.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from cloudauto.endpoints import CREATOR, TAG_CREATED, TAG_CREATOR, iso
from cloudauto.preflight import Check, CheckLevel
from cloudauto.spec.errors import CloudautoError

from .preflight import credential_check, get_cluster, is_low_priority, quota_checks, quotas, sizes, text_of, workspace_check
from .submit import AzureError, azure_call

TAG_SETUP = "cloudauto:setup"
DEFAULT_COMPUTE, DEFAULT_VM_SIZE, DEFAULT_MAX_NODES = "cpu-cluster", "Standard_DS3_v2", 4
IDLE_SECONDS = 300  # a sweep's next trial reuses a warm node; an idle one is billed at most this long


class SetupOptionError(CloudautoError):
    """An option setup cannot use (a VM size the region does not offer)."""

    exit_code = 64


def made_by_setup(tags: Optional[dict]) -> bool:
    return (tags or {}).get(TAG_SETUP) == "azureml" and (tags or {}).get(TAG_CREATOR) == CREATOR


def _reach(client: Any) -> tuple[list[Check], str]:
    """Signed in and the workspace there, or one clear error: (the checks, the workspace's region)."""
    signed_in = credential_check(client._credential)
    workspace, location = workspace_check(client) if signed_in.level is CheckLevel.OK else (signed_in, None)
    if workspace.level is CheckLevel.PROBLEM:
        raise AzureError(f"{workspace.name}: {workspace.detail}" + (f" ({workspace.fix})" if workspace.fix else ""))
    return [signed_in, workspace], str(location)


def _differences(cluster: Any, vm_size: Optional[str], max_nodes: Optional[int]) -> list[str]:
    """How the cluster differs from the options given (only those given: a default asks nothing)."""
    found = []
    if vm_size and str(cluster.size).lower() != vm_size.lower():
        found.append(f"VM size {cluster.size}, not {vm_size} (a cluster's VM size cannot change: pick another --compute name)")
    if max_nodes is not None and cluster.max_instances != max_nodes:
        found.append(
            f"max nodes {cluster.max_instances}, not {max_nodes} (`az ml compute update -n {cluster.name} --max-instances {max_nodes}`)"
        )
    if cluster.min_instances:
        found.append(
            f"min nodes {cluster.min_instances}: they run and are billed while idle (`az ml compute update -n {cluster.name} --min-instances 0`)"
        )
    return found


def _shape(cluster: Any) -> str:
    return f"{cluster.size}, {cluster.min_instances} to {cluster.max_instances} nodes"


def setup(
    compute: Optional[str] = None,
    vm_size: Optional[str] = None,
    max_nodes: Optional[int] = None,
    *,
    client: Any = None,
) -> list[str]:
    """Make (or find) the cluster; the lines to print: the checks, then what to put in the spec."""
    from azure.ai.ml.entities import AmlCompute

    from .submit import client_for

    name = compute or DEFAULT_COMPUTE
    client = client or client_for()
    checks, location = _reach(client)
    cluster = get_cluster(client, name)
    if cluster is not None and text_of(cluster.type).lower() != "amlcompute":
        raise AzureError(f"compute {name} is a {cluster.type}, not a cluster: pick another --compute name")
    if cluster is None:
        size = vm_size or DEFAULT_VM_SIZE
        offered = sizes(client, location)
        if size.lower() not in offered:
            shown = ", ".join(sorted(s.name for s in offered.values())[:12])
            raise SetupOptionError(
                f"--vm-size {size}: not offered for clusters in {location} (offered there: {shown}, ...; "
                f"`az ml compute list-sizes --location {location}` lists them all)"
            )
        tags = {TAG_CREATOR: CREATOR, TAG_SETUP: "azureml", TAG_CREATED: iso(time.time())}
        entity = AmlCompute(
            name=name,
            size=offered[size.lower()].name,
            min_instances=0,
            max_instances=max_nodes or DEFAULT_MAX_NODES,
            idle_time_before_scale_down=IDLE_SECONDS,
            tier="dedicated",
            tags=tags,
        )
        cluster = azure_call(f"create compute {name}", lambda: client.compute.begin_create_or_update(entity).result())
        what = f"created: {_shape(cluster)}, scales to zero after {IDLE_SECONDS} s idle (nothing billed while idle)"
        checks.append(Check(f"compute {name}", CheckLevel.OK, what))
    else:
        who = "made by cloudauto setup" if made_by_setup(cluster.tags) else "not made by cloudauto setup: teardown leaves it"
        state = text_of(cluster.provisioning_state)
        if state.lower() not in ("succeeded", ""):
            who += f"; provisioning {state}"
        differs = _differences(cluster, vm_size, max_nodes)
        if state.lower() == "failed":
            differs.append(f"its creation failed: `az ml compute delete -n {name}`, then run this again")
        level = CheckLevel.WARNING if differs else CheckLevel.OK
        fix = "left as it is: " + "; ".join(differs) if differs else ""
        checks.append(Check(f"compute {name}", level, f"found ({who}): {_shape(cluster)}", fix))
    size = sizes(client, location).get(str(cluster.size).lower())
    if size is not None:
        nodes = int(cluster.max_instances)
        try:
            found = quotas(client, location)
            needer = f"the cluster at its {nodes} nodes"
            checks += quota_checks(
                found, size, is_low_priority(cluster), location, trial_nodes=1, wanted_nodes=nodes, needer=needer
            )
        except AzureError as exc:
            checks.append(Check("vCPU quota", CheckLevel.WARNING, f"could not be read: {exc}"))
    spec_lines = [
        "put in the spec:",
        "  backends:",
        "    azureml:",
        f"      subscription_id: {client.subscription_id}",
        f"      resource_group: {client.resource_group_name}",
        f"      workspace: {client.workspace_name}",
        f"      compute: {name}",
        f"      vm_size: {size.name if size else cluster.size}",
        f"      location: {location}",
    ]
    return [c.line() for c in checks] + spec_lines


def teardown(compute: Optional[str] = None, *, client: Any = None) -> list[str]:
    """Delete the clusters setup made (the one named, or every one carrying the tag); what was removed."""
    from .submit import client_for

    client = client or client_for()
    if compute:
        cluster = get_cluster(client, compute)
        if cluster is None:
            return [f"nothing to remove: no compute {compute} in workspace {client.workspace_name}"]
        if not made_by_setup(cluster.tags):
            raise AzureError(f"compute {compute} was not made by cloudauto setup (no {TAG_SETUP} tag): left as it is")
        ours = [cluster]
    else:
        listed = azure_call("list computes", lambda: list(client.compute.list()))
        ours = [c for c in listed if made_by_setup(c.tags)]
    if not ours:
        return [f"nothing to remove: no compute in workspace {client.workspace_name} carries the {TAG_SETUP} tag"]
    removed = []
    for cluster in ours:
        azure_call(f"delete compute {cluster.name}", lambda c=cluster: client.compute.begin_delete(c.name).result())
        removed.append(f"removed compute {cluster.name} ({_shape(cluster)}) from workspace {client.workspace_name}")
    return removed
