"""`cloudauto doctor` and submit's preflight on Azure ML: who is signed in, the workspace, and for a spec its cluster and vCPU quota.

Azure ML queues a job whose cluster cannot grow (no quota, too few nodes) instead of failing it, so
a first job with a VM family at 0 vCPUs waits forever while saying little. A check finds that before
anything is uploaded: a PROBLEM where no trial could ever start, a WARNING where fewer trials run at
once than the spec asks, or where the caller may not read a figure.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from cloudauto.preflight import Check, CheckLevel
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine, JobSpec

from .submit import NOT_SIGNED_IN, AzureError, azure_call, quiet_sdk_logs

OK, WARNING, PROBLEM = CheckLevel.OK, CheckLevel.WARNING, CheckLevel.PROBLEM
QUOTA_HELP = (
    "ask for more in Azure ML studio > Quota (or a support request, 'Machine Learning Service: Virtual Machine Quota'): "
    "https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas#request-quota-and-limit-increases"
)
_IMAGE_TASKS = (Task.IMAGE_CLASSIFICATION, Task.IMAGE_OBJECT_DETECTION)
ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class Quota:
    name: str  # as the service names it: "Standard DSv2 Family Cluster Dedicated vCPUs"
    current: int
    limit: int  # -1: no limit of its own (a low-priority family: the regional total holds it)


@dataclass(frozen=True)
class Size:
    name: str
    family: str  # as the service names it: "standardDSv2Family"
    vcpus: int
    gpus: int


def _field(entity: Any, attribute: str, rest_name: str) -> Any:
    """azure-ai-ml 1.35's Usage and VmSize copy the REST model's as_dict() into __dict__: its camelCase keys
    (currentValue, vCPUs) sit beside the snake_case attributes, which stay None."""
    value = getattr(entity, attribute, None)
    return value if value is not None else vars(entity).get(rest_name)


def quotas(client: Any, location: str) -> list[Quota]:
    """The region's vCPU quotas of the subscription (not the per-workspace or per-cluster rows the list also holds)."""
    found = []
    for usage in azure_call(f"read the vCPU quotas in {location}", lambda: list(client.compute.list_usage(location=location))):
        if "/workspaces/" in (usage.id or ""):
            continue
        name = usage.name.get("value") if isinstance(usage.name, dict) else getattr(usage.name, "value", usage.name)
        found.append(Quota(str(name), int(_field(usage, "current_value", "currentValue") or 0), int(usage.limit or 0)))
    return found


def sizes(client: Any, location: str) -> dict[str, Size]:
    """The region's VM sizes for clusters, by lower-cased name (the service writes STANDARD_NC6 as well as Standard_NC6)."""
    listed = azure_call(
        f"read the VM sizes in {location}", lambda: list(client.compute.list_sizes(location=location, compute_type="AmlCompute"))
    )
    return {
        v.name.lower(): Size(v.name, v.family or "", int(_field(v, "v_cp_us", "vCPUs") or 0), int(v.gpus or 0)) for v in listed
    }


def text_of(value: Any) -> str:
    """An SDK field as text: some are enums (ProvisioningState.SUCCEEDED), some strings, some None."""
    return str(getattr(value, "value", value) or "")


def is_low_priority(cluster: Any) -> bool:
    return _key(text_of(cluster.tier)) == "lowpriority"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def family_quota(found: list[Quota], family: str, low_priority: bool) -> Optional[Quota]:
    """The family's row: VmSize says "standardNCSv3Family", the usages "Standard NCSv3 Family Cluster Dedicated vCPUs"."""
    want = _key(family) + ("clusterlowpriorityvcpus" if low_priority else "clusterdedicatedvcpus")
    return next((q for q in found if _key(q.name) == want), None)


def regional_quota(found: list[Quota], low_priority: bool) -> Optional[Quota]:
    want = f"totalcluster{'lowpriority' if low_priority else 'dedicated'}regionalvcpus"
    return next((q for q in found if _key(q.name) == want), None)


def quota_checks(
    found: list[Quota],
    size: Size,
    low_priority: bool,
    location: str,
    *,
    trial_nodes: int,
    wanted_nodes: int,
    needer: str = "the job",
) -> list[Check]:
    """The family's and the region's quota against one trial's vCPUs (below: PROBLEM) and all trials at once (WARNING);
    `needer` names what takes `wanted_nodes` (the job, or a new cluster at its most nodes)."""
    if size.vcpus <= 0:
        return [Check("vCPU quota", WARNING, f"{size.name} lists no vCPU count in {location}: not checked")]
    one, every = size.vcpus * trial_nodes, size.vcpus * wanted_nodes
    rows = [("family", family_quota(found, size.family, low_priority)), ("region", regional_quota(found, low_priority))]
    checks = []
    for kind, quota in rows:
        name = f"vCPU quota ({kind})"
        if quota is None:
            what = size.family if kind == "family" else "the region's total"
            checks.append(Check(name, WARNING, f"no quota figure for {what} in {location}: not checked"))
            continue
        if quota.limit < 0:
            continue  # no limit of the family's own
        figures = f"{quota.name} in {location}: limit {quota.limit}, in use {quota.current}"
        per_node = f"{size.vcpus} vCPUs of {size.name}"
        if quota.limit < one:
            need = f"a trial needs {one} ({trial_nodes} node(s) × {per_node}), all trials at once {every}"
            checks.append(Check(name, PROBLEM, f"{figures}; {need}: no trial could start", f"{QUOTA_HELP} (at least {every})"))
        elif quota.limit < every:
            fit = quota.limit // one
            detail = f"{figures}; {fit} trial(s) fit at once, not {wanted_nodes // trial_nodes} ({every} vCPUs)"
            checks.append(Check(name, WARNING, detail, f"{QUOTA_HELP} (at least {every}), or lower limits.max_concurrent_trials"))
        elif quota.limit - quota.current < every:
            short = every - (quota.limit - quota.current)
            detail = f"{figures}; {needer} needs up to {every}: it waits until other jobs free {short}"
            checks.append(Check(name, WARNING, detail))
        else:
            checks.append(Check(name, OK, f"{figures}; {needer} needs up to {every} ({per_node} each)"))
    return checks


def _claims(token: str) -> dict[str, Any]:
    """The access token's claims (who it names; nothing is verified: the service does that)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def credential_check(credential: Any) -> Check:
    """Who the credential chain signs in as, and through which of its credentials, in one line."""
    from azure.core.exceptions import ClientAuthenticationError

    quiet_sdk_logs()
    try:
        token = credential.get_token(ARM_SCOPE)
    except ClientAuthenticationError:
        text, fix = NOT_SIGNED_IN.split(": ", 1)
        return Check("azure credentials", PROBLEM, text, fix)
    claims = _claims(token.token)
    who = claims.get("upn") or claims.get("unique_name") or claims.get("email")
    if not who and claims.get("appid"):
        who = f"application {claims['appid']}"
    detail = who or "a token was issued"
    if claims.get("tid"):
        detail += f" (tenant {claims['tid']})"
    via = getattr(credential, "_successful_credential", None)  # DefaultAzureCredential keeps the one that answered
    return Check("azure credentials", OK, f"{detail} via {type(via or credential).__name__}")


def workspace_check(client: Any) -> tuple[Check, Optional[str]]:
    """(the check, the workspace's region)."""
    try:
        found = azure_call(f"reach workspace {client.workspace_name}", client.workspaces.get, client.workspace_name)
    except AzureError as exc:
        return Check("workspace", PROBLEM, str(exc)), None
    detail = (
        f"{found.name} in resource group {client.resource_group_name}, subscription {client.subscription_id}, {found.location}"
    )
    return Check("workspace", OK, detail), found.location


def get_cluster(client: Any, name: str) -> Any:
    """The compute of that name, or None (a 404 here means "not made yet", not an error)."""
    from azure.core.exceptions import ResourceNotFoundError

    def get() -> Any:
        try:
            return client.compute.get(name)
        except ResourceNotFoundError:
            return None

    return azure_call(f"read compute {name}", get)


def nodes_of(spec: JobSpec) -> int:
    """Nodes all trials at once take. Each trial takes one node: compile sends Azure ML no instance_count (an AutoML
    image trial spreads over one node's GPUs), so compute.instance_count asks the cluster for nothing more."""
    return min(spec.limits.max_concurrent_trials, spec.max_trials)


def cluster_checks(client: Any, spec: JobSpec, location: Optional[str]) -> list[Check]:
    """The spec's cluster: there, a cluster, big enough, with the GPUs its trials ask, and the vCPU quota to grow."""
    name = spec.backends.azureml.compute
    if not name:
        fix = "set backends.azureml.compute (`cloudauto setup azureml` makes a cluster and prints the line)"
        return [Check("compute cluster", PROBLEM, "the spec names no compute cluster", fix)]
    try:
        cluster = get_cluster(client, name)
    except AzureError as exc:
        return [Check(f"compute {name}", WARNING, f"could not be read: {exc}")]
    if cluster is None:
        fix = f"`cloudauto setup azureml --compute {name}` makes it (0 nodes while idle), or name another in backends.azureml.compute"
        return [Check(f"compute {name}", PROBLEM, f"no compute named {name} in workspace {client.workspace_name}", fix)]
    if text_of(cluster.type).lower() != "amlcompute":
        return [Check(f"compute {name}", WARNING, f"a {cluster.type}, not a cluster: its size and quota are not checked")]
    if text_of(cluster.provisioning_state).lower() == "failed":
        fix = f"delete it (`az ml compute delete -n {name}`) and run `cloudauto setup azureml --compute {name}` again"
        return [Check(f"compute {name}", PROBLEM, "its creation failed", fix)]
    wanted = nodes_of(spec)
    low_priority = is_low_priority(cluster)
    shape = f"{cluster.size}, {cluster.min_instances} to {cluster.max_instances} nodes" + (
        ", low priority" if low_priority else ""
    )
    checks = [Check(f"compute {name}", OK, shape)]
    if cluster.min_instances:
        detail = f"keeps {cluster.min_instances} node(s) running (and billed) while idle"
        checks.append(Check("idle nodes", WARNING, detail, f"`az ml compute update -n {name} --min-instances 0`"))
    if cluster.max_instances < wanted:
        detail = f"{cluster.max_instances} trial(s) run at once (one per node), not {wanted} (limits.max_concurrent_trials)"
        fix = f"`az ml compute update -n {name} --max-instances {wanted}`, or lower limits.max_concurrent_trials"
        checks.append(Check("cluster nodes", WARNING, detail, fix))
    else:
        checks.append(Check("cluster nodes", OK, f"{cluster.max_instances} nodes cover {wanted} trial(s) at once, one node each"))
    if location is None:
        return checks
    try:
        size = sizes(client, location).get(str(cluster.size).lower())
    except AzureError as exc:
        return [*checks, Check("vm size", WARNING, f"could not be read: {exc}")]
    if size is None:
        return [*checks, Check("vm size", WARNING, f"{cluster.size} is not in {location}'s list of cluster sizes: not checked")]
    checks.extend(_size_checks(spec, size))
    try:
        found = quotas(client, location)
    except AzureError as exc:
        fix = "read it in Azure ML studio > Quota, or ask for Reader on the subscription"
        return [*checks, Check("vCPU quota", WARNING, f"could not be read: {exc}", fix)]
    nodes = min(wanted, cluster.max_instances)
    return checks + quota_checks(found, size, low_priority, location, trial_nodes=1, wanted_nodes=nodes)


def _size_checks(spec: JobSpec, size: Size) -> list[Check]:
    checks = []
    gpus = spec.compute.gpus
    if spec.engine is Engine.NATIVE and spec.task in _IMAGE_TASKS and size.gpus == 0:
        fix = "a cluster of a GPU size, e.g. `cloudauto setup azureml --compute gpu-cluster --vm-size Standard_NC6s_v3`"
        checks.append(Check("vm size", PROBLEM, f"Azure AutoML {spec.task.value} jobs run on GPUs; {size.name} has none", fix))
    elif gpus > size.gpus:
        fix = "a cluster of a size with that many GPUs, or lower compute.gpus"
        checks.append(
            Check("vm size", PROBLEM, f"a trial asks for {gpus} GPU(s) (compute.gpus); {size.name} has {size.gpus}", fix)
        )
    else:
        checks.append(Check("vm size", OK, f"{size.name}: {size.vcpus} vCPUs, {size.gpus} GPU(s)"))
    priced = spec.backends.azureml.vm_size
    if priced and priced.lower() != size.name.lower():
        fix = f"set backends.azureml.vm_size: {size.name}"
        checks.append(Check("cost estimate", WARNING, f"prices {priced}, the cluster is {size.name}", fix))
    return checks


def doctor(spec: Optional[JobSpec] = None) -> list[Check]:
    """Every check: credentials, workspace, and for a spec its cluster, size and quota."""
    from .submit import client_for

    quiet_sdk_logs()
    try:
        client = client_for(spec)
    except AzureError as exc:
        from azure.identity import DefaultAzureCredential

        return [credential_check(DefaultAzureCredential()), Check("workspace", PROBLEM, str(exc))]
    checks = [credential_check(client._credential)]
    if checks[0].level is PROBLEM:
        return [*checks, Check("workspace", WARNING, f"{client.workspace_name} not checked: not signed in")]
    workspace, location = workspace_check(client)
    checks.append(workspace)
    if spec is None or workspace.level is PROBLEM:
        return checks
    return checks + cluster_checks(client, spec, location)


def preflight(spec: JobSpec) -> list[Check]:
    """The checks that concern the spec, before submit uploads anything. No compute named is left to submit's own
    error (it names the field); a workspace that cannot be reached is submit's one-line error, raised here."""
    from .submit import client_for

    if not spec.backends.azureml.compute:
        return []
    client = client_for(spec)
    found = azure_call(f"reach workspace {client.workspace_name}", client.workspaces.get, client.workspace_name)
    return cluster_checks(client, spec, found.location)
