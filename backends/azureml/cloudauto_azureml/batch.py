"""Batch inference on Azure ML: a batch endpoint with a model deployment, invoked on the input.

As azureml-examples deploy a custom model for batch scoring: the trial's model registered,
a `BatchEndpoint`, a `ModelBatchDeployment` of cloudauto's batch scoring script
(`cloudauto.runtime.azureml_batch`: init() / run(mini_batch)) on the compute cluster, with
`mini_batch_size` (chunk files per mini-batch), `max_concurrency_per_instance`,
`output_action: append_row`, `error_threshold` and retries, then `invoke` on the input. The
input is staged as chunk files named by their first row, with a manifest beside them, so the
appended lines (which come in the order mini-batches finish) are put back in input order and
counted against the input's rows before the output file is written. Columns to keep (`keep_columns`)
are not uploaded for this: once the lines are in order they are read from the local input (its SHA-256
taken at staging, checked) and put in front, as the local batch writes them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import BatchError, JobStatus, NotSupportedError
from cloudauto.endpoints import job_tags, resource_tags
from cloudauto.runtime.azureml_batch import MANIFEST, chunk_name, records
from cloudauto.runtime.batch_io import ServiceBatchJob, check_columns, file_sha256, input_files, output_path
from cloudauto.runtime.bundle import serving_files, write_folder
from cloudauto.runtime.inference import BATCH_PROBABILITIES_ENV
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine

from .handle import _JOB_STATUS, AzureMLJob, _status_text
from .submit import azure_call

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEPLOYMENT = "cloudauto"
OUTPUT_FILE = "predictions.jsonl"
CHUNK_ROWS = 100_000
_SCRIPT = b'"""Azure ML loads this batch scoring script: cloudauto\'s."""\nfrom cloudauto.runtime.azureml_batch import init, run  # noqa: F401\n'
_NAME = re.compile(r"[^a-zA-Z0-9-]")


def stage(source: str | Path, folder: Path, chunk_rows: int, keep: Optional[list[str]] = None) -> dict[str, Any]:
    """The input as chunk files with their header, named <file>-<first row>.csv, and the manifest: what is uploaded.

    With columns to `keep`, each input's SHA-256 too: they are read from it again once the answers are down."""
    import pandas as pd

    files = input_files(source)
    if keep:
        check_columns(files, keep)
    folder.mkdir(parents=True, exist_ok=True)
    inputs, first = [], 0
    for index, file in enumerate(files):
        if file.suffix.lower() == ".csv":
            pieces = pd.read_csv(file, chunksize=chunk_rows, dtype=str, keep_default_na=False)
        else:
            import pyarrow.parquet as pq

            pieces = (b.to_pandas() for b in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows))
        rows = 0
        for frame in pieces:
            frame.to_csv(folder / chunk_name(index, first + rows), index=False)
            rows += len(frame)
        inputs.append({"file": str(file), "rows": rows, "first": first, **({"sha256": file_sha256(file)} if keep else {})})
        first += rows
    manifest = {"inputs": inputs, "rows": first}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return manifest


def deployment(spec: Any, *, endpoint: str, model: str, code: Path, settings: dict[str, Any]) -> Any:
    """The ModelBatchDeployment: cloudauto's scoring script, append_row, the retries and thresholds."""
    from azure.ai.ml.entities import BatchRetrySettings, CodeConfiguration, ModelBatchDeployment, ModelBatchDeploymentSettings

    from .compile import default_environment

    return ModelBatchDeployment(
        name=DEPLOYMENT,
        endpoint_name=endpoint,
        model=model,
        environment=spec.backends.azureml.environment or default_environment(spec.task, spec),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="batch_score.py"),
        compute=spec.backends.azureml.compute,
        settings=ModelBatchDeploymentSettings(
            mini_batch_size=settings["mini_batch_size"],
            instance_count=settings["instance_count"],
            max_concurrency_per_instance=settings["max_concurrency_per_instance"],
            output_action="append_row",
            output_file_name=OUTPUT_FILE,
            retry_settings=BatchRetrySettings(max_retries=settings["max_retries"], timeout=settings["timeout"]),
            error_threshold=settings["error_threshold"],
            logging_level="info",
            environment_variables={BATCH_PROBABILITIES_ENV: "1" if settings["probabilities"] else "0"},
        ),
        tags=job_tags(spec.name),
    )


def predict_batch(
    job: AzureMLJob,
    source: str | Path,
    output: str | Path,
    *,
    probabilities: bool = False,
    trial: Optional[int] = None,
    endpoint: Optional[str] = None,
    chunk_rows: int = CHUNK_ROWS,
    mini_batch_size: int = 1,
    instance_count: int = 1,
    max_concurrency_per_instance: int = 2,
    max_retries: int = 3,
    timeout: int = 300,
    error_threshold: int = 0,
    keep_columns: Optional[list[str]] = None,
) -> AzureBatchJob:
    from azure.ai.ml import Input, Output
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import BatchEndpoint, Model

    spec, client = job.spec, job.client
    if spec.engine is not Engine.AUTOGLUON or spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        raise NotSupportedError(
            "Azure ML batch inference scores cloudauto's tabular AutoGluon models in this version "
            f"(this job: engine {spec.engine.value}, task {spec.task.value})"
        )
    if spec.backends.azureml.compute is None:
        raise BatchError("a batch deployment runs on a compute cluster: set backends.azureml.compute")
    out = output_path(output)
    if str(source).startswith(("azureml://", "https://", "abfss://")):
        raise NotSupportedError("Azure ML batch inference takes local CSV or Parquet input in this version")
    from cloudauto.scoring import kept_problem

    keep = list(keep_columns or [])
    problem = kept_problem(keep)
    if problem:
        raise BatchError(f"keep_columns: {problem}")
    from .endpoint import best_child

    child = job.trial(trial).id if trial is not None else best_child(job)
    name = endpoint or _NAME.sub("-", f"{spec.name[:24]}-batch").strip("-")
    with tempfile.TemporaryDirectory(prefix="cloudauto-batch-") as tmp:
        staged = Path(tmp) / "input"
        manifest = stage(source, staged, chunk_rows, keep)  # read and checked before anything is created
        registered = azure_call(
            f"register the model of {child}",
            client.models.create_or_update,
            Model(
                path=f"azureml://jobs/{child}/outputs/model/paths/model/", name=f"{spec.name}-model", type=AssetTypes.CUSTOM_MODEL
            ),
        )
        batch_endpoint = BatchEndpoint(name=name, tags=resource_tags(job.id, job.spec.name))
        azure_call(
            f"create batch endpoint {name}", lambda: client.batch_endpoints.begin_create_or_update(batch_endpoint).result()
        )
        code = write_folder({**serving_files(), "batch_score.py": _SCRIPT}, Path(tmp) / "code")
        settings = {
            "mini_batch_size": mini_batch_size,
            "instance_count": instance_count,
            "max_concurrency_per_instance": max_concurrency_per_instance,
            "max_retries": max_retries,
            "timeout": timeout,
            "error_threshold": error_threshold,
            "probabilities": probabilities,
        }
        made = deployment(spec, endpoint=name, model=registered.id, code=code, settings=settings)
        azure_call(
            f"create batch deployment {name}/{DEPLOYMENT}", lambda: client.batch_deployments.begin_create_or_update(made).result()
        )
        result_uri = f"azureml://datastores/workspaceblobstore/paths/cloudauto/batch/{name}/{os.urandom(4).hex()}/{OUTPUT_FILE}"
        invoked = azure_call(
            f"invoke batch endpoint {name}",
            client.batch_endpoints.invoke,
            endpoint_name=name,
            deployment_name=DEPLOYMENT,
            input=Input(type=AssetTypes.URI_FOLDER, path=str(staged)),
            outputs={"score": Output(type=AssetTypes.URI_FILE, path=result_uri)},
        )
    record = {"output": str(out), "result_uri": result_uri, "endpoint": name, "keep_columns": keep, **manifest}
    return AzureBatchJob(invoked.name, client=client, record=record)


class AzureBatchJob(ServiceBatchJob):
    """An invoked batch endpoint's job. `record` holds what the reader needs: the manifest and where the result goes."""

    backend = "azureml"

    def __init__(self, name: str, *, client: Any, record: dict[str, Any]):
        self.id, self.client, self.record = name, client, record
        self.output = record["output"]

    def status(self) -> JobStatus:
        job = azure_call(f"get batch job {self.id}", self.client.jobs.get, self.id)
        return _JOB_STATUS.get(_status_text(job.status), JobStatus.PENDING)

    def logs(self) -> str:
        return AzureMLJob(self.id, client=self.client).logs()

    def lines(self) -> list[str]:
        from azure.ai.ml._artifacts._artifact_utilities import download_artifact_from_aml_uri

        with tempfile.TemporaryDirectory(prefix="cloudauto-batch-out-") as tmp:
            azure_call(
                f"download {self.record['result_uri']}",
                download_artifact_from_aml_uri,
                self.record["result_uri"],
                tmp,
                self.client.datastores,
            )
            found = next(Path(tmp).rglob(OUTPUT_FILE), None)
            if found is None:
                raise BatchError(f"batch job {self.id}: no {OUTPUT_FILE} at {self.record['result_uri']}")
            return found.read_text().splitlines()

    def answers(self) -> pd.DataFrame:
        import pandas as pd

        rows = records(self.lines())
        expected = self.record["rows"]
        if len(rows) != expected or [r["row"] for r in rows] != list(range(expected)):
            raise BatchError(
                f"batch job {self.id} answered {len(rows)} rows for {expected}; the output would be misaligned, "
                "so it is not written"
            )
        files = [i["file"] for i in self.record["inputs"]]
        if not rows:  # header-only inputs: ServiceBatchJob.write puts the answer header
            return pd.DataFrame({"_row": pd.Series(dtype=int), "_file": pd.Series(dtype=object)})
        frame = pd.DataFrame.from_records(rows)
        return frame.assign(_file=[files[f] for f in frame["file"]]).rename(columns={"row": "_row"}).drop(columns=["file"])

    def expected_rows(self) -> int:
        return self.record["rows"]

    def kept(self) -> tuple[list[str], list[dict[str, Any]]]:
        return list(self.record.get("keep_columns") or []), self.record["inputs"]


__all__ = ["AzureBatchJob", "deployment", "predict_batch", "stage"]
