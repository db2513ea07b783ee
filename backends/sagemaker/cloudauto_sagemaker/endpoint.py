"""The best trial's model on a SageMaker real-time endpoint, and scoring against it.

The training job's model.tar.gz is repacked with `code/inference.py` (cloudauto's handler,
the SageMaker inference toolkit's `model_fn`/`transform_fn`) as the SageMaker SDK does
for framework models, and served by the AutoGluon DLC of the release the model records
(AutoGluon 1.6's one image trains and serves; `deploy` refuses an image of another release).
Scoring goes through `sagemaker-runtime InvokeEndpoint` in CSV batches under its 6 MB
limit; botocore's standard retry mode backs off on throttling with jitter.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from typing import Any, Optional

from cloudauto.backend import Endpoint
from cloudauto.endpoints import resource_tags
from cloudauto.runtime.bundle import serving_files
from cloudauto.runtime.foundation import GPU_SERVING_TASKS
from cloudauto.runtime.versions import MODEL_INFO, mismatch
from cloudauto.scoring import (
    MAX_PAYLOAD,
    ScoringError,
    as_frame,
    body_encoder,
    checked_kept,
    forecast,
    image_paths,
    score_batches,
    score_images,
    spans,
    with_kept,
)
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.metrics import Task

from .compile import image_autogluon, image_uri
from .handle import SageMakerJob
from .submit import aws_call

CPU_SERVING, GPU_SERVING = "ml.m5.xlarge", "ml.g4dn.xlarge"
TASK_ENV = "CLOUDAUTO_TASK"  # set on a serving model: the task its endpoint serves
# what SageMaker accepts for ServerlessConfig (MemorySizeInMB steps of 1 GB, MaxConcurrency per endpoint)
SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
SERVERLESS_DEFAULT_MEMORY, SERVERLESS_DEFAULT_CONCURRENCY = 4096, 5
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def model_release(model_tar: bytes) -> Optional[str]:
    """The AutoGluon release a training job's model.tar.gz records (None when it does not say)."""
    with tarfile.open(fileobj=io.BytesIO(model_tar), mode="r:gz") as source:
        for member in source.getmembers():
            if member.isfile() and member.name.rsplit("/", 1)[-1] == MODEL_INFO:  # the predictor may sit a folder down
                data = source.extractfile(member)
                try:
                    return json.loads(data.read()).get("autogluon_version") if data else None
                except ValueError:
                    return None
    return None


def repack(model_tar: bytes, spec: Any = None) -> bytes:
    """model.tar.gz + code/ (inference.py, cloudauto, requirements.txt with the packages the spec's foundation
    families load through): what the inference container reads."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(model_tar), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member in source.getmembers():
            if member.name.startswith("code/") or member.name == "code":
                continue
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        code = {f"code/{k}": v for k, v in serving_files(spec).items()}
        for name in sorted(code):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(code[name]), 0o644
            tar.addfile(info, io.BytesIO(code[name]))
    return gzip.compress(out.getvalue(), mtime=0)


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def serving_model(
    job: SageMakerJob,
    name: str,
    instance: str,
    *,
    trial: Optional[int] = None,
    environment: Optional[dict[str, str]] = None,
    tags: Optional[dict[str, str]] = None,
) -> str:
    """A SageMaker model of the trial's artifact, repacked with cloudauto's handler, on the serving image: its name.

    The endpoint and the batch transform serve the same model this way.
    """
    spec, session = job.spec, job.session
    definition = job.describe()["TrainingJobDefinition"]
    model_uri = job.model_uri(job.trial(trial) if trial is not None else None)
    s3 = session.client("s3")
    bucket, _, key = model_uri[len("s3://") :].partition("/")
    original = aws_call(f"download {model_uri}", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
    region = session.region_name
    image, _ = image_uri(spec, region, instance, scope="inference")
    problem = mismatch(model_release(original), image_autogluon(image), f"the serving image {image}")
    if problem:  # refused before anything is created: an endpoint that cannot load its model still bills
        raise CloudautoError(f"cannot serve {model_uri}: {problem} (backends.sagemaker.serving_image_uri pins another)")
    out_bucket, _, out_prefix = definition["OutputDataConfig"]["S3OutputPath"][len("s3://") :].partition("/")
    packed_key = f"{out_prefix.rstrip('/')}/endpoints/{name}/model.tar.gz"
    aws_call("upload the repacked model", s3.put_object, Bucket=out_bucket, Key=packed_key, Body=repack(original, spec))
    aws_call(
        f"create model {name}",
        session.client("sagemaker").create_model,
        ModelName=name,
        ExecutionRoleArn=definition["RoleArn"],
        PrimaryContainer={
            "Image": image,
            "ModelDataUrl": f"s3://{out_bucket}/{packed_key}",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_REGION": region,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                TASK_ENV: spec.task.value,  # what the model is, for an endpoint handle made from its name alone
                **(environment or {}),
            },
        },
        Tags=aws_tags(tags or resource_tags(job.id, spec.name)),
    )
    return name


def serverless_config(
    memory_mb: int, max_concurrency: int, spec_task: Task, spec: Any = None, params: Optional[dict[str, Any]] = None
) -> dict[str, int]:
    """ServerlessConfig, checked against what SageMaker accepts before anything is created; `params`: the served
    trial's (its foundation models are what the container holds), else every trial of the spec counts."""
    if memory_mb not in SERVERLESS_MEMORY:
        raise CloudautoError(
            f"--memory {memory_mb}: SageMaker serverless endpoints take {', '.join(map(str, SERVERLESS_MEMORY))} MB"
        )
    if not 1 <= max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
        raise CloudautoError(f"--max-concurrency {max_concurrency}: SageMaker takes 1-{SERVERLESS_MAX_CONCURRENCY}")
    if spec_task in GPU_SERVING_TASKS:
        raise CloudautoError(
            f"task {spec_task.value}: serverless endpoints have no GPU; deploy this model on an instance "
            f"(--instance-type, default {GPU_SERVING})"
        )
    if spec is not None:  # a foundation model's weights and activations in the container's memory
        from cloudauto.runtime.foundation import serving_memory_mb

        needed = serving_memory_mb(spec, params)
        if needed and needed > memory_mb:
            raise CloudautoError(
                f"this model serves a foundation model that needs about {needed} MB; --memory {memory_mb} cannot hold it"
                + (
                    f": deploy with --memory {needed}"
                    if needed <= max(SERVERLESS_MEMORY)
                    else f" and serverless endpoints stop at {max(SERVERLESS_MEMORY)} MB: deploy on an instance "
                    f"(--instance-type, default {GPU_SERVING})"
                )
            )
    return {"MemorySizeInMB": memory_mb, "MaxConcurrency": max_concurrency}


def deploy(
    job: SageMakerJob,
    *,
    name: str,
    instance_type: Optional[str] = None,
    instance_count: int = 1,
    wait: bool = True,
    trial: Optional[int] = None,
    serverless: bool = False,
    memory_mb: Optional[int] = None,
    max_concurrency: Optional[int] = None,
    ttl: Optional[float] = None,
) -> SageMakerEndpoint:
    if not _NAME.match(name):
        raise CloudautoError(f"endpoint name '{name}': SageMaker takes 1-63 letters, digits and hyphens")
    if not serverless and (memory_mb is not None or max_concurrency is not None):
        raise CloudautoError("--memory and --max-concurrency are for serverless endpoints: add --serverless")
    if serverless and instance_type:
        raise CloudautoError("a serverless endpoint has no instance type: leave --instance-type out, or --serverless")
    served = job.trial(trial) if trial is not None else job.best_trial()  # what the endpoint will hold
    params = served.params if served is not None else None
    if serverless:
        config = serverless_config(
            memory_mb or SERVERLESS_DEFAULT_MEMORY,
            max_concurrency or SERVERLESS_DEFAULT_CONCURRENCY,
            job.spec.task,
            job.spec,
            params,
        )
        variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": name, "ServerlessConfig": config}
        instance = CPU_SERVING  # the CPU serving image
    else:
        from cloudauto.runtime.foundation import serves_on_gpu

        instance = instance_type or (GPU_SERVING if serves_on_gpu(job.spec, params) else CPU_SERVING)  # the served trial's
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": name,
            "InstanceType": instance,
            "InitialInstanceCount": instance_count,
        }
    tags = resource_tags(job.id, job.spec.name, ttl=ttl)  # before anything is created: a bad ttl creates nothing
    serving_model(job, name, instance, trial=trial, tags=tags)
    sm = job.session.client("sagemaker")
    aws_call(
        f"create endpoint config {name}",
        sm.create_endpoint_config,
        EndpointConfigName=name,
        ProductionVariants=[variant],
        Tags=aws_tags(tags),
    )
    aws_call(f"create endpoint {name}", sm.create_endpoint, EndpointName=name, EndpointConfigName=name, Tags=aws_tags(tags))
    endpoint = SageMakerEndpoint(name, session=job.session, task=job.spec.task)
    if wait:
        endpoint.wait()
    return endpoint


class SageMakerEndpoint(Endpoint):
    backend = "sagemaker"

    def __init__(
        self, name: str, *, session: Any = None, task: Optional[Task] = None, max_rows: int = 1000, max_bytes: int = MAX_PAYLOAD
    ):
        """`task`: what the served model is (None: read from the endpoint's model when a forecast needs to know)."""
        from botocore.config import Config

        from .submit import session_for

        self.name, self.task, self._task_read = name, task, task is not None
        self.session = session or session_for()
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.binary = True  # cloudauto's handler serves: numeric rows may go as npy
        retry = Config(retries={"mode": "standard", "max_attempts": 6}, read_timeout=70)
        self._runtime = aws_call(
            "connect to SageMaker (set AWS_REGION)", self.session.client, service_name="sagemaker-runtime", config=retry
        )
        self._sm = aws_call("connect to SageMaker (set AWS_REGION)", self.session.client, service_name="sagemaker")
        self._removed, self._found = False, False

    def status(self) -> str:
        from botocore.exceptions import ClientError

        if self._removed:
            raise CloudautoError(self._gone())
        try:
            return self._sm.describe_endpoint(EndpointName=self.name)["EndpointStatus"]
        except ClientError as exc:
            if _missing(exc):
                raise CloudautoError(self._gone()) from None
        return aws_call(f"describe endpoint {self.name}", self._sm.describe_endpoint, EndpointName=self.name)["EndpointStatus"]

    def _gone(self) -> str:
        if self._removed:
            return f"endpoint {self.name} was removed (deleted by this process); deploy the job again to serve it"
        return (
            f"endpoint {self.name} does not exist in {self.session.region_name}: it was removed (deleted, or expired and "
            "removed by cloudauto endpoints --expired --delete), or never deployed there"
        )

    def wait(self, timeout: float = 3600) -> None:
        from botocore.exceptions import WaiterError

        try:
            self._sm.get_waiter("endpoint_in_service").wait(
                EndpointName=self.name, WaiterConfig={"Delay": 15, "MaxAttempts": max(1, int(timeout // 15))}
            )
        except WaiterError:
            reason = aws_call(f"describe endpoint {self.name}", self._sm.describe_endpoint, EndpointName=self.name).get(
                "FailureReason", "not InService in time"
            )
            raise CloudautoError(f"endpoint {self.name} did not come up: {reason}") from None

    def invoke(self, body: bytes, content_type: str = "text/csv", accept: str = "application/json") -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._removed:
            raise ScoringError(self._gone())
        try:
            response = self._runtime.invoke_endpoint(EndpointName=self.name, Body=body, ContentType=content_type, Accept=accept)
        except ClientError as exc:
            if _missing(exc):
                raise ScoringError(self._gone(), 404) from None
            error = exc.response.get("Error", {})
            message = exc.response.get("OriginalMessage") or error.get("Message", str(exc))
            status = exc.response.get("OriginalStatusCode") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise ScoringError(f"endpoint {self.name} answered {error.get('Code', 'error')}: {message}", status) from None
        except BotoCoreError as exc:
            raise ScoringError(f"cannot reach endpoint {self.name}: {exc}") from None
        return response["Body"].read()

    def score(self, data: Any, *, concurrency: int = 2, keep_columns: Optional[list[str]] = None) -> Any:
        """Predictions for every row, in batches of at most `max_rows` rows and 6 MB, `concurrency` in flight;
        `keep_columns` (an ID, say) copied from the input in front of them.

        Image files (one, a list, or a folder of them) go to an image model as base64 JSON
        instances: one row per image with its class and each class's probability.
        """
        if not self._found:  # once per handle: a removed endpoint says so, not as a failed request
            self.status()
            self._found = True
        images = image_paths(data)
        if images is not None:
            if keep_columns:
                raise ScoringError("keep_columns: an image endpoint answers per image, with its path")
            return score_images(images, lambda body: self.invoke(body, "application/json"), self.max_bytes)
        frame = as_frame(data)
        if self.served_task() is Task.TIME_SERIES_FORECASTING:  # each series' history together, in one request
            return forecast(frame, keep_columns or [], self.max_bytes, lambda body: self.invoke(body, "text/csv"))
        keep = checked_kept(frame, keep_columns)
        encode, content_type, accept = body_encoder(frame, self.binary)
        bodies = spans(frame, self.max_rows, self.max_bytes, encode)  # a refused row is named over the input
        return with_kept(
            frame,
            score_batches(
                frame,
                bodies,
                lambda body: self.invoke(body, content_type, accept),
                concurrency=concurrency,
                who=f"endpoint {self.name}",
            ),
            keep,
        )

    def served_task(self) -> Optional[Task]:
        """The task of the model served: given (`task=`), else the endpoint's model's environment says it (None: an
        endpoint deployed before it did, served as a tabular one). A role that may only invoke the endpoint (no
        DescribeEndpointConfig / DescribeModel: AccessDenied) scores as a tabular one too; name the task to say otherwise."""
        if not self._task_read:
            self.task = self._described_task()
            self._task_read = True
        return self.task

    def _described_task(self) -> Optional[Task]:
        from botocore.exceptions import ClientError

        from .submit import AWSError, botocore_call, error_text

        what = f"describe endpoint {self.name}"
        try:
            config = botocore_call(what, self._sm.describe_endpoint, EndpointName=self.name)
            named = config["EndpointConfigName"]
            variants = botocore_call(what, self._sm.describe_endpoint_config, EndpointConfigName=named)["ProductionVariants"]
            model = botocore_call(what, self._sm.describe_model, ModelName=variants[0]["ModelName"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ACCESS_DENIED:
                return None  # scoring needs only InvokeEndpoint: a tabular endpoint, unless the caller names the task
            code, message = error_text(exc)
            raise AWSError(f"describe endpoint {self.name}'s model: {code}: {message}") from None
        value = model.get("PrimaryContainer", {}).get("Environment", {}).get(TASK_ENV)
        return Task(value) if value in {t.value for t in Task} else None

    def delete(self) -> None:
        """The endpoint, its config and its model (what deploy created)."""
        from botocore.exceptions import ClientError

        for what, call, key in (
            ("endpoint", self._sm.delete_endpoint, "EndpointName"),
            ("endpoint config", self._sm.delete_endpoint_config, "EndpointConfigName"),
            ("model", self._sm.delete_model, "ModelName"),
        ):
            try:
                call(**{key: self.name})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
                    from .submit import error_text

                    code, message = error_text(exc)
                    raise CloudautoError(f"delete {what} {self.name}: {code}: {message}") from None
        self._removed, self._found = True, False


# the codes IAM answers with when the role may not make a call
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


def _missing(exc: Any) -> bool:
    """SageMaker's answer for a name it has no endpoint of (a ValidationException that says so)."""
    error = exc.response.get("Error", {})
    message = error.get("Message", "")
    return error.get("Code") in ("ValidationException", "ResourceNotFound") and (
        "not found" in message.lower() or "could not find" in message.lower()
    )


def list_endpoints(session: Any = None) -> list[Any]:
    """cloudauto's endpoints in this region (tagged cloudauto:creator or cloudauto:job), with instances and price."""
    from cloudauto.endpoints import EndpointInfo, is_ours, priced, priced_serverless

    from .submit import session_for

    session = session or session_for()
    sm = aws_call("connect to SageMaker (set AWS_REGION)", session.client, service_name="sagemaker")
    found: list[Any] = []
    kwargs: dict[str, Any] = {"MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Ascending"}
    while True:
        page = aws_call("list endpoints", sm.list_endpoints, **kwargs)
        for summary in page.get("Endpoints", []):
            tags = {t["Key"]: t["Value"] for t in aws_call("list tags", sm.list_tags, ResourceArn=summary["EndpointArn"])["Tags"]}
            if not is_ours(tags):
                continue
            described = aws_call(
                f"describe endpoint {summary['EndpointName']}", sm.describe_endpoint, EndpointName=summary["EndpointName"]
            )
            config = aws_call(
                "describe endpoint config", sm.describe_endpoint_config, EndpointConfigName=described["EndpointConfigName"]
            )
            variant = (config.get("ProductionVariants") or [{}])[0]
            serverless = "ServerlessConfig" in variant
            info = EndpointInfo.from_tags(
                summary["EndpointName"],
                "sagemaker",
                summary.get("EndpointStatus", "?"),
                tags,
                created=summary["CreationTime"].timestamp() if summary.get("CreationTime") else None,
                instance_type="serverless" if serverless else variant.get("InstanceType"),
                instance_count=variant.get("InitialInstanceCount", 1),
            )
            if serverless:  # billed per GB-second and request, not per hour
                found.append(priced_serverless(info, session.region_name))
            else:
                found.append(priced(info, session.region_name))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


__all__ = ["SageMakerEndpoint", "deploy", "repack"]
