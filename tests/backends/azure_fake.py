"""A recording stand-in for an Azure ML workspace behind azure-ai-ml's own HTTP pipeline.

`FakeWorkspace` is an azure-core transport: `MLClient(..., transport=fake)` sends every
ARM and blob request here instead of the network. It keeps what was PUT (jobs, code and
environment versions, models, endpoints, deployments) and answers GETs from it, so the SDK
parses real-shaped responses into its entities; every request is recorded for the tests.
Trials are added by the test (the service would start them): `add_trial`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpResponse, HttpTransport

SUB, GROUP, WORKSPACE = "00000000-0000-0000-0000-000000000000", "rg", "ws"
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
LOCATIONS = f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/"
LOCATION = "eastus"


def usage(name: str, current: int, limit: int, kind: str = "vmFamily") -> dict:
    """One entry of a region's usages as the service lists them (azure-rest-api-specs examples/Usage/list.json):
    `name` e.g. "Standard DSv2 Family Cluster Dedicated vCPUs"; a limit of -1 is no limit of the family's own."""
    return {
        "id": f"/subscriptions/{SUB}/usages/{name.replace(' ', '_')}",
        "type": f"Microsoft.MachineLearningServices/{kind}/usages",
        "currentValue": current,
        "limit": limit,
        "name": {"value": name, "localizedValue": name},
        "unit": "Count",
    }


def vm_size(name: str, family: str, vcpus: int, gpus: int = 0, memory_gb: float = 14.0) -> dict:
    """One entry of a region's VM sizes (examples/VirtualMachineSize/list.json): family as "standardDSv2Family"."""
    return {
        "name": name,
        "family": family,
        "vCPUs": vcpus,
        "gpus": gpus,
        "osVhdSizeMB": 1047552,
        "maxResourceVolumeMB": 28672,
        "memoryGB": memory_gb,
        "lowPriorityCapable": True,
        "premiumIO": True,
        "supportedComputeTypes": ["AmlCompute", "ComputeInstance"],
    }


class FakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-token", int(time.time()) + 3600)


class Response(HttpResponse):
    """Both response flavours azure-core has: the legacy transport one and `azure.core.rest`'s."""

    def __init__(self, request: Any, status: int, body: Any = None, headers: Optional[dict] = None):
        super().__init__(request, None)
        self.status_code = status
        self.reason = "OK" if status < 400 else "Error"
        self._body = b"" if body is None else json.dumps(body).encode()
        from azure.core.utils import CaseInsensitiveDict  # as a real transport's: generated clients look up "content-type"

        self.headers = CaseInsensitiveDict(
            {"Content-Type": "application/json", "x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
        )
        self.content_type = "application/json"

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: Optional[str] = None) -> str:
        return self._body.decode()

    def json(self) -> Any:
        return json.loads(self._body) if self._body else None

    def read(self) -> bytes:
        return self._body

    @property
    def content(self) -> bytes:
        return self._body

    def iter_bytes(self, **kwargs: Any):
        yield self._body

    def stream_download(self, pipeline: Any, **kwargs: Any) -> Any:  # a blob's download reads the body as a stream
        class Stream:  # azure-core's StreamDownloadGenerator: the storage client hangs the blob's properties on it
            def __init__(self, response: Response, chunks: list[bytes]):
                self.response, self.content_length, self._chunks = response, len(response._body), iter(chunks)

            def __iter__(self) -> Any:
                return self

            def __next__(self) -> bytes:
                return next(self._chunks)

        return Stream(self, [self._body])

    @property
    def raw(self) -> Response:
        return self


class FakeWorkspace(HttpTransport):
    def __init__(self, tracking_uri: str = ""):
        self.calls: list[tuple[str, str, Any]] = []
        self.store: dict[str, dict] = {}  # ARM path -> resource body
        self.blobs: dict[str, bytes] = {}
        self.children: dict[str, list[str]] = {}
        self.runs: dict[str, dict] = {}  # run history's view of child runs
        self.logs: dict[str, dict[str, str]] = {}  # run -> log file name -> text
        self.tracking_uri = tracking_uri
        self.invocations: list[dict] = []
        self.keys = {"primaryKey": "key-" + uuid.uuid4().hex[:8], "secondaryKey": "other"}
        self.scoring_uri = "https://unset.inference.ml.azure.com/score"
        self.usages = [  # the region's vCPU quotas: room for the tests' clusters unless a test lowers one (set_quota)
            usage("Total Cluster Dedicated Regional vCPUs", 0, 350, kind="dedicatedCores"),
            usage("Standard DSv2 Family Cluster Dedicated vCPUs", 0, 100),
            usage("Standard NCSv3 Family Cluster Dedicated vCPUs", 0, 96),
            usage("Total Cluster LowPriority Regional vCPUs", 0, 100, kind="lowPriorityCores"),
            usage("Standard DSv2 Family Cluster LowPriority vCPUs", 0, -1),
        ]
        self.vm_sizes = [
            vm_size("Standard_DS3_v2", "standardDSv2Family", 4),
            vm_size("Standard_DS4_v2", "standardDSv2Family", 8, memory_gb=28.0),
            vm_size("Standard_NC6s_v3", "standardNCSv3Family", 6, gpus=1, memory_gb=112.0),
            vm_size("Standard_NC24s_v3", "standardNCSv3Family", 24, gpus=4, memory_gb=448.0),
        ]
        # path ending -> the action a 403 AuthorizationFailed names, as to a caller without the role
        self.forbidden: dict[str, str] = {}
        self.store["/datastores/workspaceblobstore"] = {  # where local data inputs are uploaded
            "id": WS_PATH + "/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "acct",
                "containerName": "container",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "credentials": {"credentialsType": "AccountKey"},
                "isDefault": True,
            },
        }

    # azure-core transport protocol
    def __enter__(self) -> FakeWorkspace:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Response:
        body = request.body if isinstance(request.body, (str, bytes)) else getattr(request, "content", None)
        self.calls.append((request.method, request.url, body))
        url = urlparse(request.url)
        if url.hostname and url.hostname.endswith("blob.core.windows.net"):
            return self._blob(request, url, body)
        if url.hostname and url.hostname.endswith(".inference.ml.azure.com") and url.path == "/jobs":
            return self._invoke(request, url, body)
        path, query = url.path, parse_qs(url.query)
        denied = next((f for f in self.forbidden if path.endswith(f)), None)
        if denied:
            action = self.forbidden[denied]
            message = (
                f"The client 'someone@example.com' with object id '11111111-1111-1111-1111-111111111111' does not have "
                f"authorization to perform action '{action}' over scope '{path}' or the scope is invalid."
            )
            return Response(request, 403, {"error": {"code": "AuthorizationFailed", "message": message}})
        if path.startswith(LOCATIONS):  # a region's quotas and VM sizes, outside any workspace
            where, what = path[len(LOCATIONS) :].split("/", 1)
            if what == "usages":
                return Response(request, 200, {"value": self.usages if where == LOCATION else [], "nextLink": None})
            if what == "vmSizes":
                return Response(request, 200, {"value": self.vm_sizes if where == LOCATION else []})
        if path == "/discovery":  # the workspace's regional service endpoints
            base = f"https://{url.hostname}"
            return Response(request, 200, {k: base for k in ("api", "catalog", "experimentation", "history", "modelmanagement")})
        if path.startswith("/history/v1.0" + WS_PATH) and path.endswith("/details"):
            run = path.rstrip("/").split("/")[-2]
            status = (self.runs.get(run) or self.store.get(f"/jobs/{run}", {}).get("properties", {})).get("status", "Completed")
            files = {
                name: f"https://acct.blob.core.windows.net/logs/{run}/{name}?sv=2024&sig=fake" for name in self.logs.get(run, {})
            }
            return Response(request, 200, {"runId": run, "status": status, "logFiles": files, "warnings": []})
        if path.startswith("/history/v1.0" + WS_PATH) and path.endswith("/children"):
            parent = path.rstrip("/").split("/")[-2]
            return Response(
                request, 200, {"value": [self.runs[n] for n in self.children.get(parent, [])], "continuationToken": None}
            )
        if path.startswith(WS_PATH):
            return self._workspace(request, path[len(WS_PATH) :], query, body)
        return Response(request, 404, {"error": {"code": "NotFound", "message": f"no such resource: {path}"}})

    # requests the tests look at
    def sent(self, method: str, fragment: str) -> list[Any]:
        return [json.loads(b) if b else None for m, u, b in self.calls if m == method and fragment in u]

    def add_trial(
        self,
        parent: str,
        hyperparameters: dict[str, Any],
        status: str = "Completed",
        name: Optional[str] = None,
        ran_for: Optional[float] = None,
    ) -> str:
        """A child run as the sweep service records it in run history: sampled values in the `hyperparameters` tag;
        with `ran_for`, created that many seconds ago and last modified (ended) now."""
        name = name or f"{parent}_{len(self.children.get(parent, []))}"
        self.children.setdefault(parent, []).append(name)
        self.runs[name] = {
            "runId": name,
            "parentRunId": parent,
            "rootRunId": parent,
            "status": status,
            "runType": "azureml.scriptrun",
            "tags": {"hyperparameters": json.dumps(hyperparameters)},
            "properties": {},
            "createdUtc": f"2026-11-23T00:00:{len(self.children[parent]):02d}.000Z",
        }
        if ran_for is not None:
            stamp = "%Y-%m-%dT%H:%M:%S.000Z"
            self.runs[name]["createdUtc"] = time.strftime(stamp, time.gmtime(time.time() - ran_for))
            self.runs[name]["lastModifiedUtc"] = time.strftime(stamp, time.gmtime())
        return name

    def add_log(self, run: str, name: str, text: str) -> None:
        """A log file the run wrote, served as run history serves them (a blob URL with a SAS)."""
        self.logs.setdefault(run, {})[name] = text
        self.blobs[f"/logs/{run}/{name}"] = text.encode()

    def set_quota(self, name: str, limit: int, current: int = 0) -> None:
        """A region's quota figure, by its usage name (e.g. "Standard NCSv3 Family Cluster Dedicated vCPUs")."""
        self.usages = [u for u in self.usages if u["name"]["value"] != name]
        kind = "vmFamily" if "Family" in name else ("lowPriorityCores" if "LowPriority" in name else "dedicatedCores")
        self.usages.append(usage(name, current, limit, kind=kind))

    def add_cluster(
        self,
        name: str,
        size: str = "Standard_DS3_v2",
        max_nodes: int = 4,
        min_nodes: int = 0,
        tags: Optional[dict] = None,
        state: str = "Succeeded",
        priority: str = "Dedicated",
    ) -> None:
        """An AmlCompute cluster the workspace already has, as GET answers it (examples/Compute/get/AmlCompute.json)."""
        self.store[f"/computes/{name}"] = {
            "id": f"{WS_PATH}/computes/{name}",
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "name": name,
            "location": LOCATION,
            "tags": tags or {},
            "properties": {
                "createdOn": "2026-11-01T10:00:00.0000000+00:00",
                "modifiedOn": "2026-11-01T10:00:00.0000000+00:00",
                "computeType": "AmlCompute",
                "provisioningState": state,
                "properties": {
                    "vmSize": size,
                    "vmPriority": priority,
                    "osType": "Linux",
                    "scaleSettings": {
                        "maxNodeCount": max_nodes,
                        "minNodeCount": min_nodes,
                        "nodeIdleTimeBeforeScaleDown": "PT2M",
                    },
                    "remoteLoginPortPublicAccess": "NotSpecified",
                    "allocationState": "Steady",
                    "allocationStateTransitionTime": "2026-11-01T10:00:00.000Z",
                    "errors": None,
                    "currentNodeCount": min_nodes,
                    "targetNodeCount": min_nodes,
                    "nodeStateCounts": {
                        "preparingNodeCount": 0,
                        "runningNodeCount": 0,
                        "idleNodeCount": min_nodes,
                        "unusableNodeCount": 0,
                        "leavingNodeCount": 0,
                        "preemptedNodeCount": 0,
                    },
                    "enableNodePublicIp": True,
                },
            },
        }

    def set_status(self, job: str, status: str) -> None:
        self.store[f"/jobs/{job}"]["properties"]["status"] = status

    # the workspace's resources
    def _workspace(self, request: Any, rest: str, query: dict, body: Any) -> Response:
        method = request.method
        if rest in ("", "/"):
            return Response(
                request,
                200,
                {
                    "id": WS_PATH,
                    "name": WORKSPACE,
                    "location": "eastus",
                    "properties": {
                        "mlFlowTrackingUri": self.tracking_uri,
                        "discoveryUrl": "https://eastus.api.azureml.ms/discovery",
                    },
                },
            )
        if rest.endswith("/startPendingUpload"):
            blob = f"https://acct.blob.core.windows.net/container/LocalUpload/{uuid.uuid4().hex}"
            return Response(
                request,
                200,
                {
                    "blobReferenceForConsumption": {
                        "blobUri": blob,
                        "storageAccountArmId": f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.Storage/storageAccounts/acct",
                        "credential": {"credentialType": "SAS", "sasUri": blob + "?sv=2024&sig=fake"},
                    }
                },
            )
        if rest == "/jobs" and method == "GET":
            parent = (query.get("parentJobName") or [None])[0]
            names = self.children.get(parent, []) if parent else [k[6:] for k in self.store if k.startswith("/jobs/")]
            return Response(request, 200, {"value": [self.store[f"/jobs/{n}"] for n in names]})
        if rest.startswith("/jobs/") and rest.endswith("/cancel"):
            self.set_status(rest.split("/")[2], "CancelRequested")
            return Response(request, 202, None, {"Location": request.url.split("?")[0] + "/status", "Retry-After": "0"})
        if rest.startswith("/jobs/") and rest.endswith("/cancel/status"):
            return Response(request, 200, {})
        if "/codes/" in rest and method == "GET" and rest.endswith("/versions"):
            return Response(request, 200, {"value": []})  # no code asset with this hash yet
        if rest.startswith("/datastores/") and rest.endswith("/listSecrets"):
            return Response(request, 200, {"secretsType": "AccountKey", "key": "ZmFrZS1rZXk="})
        if rest.startswith("/onlineEndpoints/") and rest.endswith("/listKeys"):
            return Response(request, 200, self.keys)
        if rest.startswith("/operations/"):
            return Response(request, 200, {"status": "Succeeded"})
        if method == "PUT":
            return self._put(request, rest, body)
        if method == "GET" and rest in self.store:
            return Response(request, 200, self.store[rest])
        collections = ("/onlineEndpoints", "/computes")
        if method == "GET" and (rest.endswith(("/versions", "/deployments")) or rest in collections):  # a collection
            items = [v for k, v in self.store.items() if k.startswith(rest + "/") and "/" not in k[len(rest) + 1 :]]
            return Response(request, 200, {"value": items})
        if method == "DELETE":  # a long-running delete, polled at an operation's status as the service answers it
            self.store.pop(rest, None)
            operation = f"https://management.azure.com{WS_PATH}/operations/{uuid.uuid4().hex}?api-version=2024-10-01"
            return Response(request, 202, None, {"Location": operation, "Retry-After": "0"})
        return Response(request, 404, {"error": {"code": "NotFound", "message": f"{rest} not found"}})

    def _put(self, request: Any, rest: str, body: Any) -> Response:
        resource = json.loads(body)
        resource.update({"id": WS_PATH + rest, "name": rest.rsplit("/", 1)[1]})
        props = resource.setdefault("properties", {})
        if rest.startswith("/jobs/"):
            props.setdefault("status", "NotStarted")
        if "/deployments/" in rest:  # service defaults the SDK reads back
            props["scaleSettings"] = props.get("scaleSettings") or {"scaleType": "Default"}
        if rest.startswith("/models/"):
            props["flavors"] = props.get("flavors") or {}  # the service answers {} where the SDK sent null
        headers: dict[str, str] = {}
        if rest.startswith("/computes/"):  # created asynchronously; what GET then answers, read-only fields filled in
            resource["type"] = "Microsoft.MachineLearningServices/workspaces/computes"
            props.update({"provisioningState": "Succeeded", "createdOn": "2026-12-04T10:00:00.0000000+00:00"})
            inner = props.setdefault("properties", {})
            inner.update({"allocationState": "Steady", "currentNodeCount": 0, "targetNodeCount": 0, "errors": None})
            operation = f"https://management.azure.com{WS_PATH}/operations/{uuid.uuid4().hex}?api-version=2025-12-01"
            headers = {"Azure-AsyncOperation": operation, "Retry-After": "0"}
        if rest.startswith(("/onlineEndpoints/", "/batchEndpoints/")):
            props["provisioningState"] = "Succeeded"
            if rest.startswith("/batchEndpoints/") and "/deployments/" not in rest:
                props["scoringUri"] = f"https://{rest.split('/')[2]}.eastus.inference.ml.azure.com/jobs"
            elif "/deployments/" not in rest:
                props["scoringUri"] = self.scoring_uri
            operation = f"https://management.azure.com{WS_PATH}/operations/{uuid.uuid4().hex}?api-version=2024-10-01"
            headers = {"Azure-AsyncOperation": operation, "Retry-After": "0"}
        self.store[rest] = resource
        return Response(request, 201 if headers else 200, resource, headers)

    def _invoke(self, request: Any, url: Any, body: Any) -> Response:
        """A batch endpoint's invocation: a pipeline job, as the service starts one for the deployment."""
        name = f"batchjob-{uuid.uuid4().hex[:12]}"
        sent = json.loads(body)
        self.invocations.append({"endpoint": url.hostname.split(".")[0], "headers": dict(request.headers), "body": sent})
        job = {
            "id": f"{WS_PATH}/jobs/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {"jobType": "Pipeline", "status": "Running", "jobs": {}, "inputs": {}, "outputs": {}, "settings": {}},
        }
        self.store[f"/jobs/{name}"] = job
        return Response(request, 200, job)

    def put_blob(self, uri: str, data: bytes) -> None:
        """A file on the default datastore (azureml://datastores/workspaceblobstore/paths/...), as a job writes its output."""
        self.blobs[f"/container/{uri.split('/paths/', 1)[1]}"] = data

    def _list(self, request: Any, url: Any) -> Response:
        prefix = (parse_qs(url.query).get("prefix") or [""])[0]
        container = url.path.strip("/")
        names = sorted(k[len(container) + 2 :] for k in self.blobs if k.startswith(f"/{container}/{prefix}"))
        items = "".join(
            f"<Blob><Name>{n}</Name><Properties><Content-Length>{len(self.blobs[f'/{container}/{n}'])}</Content-Length>"
            "<BlobType>BlockBlob</BlobType></Properties></Blob>"
            for n in names
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="https://{url.hostname}/" ContainerName="{container}">'
            f"<Prefix>{prefix}</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>"
        )
        response = Response(request, 200, None, {"Content-Type": "application/xml"})
        response._body, response.content_type = xml.encode(), "application/xml"
        return response

    def _blob(self, request: Any, url: Any, body: Any) -> Response:
        key = url.path
        if request.method == "GET" and "comp=list" in url.query:
            return self._list(request, url)
        if request.method == "GET" and key in self.blobs:
            data = self.blobs[key]
            headers = {
                "Content-Length": str(len(data)),
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes 0-{max(len(data) - 1, 0)}/{len(data)}",
                "x-ms-blob-type": "BlockBlob",
                "ETag": '"0x1"',
                "Last-Modified": "Wed, 02 Dec 2026 00:00:00 GMT",
            }
            response = Response(request, 200, None, headers)
            response._body, response.content_type = data, "application/octet-stream"
            return response
        if request.method in ("HEAD", "GET"):
            if key in self.blobs:
                return Response(request, 200, None, {"Content-Length": str(len(self.blobs[key]))})
            return Response(request, 404, None, {"x-ms-error-code": "BlobNotFound"})
        if "comp=metadata" in url.query:
            return Response(request, 200)
        self.blobs[key] = body if isinstance(body, bytes) else (body or "").encode()
        return Response(request, 201)


def route_blob_clients(monkeypatch: Any, transport: FakeWorkspace) -> None:
    """azure-ai-ml builds its blob clients itself, without the MLClient's transport: give them ours."""
    import functools

    import azure.ai.ml._artifacts._blob_storage_helper as helper
    from azure.storage.blob import BlobServiceClient, ContainerClient

    class _Container(ContainerClient):
        @classmethod
        def from_container_url(cls, container_url: str, credential: Any = None, **kwargs: Any) -> ContainerClient:
            return ContainerClient.from_container_url(container_url, credential=credential, transport=transport, **kwargs)

    monkeypatch.setattr(helper, "BlobServiceClient", functools.partial(BlobServiceClient, transport=transport))
    monkeypatch.setattr(helper, "ContainerClient", _Container)
