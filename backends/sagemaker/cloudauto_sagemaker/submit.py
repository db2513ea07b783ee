"""Submitting a compiled tuning job: stage the source tarball and local data in S3, then create it.

boto3 throughout (no sagemaker SDK session): the request is already the API's own, and
`AWS_ENDPOINT_URL` sends every call to a moto server in tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import CompiledJob, CompileError
from cloudauto.runtime.bundle import bundle_files, tar_gz
from cloudauto.runtime.data import resolve
from cloudauto.runtime.sagemaker_entry import toolkit_decoded
from cloudauto.runtime.trial_inputs import checkpoints_file, local_checkpoints
from cloudauto.spec.errors import CloudautoError, SpecIssue
from cloudauto.spec.models import JobSpec

from .compile import channels, region_of, tuning_request
from .handle import SageMakerJob


class AWSError(CloudautoError):
    """An AWS call failed; the message carries AWS's own."""

    exit_code = 3


def session_for(spec: Optional[JobSpec] = None, region: Optional[str] = None) -> Any:
    """A boto3 session whose clients retry throttling with botocore's standard mode (backoff with jitter)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.get_session()
    core.set_default_client_config(Config(retries={"mode": os.environ.get("AWS_RETRY_MODE", "standard")}))
    return boto3.Session(botocore_session=core, region_name=region or (region_of(spec) if spec is not None else None))


def aws_call(what: str, fn: Any, **kwargs: Any) -> Any:
    """One AWS call; a ClientError or a missing credential becomes an AWSError naming what we tried."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AWSError(f"{what}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise AWSError(f"{what}: {exc}") from None


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def default_bucket(session: Any) -> str:
    """SageMaker's own convention: sagemaker-<region>-<account>."""
    account = aws_call("sts get-caller-identity", session.client("sts").get_caller_identity)["Account"]
    return f"sagemaker-{session.region_name}-{account}"


def ensure_bucket(session: Any, bucket: str, *, create: bool) -> None:
    from botocore.exceptions import ClientError

    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise AWSError(f"s3 bucket {bucket}: {code}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    if not create:
        raise AWSError(f"s3 bucket {bucket} (backends.sagemaker.bucket) does not exist")
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if session.region_name != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": session.region_name}
    aws_call(f"create s3 bucket {bucket}", s3.create_bucket, **kwargs)


def upload_path(session: Any, local: Path, s3_uri: str) -> int:
    """A file to the key itself, a folder to keys under it (a prefix ending in / or not); returns the number of files."""
    s3 = session.client("s3")
    bucket, key = _s3_parts(s3_uri)
    if local.is_file():
        aws_call(f"upload {local}", s3.upload_file, Filename=str(local), Bucket=bucket, Key=key)
        return 1
    files = sorted(p for p in local.rglob("*") if p.is_file())
    for path in files:
        aws_call(
            f"upload {path}",
            s3.upload_file,
            Filename=str(path),
            Bucket=bucket,
            Key=f"{key.rstrip('/')}/{path.relative_to(local).as_posix()}",
        )
    return len(files)


def submit(job: CompiledJob, *, session: Any = None, quiet: bool = False) -> SageMakerJob:
    spec = job.spec
    settings = spec.backends.sagemaker
    role = settings.role or os.environ.get("SAGEMAKER_ROLE")
    if not role:
        raise CompileError(
            "sagemaker",
            [
                spec.locate(
                    SpecIssue(
                        "submit needs an IAM role: set backends.sagemaker.role (or SAGEMAKER_ROLE)",
                        ("backends", "sagemaker", "role"),
                    )
                )
            ],
        )
    session = session or session_for(spec)
    bucket = settings.bucket or default_bucket(session)
    request, _, _ = tuning_request(spec, bucket=bucket, role=role)
    definition = request["TrainingJobDefinition"]

    # check every local input before anything is uploaded: a missing file uploads nothing
    uploads: list[tuple[Path, str]] = []
    for local_uri, s3_uri in channels(spec, bucket, request["HyperParameterTuningJobName"])[1]:
        local = Path(resolve(local_uri.removeprefix("file://"), spec.base_dir))
        if not local.exists():
            role = next((r for r, u in spec.data.uris().items() if u == local_uri), "train")
            raise CompileError("sagemaker", [spec.locate(SpecIssue(f"{local}: no such file or folder", ("data", role)))])
        uploads.append((local, s3_uri))
    source = tar_gz(bundle_files(spec, extra=checkpoints_file(local_checkpoints(spec)[0])))

    ensure_bucket(session, bucket, create=not settings.bucket)
    s3 = session.client("s3")
    src_bucket, src_key = _s3_parts(toolkit_decoded(definition["StaticHyperParameters"])["sagemaker_submit_directory"])
    aws_call("upload the source tarball", s3.put_object, Bucket=src_bucket, Key=src_key, Body=source)
    for local, uri in uploads:
        upload_path(session, local, uri)
    sm = session.client("sagemaker")
    name = request["HyperParameterTuningJobName"]
    from botocore.exceptions import ClientError

    try:
        sm.create_hyper_parameter_tuning_job(**request)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") != "ResourceInUse":
            raise AWSError(f"create tuning job {name}: {error.get('Code')}: {error.get('Message')}") from None
        if not quiet:  # names are derived from the spec: a retry of the same spec finds its own job
            print(f"tuning job {name} exists already (same spec): following it", file=sys.stderr)
    return SageMakerJob(name, session=session, spec=spec)


__all__ = ["AWSError", "aws_call", "default_bucket", "ensure_bucket", "session_for", "submit", "upload_path"]
