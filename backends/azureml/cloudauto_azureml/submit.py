"""Submitting a compiled Azure ML job through `MLClient`, and finding the workspace.

The workspace comes from the spec (`backends.azureml.subscription_id / resource_group /
workspace`), else the environment (AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP,
AZUREML_WORKSPACE_NAME), else a `config.json` as Azure ML writes it; credentials from
`DefaultAzureCredential`. Trials that run code get a staged folder: the user's code (or
cloudauto's bundle for engine: autogluon) plus the `cloudauto` package, so
`cloudauto.report` and the entry scripts import in any image with Python.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import CompiledJob, CompileError, NotConfigured
from cloudauto.endpoints import job_tags
from cloudauto.runtime.bundle import write_folder
from cloudauto.spec.errors import CloudautoError, SpecIssue
from cloudauto.spec.models import Engine, JobSpec

SPEC_PROPERTY = "cloudauto.spec"


class AzureError(CloudautoError):
    """An Azure call failed; the message carries the service's own."""

    exit_code = 3


class AzureNotConfigured(AzureError, NotConfigured):
    """No Azure ML workspace named on this machine."""


def azure_call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    try:
        return fn(*args, **kwargs)
    except MlException as exc:  # the SDK's own validation, before anything is sent
        raise AzureError(f"{what}: {exc.message.strip()}") from None
    except ClientAuthenticationError:
        raise AzureError(f"{what}: {NOT_SIGNED_IN}") from None
    except ResourceNotFoundError as exc:
        raise AzureError(f"{what}: not found ({getattr(exc, 'message', exc)})") from None
    except HttpResponseError as exc:
        raise AzureError(f"{what}: {exc.status_code}: {getattr(exc, 'message', exc)}") from None


NOT_SIGNED_IN = (
    "not signed in to Azure: run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(a service principal); CLOUDAUTO_DEBUG=1 lists every credential DefaultAzureCredential tried"
)


def quiet_sdk_logs() -> None:
    """azure-identity logs each credential it tried (a dozen lines at WARNING) before its error reaches
    cloudauto, which says it in one line; CLOUDAUTO_DEBUG=1 keeps them."""
    if not os.environ.get("CLOUDAUTO_DEBUG"):
        logging.getLogger("azure.identity").setLevel(logging.ERROR)


def client_for(spec: Optional[JobSpec] = None, credential: Any = None) -> Any:
    from azure.ai.ml import MLClient

    quiet_sdk_logs()
    settings = spec.backends.azureml if spec is not None else None
    subscription = (settings and settings.subscription_id) or os.environ.get("AZURE_SUBSCRIPTION_ID")
    group = (settings and settings.resource_group) or os.environ.get("AZURE_RESOURCE_GROUP")
    workspace = (settings and settings.workspace) or os.environ.get("AZUREML_WORKSPACE_NAME")
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    if subscription and group and workspace:
        return MLClient(credential, subscription, group, workspace)
    try:
        return MLClient.from_config(credential)
    except Exception:  # the SDK raises its own ValidationException when no config.json is found
        variables = "AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME"
        where = (  # a command without a spec (endpoints, delete-endpoint, score) reads the environment only
            f"set backends.azureml.subscription_id, resource_group and workspace in the spec, or {variables}"
            if spec is not None
            else f"set {variables}"
        )
        raise AzureNotConfigured(f"no Azure ML workspace: {where}, or put Azure ML's config.json in this folder") from None


def stage_code(job: CompiledJob, dest: Path) -> Path:
    """The trial's code folder as compile wrote it (<name>.code/): what the YAML runs is what is uploaded."""
    from .compile import code_folder

    prefix = code_folder(job.spec) + "/"
    return write_folder({k[len(prefix) :]: v for k, v in job.files.items() if k.startswith(prefix)}, dest)


_DATA_KEYS = {"train": "training_data", "validation": "validation_data", "test": "test_data"}


def stage_image_tables(job: CompiledJob, client: Any, dest: Path) -> dict[str, Path]:
    """Local images of an AutoML image job: uploaded as a data asset, the compiled table sent with their datastore URLs.

    The compiled table lists file:// URLs; Azure's AutoML reads each image_url as a stream, which
    must be a URL the workspace can read (as azureml-examples build it after uploading the images).
    """
    import os
    import shutil

    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    from cloudauto.runtime.image_data import jsonl_text, records_from_jsonl

    from .compile import data_folder

    spec = job.spec
    tables: dict[str, Path] = {}
    for role in _DATA_KEYS:
        folder = f"{data_folder(spec)}/{role}"
        if f"{folder}/MLTable" not in job.files:
            continue
        records = records_from_jsonl(job.files[f"{folder}/{role}.jsonl"], Path("/"), f"{folder}/{role}.jsonl")
        root = Path(os.path.commonpath([r.image.parent for r in records]))
        images = dest / f"{role}-images"
        for record in records:  # exactly the listed images, in their layout: not whatever else shares the folder
            target = images / record.image.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(record.image, target)
            except OSError:
                shutil.copyfile(record.image, target)
        asset = azure_call(
            f"upload the {role} images",
            client.data.create_or_update,
            Data(name=f"{spec.name}-{role}-images", type=AssetTypes.URI_FOLDER, path=str(images), tags=job_tags(spec.name)),
        )
        base = str(asset.path).rstrip("/")
        table = dest / f"{role}-table"
        table.mkdir()
        (table / f"{role}.jsonl").write_text(
            jsonl_text(records, lambda p, root=root, base=base: f"{base}/{p.relative_to(root).as_posix()}")
        )
        (table / "MLTable").write_text(job.files[f"{folder}/MLTable"])
        tables[role] = table
    return tables


def submit(job: CompiledJob, *, client: Any = None) -> Any:
    from .handle import AzureMLJob

    spec = job.spec
    settings = spec.backends.azureml
    if not settings.compute:
        raise CompileError(
            "azureml",
            [
                spec.locate(
                    SpecIssue("submit needs a compute cluster: set backends.azureml.compute", ("backends", "azureml", "compute"))
                )
            ],
        )
    entity = job.native
    client = client or client_for(spec)
    entity.properties = {**(entity.properties or {}), SPEC_PROPERTY: json.dumps(spec.to_stored(), separators=(",", ":"))}
    with tempfile.TemporaryDirectory(prefix="cloudauto-azureml-") as tmp:
        if spec.engine is not Engine.NATIVE:
            entity.trial.code = str(stage_code(job, Path(tmp) / "code"))
        for role, table in stage_image_tables(job, client, Path(tmp)).items():
            from azure.ai.ml import Input

            setattr(entity, _DATA_KEYS[role], Input(type="mltable", path=str(table)))
        created = azure_call(
            f"create job for {spec.name}",
            client.jobs.create_or_update,
            entity,
            experiment_name=settings.experiment_name or spec.name,
        )
    return AzureMLJob(created.name, client=client, spec=spec)


__all__ = ["NOT_SIGNED_IN", "SPEC_PROPERTY", "AzureError", "azure_call", "client_for", "quiet_sdk_logs", "stage_code", "submit"]
