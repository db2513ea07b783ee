"""Submitting a compiled tuning job: stage the source tarball and local data in S3, then create it.

boto3 throughout (no sagemaker SDK session): the request is already the API's own, and
`AWS_ENDPOINT_URL` sends every call to a moto server in tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import CompiledJob, CompileError, NotConfigured, request_json
from cloudauto.runtime.bundle import gz
from cloudauto.runtime.data import resolve
from cloudauto.runtime.sagemaker_entry import toolkit_decoded
from cloudauto.spec.errors import CloudautoError, SpecIssue
from cloudauto.spec.models import JobSpec

from .compile import channels, job_name, run_identity, source_tar, tuning_request
from .handle import SageMakerJob


class AWSError(CloudautoError):
    """An AWS call failed; the message carries AWS's own."""

    exit_code = 3


class AWSNotConfigured(AWSError, NotConfigured):
    """No AWS region or credentials on this machine."""


NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, "
    "or sign in (`aws configure`, `aws sso login`)"
)
NO_REGION = "no AWS region: set AWS_DEFAULT_REGION (or a region in your AWS profile)"
SPEC_REGION = ", or backends.sagemaker.region in the spec"  # said only where a spec is at hand


def session_for(spec: Optional[JobSpec] = None, region: Optional[str] = None) -> Any:
    """A boto3 session whose clients retry throttling with botocore's standard mode (backoff with jitter).

    The region: `region`, the spec's `backends.sagemaker.region`, AWS_REGION, AWS_DEFAULT_REGION, then the
    profile's; none is an AWSError saying where to set one (botocore's NoRegionError names neither).
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.get_session()
    core.set_default_client_config(Config(retries={"mode": os.environ.get("AWS_RETRY_MODE", "standard")}))
    chosen = (
        region
        or (spec.backends.sagemaker.region if spec is not None else None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    session = boto3.Session(botocore_session=core, region_name=chosen or None)
    if not session.region_name:
        raise AWSNotConfigured(NO_REGION + (SPEC_REGION if spec is not None else ""))
    if session.get_credentials() is None:  # botocore's chain, resolved once per session: later calls reuse it
        raise AWSNotConfigured(NO_CREDENTIALS)
    return session


MESSAGE_CAP = 200


def one_line(text: Any, cap: int = MESSAGE_CAP) -> str:
    """A service's error text as one short line: an HTML page (an emulator's or a proxy's 500) by its title or first
    text, whitespace collapsed, cut at `cap` characters. Every place that shows AWS's message uses it."""
    import html
    import re

    text = str(text)
    if re.search(r"<(!doctype|html|head|body|title|h1|p)\b", text, re.IGNORECASE):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.IGNORECASE | re.DOTALL)
        found = title or heading
        if found and found.group(1).strip():
            text = found.group(1)
        else:
            text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
            text = re.sub(r"<!--.*?-->|<[^>]*>", " ", text, flags=re.DOTALL)
        text = html.unescape(text)
    text = " ".join(text.split())
    return text if len(text) <= cap else text[: cap - 3].rstrip() + "..."


def error_text(exc: Any) -> tuple[str, str]:
    """(code, message) of a ClientError, both one short line (one_line)."""
    error = getattr(exc, "response", None) or {}
    error = error.get("Error", {}) if isinstance(error, dict) else {}
    return one_line(error.get("Code", "error"), 80), one_line(error.get("Message", exc))


def botocore_call(what: str, fn: Any, **kwargs: Any) -> Any:
    """One AWS call whose service answer (ClientError) the caller reads; botocore's own failures
    (no credentials, no region, no connection) become an AWSError naming what we tried."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError, NoRegionError

    try:
        return fn(**kwargs)
    except NoCredentialsError:
        raise AWSNotConfigured(f"{what}: {NO_CREDENTIALS}") from None
    except NoRegionError:
        raise AWSNotConfigured(f"{what}: {NO_REGION}") from None
    except BotoCoreError as exc:
        raise AWSError(f"{what}: {one_line(exc)}") from None


def aws_call(what: str, fn: Any, **kwargs: Any) -> Any:
    """One AWS call; a ClientError or a missing credential becomes an AWSError naming what we tried."""
    from botocore.exceptions import ClientError

    try:
        return botocore_call(what, fn, **kwargs)
    except ClientError as exc:
        code, message = error_text(exc)
        raise AWSError(f"{what}: {code}: {message}") from None


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
        botocore_call(f"s3 bucket {bucket}", s3.head_bucket, Bucket=bucket)
        return
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise AWSError(f"s3 bucket {bucket}: {code}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    if not create:
        raise AWSError(
            f"s3 bucket {bucket} (backends.sagemaker.bucket or SAGEMAKER_BUCKET) does not exist: "
            "`cloudauto setup sagemaker --bucket NAME` makes one"
        )
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


MAX_RUNS = 100  # runs of one identity a submit looks through before it gives up
_RUNNING = {"InProgress"}


def tuning_job_status(sm: Any, name: str) -> Optional[str]:
    """The status of the tuning job of that name; None when there is none."""
    from botocore.exceptions import ClientError

    try:
        described = botocore_call(
            f"describe tuning job {name}", sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName=name
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in ("ResourceNotFound", "ResourceNotFoundException"):  # SageMaker's answer for no such name
            return None
        raise AWSError(f"describe tuning job {name}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
    return described["HyperParameterTuningJobStatus"]


def choose_name(sm: Any, spec: JobSpec, identity: str, *, quiet: bool = False) -> tuple[str, bool]:
    """(the job's name, whether that job is running already) for this run identity.

    A running job of the same identity is followed; one that ended is left as it is (its S3
    prefix too) and the next name of the identity is taken, so a retry of that submit finds
    the new job in turn.
    """
    ended: Optional[tuple[str, str]] = None
    for attempt in range(MAX_RUNS):
        name = job_name(spec, identity, attempt)
        status = tuning_job_status(sm, name)
        if status in _RUNNING:
            if not quiet:
                print(f"tuning job {name} runs the same spec, data and code already: following it", file=sys.stderr)
            return name, True
        if status is None:
            if ended is not None and not quiet:
                print(
                    f"tuning job {ended[0]} ran the same spec, data and code and ended ({ended[1]}): starting a new job, {name}",
                    file=sys.stderr,
                )
            return name, False
        ended = (name, status)
    raise AWSError(f"{MAX_RUNS} tuning jobs ran this spec, data and code already; change the spec's name for a new one")


def submit(job: CompiledJob, *, session: Any = None, quiet: bool = False) -> SageMakerJob:
    """Stage and create the tuning job, named by the run's identity (spec, data content, code).

    The name is chosen before anything is uploaded, and every upload goes under that job's own
    prefix: an existing job's inputs are never written over.
    """
    spec = job.spec
    settings = spec.backends.sagemaker
    role = settings.role or os.environ.get("SAGEMAKER_ROLE")
    if not role:  # the backend is not set up (exit 3, as a missing credential or region), not a spec SageMaker cannot take
        raise AWSError(
            "no IAM role for SageMaker training: set SAGEMAKER_ROLE to the ARN of a role SageMaker can assume "
            "(or backends.sagemaker.role in the spec); nothing was uploaded"
        )
    # check every local input before anything is uploaded: a missing file uploads nothing
    for local_uri, _ in channels(spec, "bucket", "job")[1]:
        local = Path(resolve(local_uri.removeprefix("file://"), spec.base_dir))
        if not local.exists():
            data_role = next((r for r, u in spec.data.uris().items() if u == local_uri), "train")
            raise CompileError("sagemaker", [spec.locate(SpecIssue(f"{local}: no such file or folder", ("data", data_role)))])
    raw = source_tar(spec)
    identity = run_identity(spec, raw)
    source = gz(raw)

    session = session or session_for(spec)
    sm = session.client("sagemaker")
    from .completion import check_parents

    check_parents(sm, spec)  # sweep.warm_start: before anything is uploaded
    name, running = choose_name(sm, spec, identity, quiet=quiet)
    if running:  # nothing is uploaded: its inputs are its own, and they are what this submit would upload
        return SageMakerJob(name, session=session, spec=spec)
    named = settings.bucket or os.environ.get("SAGEMAKER_BUCKET")  # `cloudauto setup sagemaker` prints it
    bucket = named or default_bucket(session)
    request, _, _ = tuning_request(spec, bucket=bucket, role=role, name=name, region=session.region_name)
    request_json(request, what=f"the tuning job request {name}")  # a NaN never reaches the service (botocore would send it)
    definition = request["TrainingJobDefinition"]
    uploads = [
        (Path(resolve(local.removeprefix("file://"), spec.base_dir)), uri) for local, uri in channels(spec, bucket, name)[1]
    ]

    ensure_bucket(session, bucket, create=not named)
    s3 = session.client("s3")
    src_bucket, src_key = _s3_parts(toolkit_decoded(definition["StaticHyperParameters"])["sagemaker_submit_directory"])
    aws_call("upload the source tarball", s3.put_object, Bucket=src_bucket, Key=src_key, Body=source)
    for local, uri in uploads:
        upload_path(session, local, uri)
    from botocore.exceptions import ClientError

    try:
        botocore_call(f"create tuning job {name}", sm.create_hyper_parameter_tuning_job, **request)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # a twin submit of the same identity created it meanwhile: it uploaded the same bytes to this prefix
        if error.get("Code") != "ResourceInUse" or tuning_job_status(sm, name) not in _RUNNING:
            raise AWSError(f"create tuning job {name}: {error.get('Code')}: {error.get('Message')}") from None
        if not quiet:
            print(f"tuning job {name} runs the same spec, data and code already: following it", file=sys.stderr)
    return SageMakerJob(name, session=session, spec=spec)


__all__ = [
    "AWSError",
    "aws_call",
    "botocore_call",
    "choose_name",
    "tuning_job_status",
    "default_bucket",
    "ensure_bucket",
    "session_for",
    "submit",
    "upload_path",
]
