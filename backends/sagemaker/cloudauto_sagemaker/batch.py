"""Batch inference on SageMaker: a batch transform job on the model the endpoint would serve.

SageMaker splits each input object into lines (`SplitType: Line`) and sends several per
request (`BatchStrategy: MultiRecord`, at most `MaxPayloadInMB`). A CSV header would be scored
as a row of the first request and missing from the others, so `predict_batch` uploads every
input as CSV lines without it and gives the model the columns instead
(`CLOUDAUTO_BATCH_COLUMNS`): the handler reads each request as rows of those columns, answers
one JSON line per row (a row that cannot be scored gets its `error`, and the rest are scored),
and `AssembleWith: Line` joins the answers in input order into `<input>.out`. The handle reads
those files back, checks their row count against the manifest written beside the input, and
writes the output file. Columns to keep (`keep_columns`, an ID) never travel: once the answers are
down they are read from the local input (its SHA-256 in the manifest, checked) and put in front.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import BatchError, JobStatus, NoModel, NotSupportedError
from cloudauto.endpoints import resource_tags
from cloudauto.runtime.batch_io import ServiceBatchJob, check_columns, file_sha256, input_files, output_path
from cloudauto.runtime.inference import BATCH_COLUMNS_ENV, BATCH_PROBABILITIES_ENV, JSONL
from cloudauto.spec.metrics import Task

from .handle import SageMakerJob, log_lines
from .submit import aws_call

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

LOG_GROUP = "/aws/sagemaker/TransformJobs"
MAX_PAYLOAD_MB = 6  # SageMaker's default and the endpoint's request limit
PAYLOAD_RANGE = (1, 100)
CPU_BATCH = "ml.m5.xlarge"
_STATUS = {
    "InProgress": JobStatus.RUNNING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopping": JobStatus.CANCELED,
    "Stopped": JobStatus.CANCELED,
}
_NAME_OK = re.compile(r"[^a-zA-Z0-9-]")


def transform_request(
    name: str,
    *,
    model: str,
    input_uri: str,
    output_uri: str,
    instance_type: str,
    instance_count: int,
    max_payload_mb: int,
    job: str,
    spec_name: str = "",
) -> dict[str, Any]:
    """The CreateTransformJob request, in the API's own field names."""
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": max_payload_mb,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": JSONL, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
        "Tags": [{"Key": k, "Value": v} for k, v in resource_tags(job, spec_name).items()],
    }


def _files(source: str | Path) -> list[Path]:
    if str(source).startswith("s3://"):
        raise NotSupportedError(
            "SageMaker batch inference takes local CSV or Parquet input in this version (it uploads each file without "
            "its header); download the s3:// input first"
        )
    return input_files(source)


def _lines(path: Path, chunk_rows: int = 100_000) -> tuple[bytes, list[str], int]:
    """The file as CSV lines without the header, its columns and its row count; a field with a line break is refused."""
    import pandas as pd

    if path.suffix.lower() == ".csv":
        pieces = pd.read_csv(path, chunksize=chunk_rows, dtype=str, keep_default_na=False)
    else:
        import pyarrow.parquet as pq

        pieces = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    out, columns, rows = io.StringIO(), None, 0
    for frame in pieces:
        columns = columns or [str(c) for c in frame.columns]
        text = frame.select_dtypes(include="object")
        for column in text.columns:
            broken = text[column].astype(str).str.contains("[\r\n]", regex=True)
            if broken.any():
                row = rows + int(broken.to_numpy().nonzero()[0][0])
                raise BatchError(
                    f"{path.name}: row {row}, column {column!r} holds a line break: SageMaker's SplitType Line would "
                    "cut that row in two"
                )
        frame.to_csv(out, header=False, index=False, lineterminator="\n")
        rows += len(frame)
    return out.getvalue().encode(), columns or [], rows


def predict_batch(
    job: SageMakerJob,
    source: str | Path,
    output: str | Path,
    *,
    probabilities: bool = False,
    trial: Optional[int] = None,
    instance_type: Optional[str] = None,
    instance_count: int = 1,
    max_payload_mb: int = MAX_PAYLOAD_MB,
    keep_columns: Optional[list[str]] = None,
) -> SageMakerBatchJob:
    from botocore.exceptions import ClientError

    from cloudauto.scoring import kept_problem

    from .endpoint import serving_model
    from .submit import AWSError

    spec = job.spec
    if spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        raise NotSupportedError(
            f"SageMaker batch inference scores tabular models in this version, not {spec.task.value}; "
            "the local backend's predict_batch scores image tables too"
        )
    if not PAYLOAD_RANGE[0] <= max_payload_mb <= PAYLOAD_RANGE[1]:
        raise BatchError(f"max_payload_mb: SageMaker takes {PAYLOAD_RANGE[0]}-{PAYLOAD_RANGE[1]} MB, got {max_payload_mb}")
    out = output_path(output)
    keep = list(keep_columns or [])
    problem = kept_problem(keep)
    if problem:
        raise BatchError(f"keep_columns: {problem}")
    files = _files(source)
    if keep:
        check_columns(files, keep)
    staged = [(p, *_lines(p)) for p in files]  # every file read and checked before anything is created
    columns = staged[0][2]
    for path, _, other, _ in staged[1:]:
        if other != columns:
            raise BatchError(f"{path.name} has columns {other}; {files[0].name} has {columns}: one batch, one set of columns")
    chosen = job.trial(trial) if trial is not None else job.best_trial()
    if chosen is None:
        raise NoModel(f"job {job.id} has no finished trial with a model to score with")
    identity = json.dumps(
        [job.id, chosen.number, [[p.name, hashlib.sha256(b).hexdigest()] for p, b, _, _ in staged], probabilities, str(out)]
    )
    name = f"{_NAME_OK.sub('-', job.id)[:44].rstrip('-')}-b-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"
    definition = job.describe()["TrainingJobDefinition"]
    base = f"{definition['OutputDataConfig']['S3OutputPath'].rstrip('/')}/batch/{name}"
    s3 = job.session.client("s3")
    bucket, _, prefix = base[len("s3://") :].partition("/")
    manifest = {
        "job": job.id,
        "trial": chosen.number,
        "columns": columns,
        "probabilities": probabilities,
        "output": str(out),
        "inputs": [
            {
                "file": str(p),
                "key": f"{prefix}/input/{i:04d}-{p.stem}.csv",
                "rows": n,
                **({"sha256": file_sha256(p)} if keep else {}),
            }
            for i, (p, _, _, n) in enumerate(staged)
        ],
        "keep_columns": keep,  # read from the local inputs once the answers are down, not sent
    }
    for (_, body, _, _), item in zip(staged, manifest["inputs"], strict=True):
        aws_call(f"upload {item['file']}", s3.put_object, Bucket=bucket, Key=item["key"], Body=body)
    aws_call("upload the batch manifest", s3.put_object, Bucket=bucket, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest))
    instance = instance_type or CPU_BATCH
    environment = {BATCH_COLUMNS_ENV: json.dumps(columns), BATCH_PROBABILITIES_ENV: "1" if probabilities else "0"}
    sm = job.session.client("sagemaker")
    request = transform_request(
        name,
        model=name,
        input_uri=f"{base}/input/",
        output_uri=f"{base}/output/",
        instance_type=instance,
        instance_count=instance_count,
        max_payload_mb=max_payload_mb,
        job=job.id,
        spec_name=job.spec.name,
    )
    try:
        sm.describe_transform_job(TransformJobName=name)
        return SageMakerBatchJob(name, session=job.session, manifest=manifest)  # the same command again: follow its job
    except ClientError:
        pass
    try:
        serving_model(job, name, instance, trial=chosen.number, environment=environment)
    except AWSError as exc:
        if "already exist" not in str(exc):  # a model left by an attempt that stopped before its transform job
            raise
    aws_call(f"create transform job {name}", sm.create_transform_job, **request)
    return SageMakerBatchJob(name, session=job.session, manifest=manifest)


class SageMakerBatchJob(ServiceBatchJob):
    backend = "sagemaker"

    def __init__(self, name: str, *, session: Any = None, manifest: Optional[dict[str, Any]] = None):
        """`manifest`: the one the command that made this handle uploaded (else read from S3), so its options hold."""
        from .submit import session_for

        self.id = name
        self.session = session or session_for()
        self._manifest = manifest

    def describe(self) -> dict[str, Any]:
        return aws_call(
            f"describe transform job {self.id}", self.session.client("sagemaker").describe_transform_job, TransformJobName=self.id
        )

    @property
    def base(self) -> str:
        return self.describe()["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].rstrip("/").rsplit("/", 1)[0]

    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            bucket, _, prefix = self.base[len("s3://") :].partition("/")
            body = aws_call(
                "read the batch manifest", self.session.client("s3").get_object, Bucket=bucket, Key=f"{prefix}/manifest.json"
            )
            self._manifest = json.loads(body["Body"].read())
        return self._manifest

    @property
    def output(self) -> str:  # type: ignore[override]
        return self.manifest()["output"]

    def status(self) -> JobStatus:
        return _STATUS.get(self.describe()["TransformJobStatus"], JobStatus.RUNNING)

    def status_reason(self) -> Optional[str]:
        return self.describe().get("FailureReason")

    def logs(self) -> str:
        from .submit import AWSError

        try:
            return "\n".join(log_lines(self.session, LOG_GROUP, self.id))
        except AWSError as exc:
            if "ResourceNotFound" in str(exc):
                return ""  # no container has written yet
            raise

    def answers(self) -> pd.DataFrame:
        """The .out files read back in input order, one row per input row (the row count checked)."""
        import pandas as pd

        from .submit import AWSError

        s3 = self.session.client("s3")
        output = self.describe()["TransformOutput"]["S3OutputPath"].rstrip("/")
        bucket, _, prefix = output[len("s3://") :].partition("/")
        frames = []
        for item in self.manifest()["inputs"]:
            if not item["rows"]:  # a header alone was uploaded as nothing: the service need not write an .out for it
                frames.append(pd.DataFrame({"_file": pd.Series(dtype=object)}))
                continue
            key = f"{prefix}/{item['key'].rsplit('/', 1)[-1]}.out"
            try:
                body = aws_call(f"read {key}", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
            except AWSError as exc:
                if "NoSuchKey" not in str(exc):
                    raise
                raise BatchError(
                    f"{item['file']}: the transform {self.id} ended 'completed' but wrote no answer file for it "
                    f"(s3://{bucket}/{key} is missing); nothing was written. The same command finds this transform "
                    "again: score into another output file (-o) to run a new one"
                ) from None
            frame = pd.read_json(io.BytesIO(body), lines=True, dtype=False) if body.strip() else pd.DataFrame()
            if len(frame) != item["rows"]:
                raise BatchError(
                    f"{Path(item['file']).name}: the transform answered {len(frame)} rows for {item['rows']}; "
                    "the output would be misaligned, so it is not written"
                )
            frames.append(frame.assign(_file=item["file"]))
        answers = pd.concat(frames, ignore_index=True)
        return answers.assign(_row=range(len(answers)))

    def expected_rows(self) -> int:
        return sum(i["rows"] for i in self.manifest()["inputs"])

    def kept(self) -> tuple[list[str], list[dict[str, Any]]]:
        return list(self.manifest().get("keep_columns") or []), self.manifest()["inputs"]


__all__ = ["SageMakerBatchJob", "predict_batch", "transform_request"]
