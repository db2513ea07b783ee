"""The best trial's model on an Azure ML managed online endpoint, and scoring against it.

As in the Azure AutoML tutorials: register the best child run's model, create a
`ManagedOnlineEndpoint` (key auth), a `ManagedOnlineDeployment` on it, and send it all
traffic. AutoML (engine: native) models are MLflow models and need no scoring script;
cloudauto's AutoGluon models are custom models served by `score.py` (cloudauto's
`init()/run()`) in `backends.azureml.environment`. Scoring posts Azure's
`{"input_data": {columns, index, data}}` JSON to the scoring URI with the endpoint key as a
bearer token, through the same HTTP client as every other endpoint.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import Endpoint, NoModel, NotSupportedError, Trial
from cloudauto.endpoints import resource_tags
from cloudauto.runtime.bundle import serving_files, write_folder
from cloudauto.scoring import (
    MAX_PAYLOAD,
    HTTPScorer,
    ScoringError,
    as_frame,
    checked_kept,
    image_paths,
    score_batches,
    spans,
    with_kept,
)
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine

from .handle import AzureMLJob
from .submit import azure_call

DEPLOYMENT = "cloudauto"
CPU_SERVING, GPU_SERVING = "Standard_DS3_v2", "Standard_NC6s_v3"
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
_SCORE = b'"""Azure ML loads this scoring script: cloudauto\'s handler."""\nfrom cloudauto.runtime.inference import init, run  # noqa: F401\n'


def best_child(job: AzureMLJob, trials: Optional[list[Trial]] = None) -> str:
    """The service's own pick (AutoML's tag, a sweep's `best_child_run_id` property); otherwise the best trial."""
    parent = job.get()
    for source in (parent.tags or {}, parent.properties or {}):
        for key in ("automl_best_child_run_id", "best_child_run_id"):
            if source.get(key):
                return source[key]
    trial = job.best_trial(trials)
    if trial is None:
        raise NoModel(f"job {job.id} has no finished trial with an objective value to deploy")
    return trial.id


def served_child(job: AzureMLJob, trial: Optional[int]) -> tuple[str, Optional[dict[str, Any]]]:
    """The child run an endpoint serves (trial number `trial`, else the best) and its parameters: its foundation
    models, not the spec's, choose the default instance (None when the trials do not list that run)."""
    if trial is not None:
        chosen = job.trial(trial)
        return chosen.id, chosen.params
    trials = job.trials()
    child = best_child(job, trials)
    return child, next((t.params for t in trials if t.id == child), None)


def deploy(
    job: AzureMLJob,
    *,
    name: str,
    instance_type: Optional[str] = None,
    instance_count: int = 1,
    wait: bool = True,
    trial: Optional[int] = None,
    ttl: Optional[float] = None,
) -> AzureEndpoint:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    if not _NAME.match(name):
        raise CloudautoError(f"endpoint name '{name}': Azure ML takes 3-32 letters, digits and hyphens, starting with a letter")
    spec, client = job.spec, job.client
    resource_tags(job.id, spec.name, ttl=ttl)  # a bad ttl is refused before anything is created
    if spec.engine is Engine.COMMAND:
        raise NotSupportedError(
            "engine: command jobs declare no model output cloudauto could serve; register your model with azure-ai-ml"
        )
    child, params = served_child(job, trial)
    if spec.engine is Engine.NATIVE:
        model = Model(
            path=f"azureml://jobs/{child}/outputs/artifacts/paths/outputs/mlflow-model/",
            name=f"{spec.name}-model",
            type=AssetTypes.MLFLOW_MODEL,
            description=f"best trial {child} of {job.id}",
        )
    else:
        # run_trial saves the predictor in model/ inside the trial's `model` output
        model = Model(
            path=f"azureml://jobs/{child}/outputs/model/paths/model/", name=f"{spec.name}-model", type=AssetTypes.CUSTOM_MODEL
        )
    registered = azure_call(f"register the model of {child}", client.models.create_or_update, model)
    tags = resource_tags(job.id, spec.name, ttl=ttl)
    endpoint = ManagedOnlineEndpoint(name=name, auth_mode="key", tags=tags)
    azure_call(f"create endpoint {name}", lambda: client.online_endpoints.begin_create_or_update(endpoint).result())
    from cloudauto.runtime.foundation import serves_on_gpu

    instance = instance_type or (GPU_SERVING if serves_on_gpu(spec, params) else CPU_SERVING)  # the served trial's models
    with tempfile.TemporaryDirectory(prefix="cloudauto-serve-") as tmp:
        extra: dict[str, Any] = {}
        if spec.engine is not Engine.NATIVE:
            from .compile import default_environment

            folder = write_folder({**serving_files(), "score.py": _SCORE}, Path(tmp) / "serve")
            extra = {
                "environment": spec.backends.azureml.environment or default_environment(spec.task, spec),
                "code_configuration": CodeConfiguration(code=str(folder), scoring_script="score.py"),
            }
        deployment = ManagedOnlineDeployment(
            name=DEPLOYMENT,
            endpoint_name=name,
            model=registered.id,  # the registered version, by reference
            instance_type=instance,
            instance_count=instance_count,
            **extra,
        )
        azure_call(
            f"create deployment {name}/{DEPLOYMENT}",
            lambda: client.online_deployments.begin_create_or_update(deployment).result(),
        )
    endpoint.traffic = {DEPLOYMENT: 100}
    azure_call(f"route traffic on {name}", lambda: client.online_endpoints.begin_create_or_update(endpoint).result())
    return AzureEndpoint(name, client=client, task=spec.task)


class AzureEndpoint(Endpoint):
    backend = "azureml"

    def __init__(
        self, name: str, *, client: Any, task: Optional[Task] = None, max_rows: int = 1000, max_bytes: int = MAX_PAYLOAD
    ):
        self.name, self.client, self.task, self.max_rows, self.max_bytes = name, client, task, max_rows, max_bytes
        self._scorer: Optional[HTTPScorer] = None
        self._removed = False

    @property
    def scoring_uri(self) -> str:
        from azure.core.exceptions import ResourceNotFoundError

        if self._removed:
            raise ScoringError(f"endpoint {self.name} was removed (deleted by this process); deploy the job again to serve it")
        try:
            return self.client.online_endpoints.get(self.name).scoring_uri
        except ResourceNotFoundError:
            raise ScoringError(
                f"endpoint {self.name} does not exist in this workspace: it was removed (deleted, or expired and removed by "
                "cloudauto endpoints --expired --delete), or never deployed here",
                404,
            ) from None
        except Exception:  # anything else as every other call reports it
            return azure_call(f"get endpoint {self.name}", self.client.online_endpoints.get, self.name).scoring_uri

    def scorer(self) -> HTTPScorer:
        if self._scorer is None:
            uri = self.scoring_uri  # first: a removed endpoint says so
            keys = azure_call(f"keys of endpoint {self.name}", self.client.online_endpoints.get_keys, self.name)
            self._scorer = HTTPScorer(uri, path="", key=keys.primary_key, headers={"azureml-model-deployment": DEPLOYMENT})
        return self._scorer

    def score(self, data: Any, *, concurrency: int = 2, keep_columns: Optional[list[str]] = None) -> Any:
        """A DataFrame of predictions for rows. For image files (one, a list, a folder): AutoML's answer per image
        (boxes, labels, scores); a cloudauto image model's answers as a DataFrame, one row per image (its path,
        class and each class's probability), as on every backend."""
        images = image_paths(data)
        if images is not None:
            if keep_columns:
                raise ScoringError("keep_columns: an image endpoint answers per image, with its path")
            answers = self.score_images(images)
            if all(isinstance(a, dict) and "prediction" in a for a in answers):
                import pandas as pd

                return pd.DataFrame({"image": [str(p) for p in images]}).join(pd.DataFrame.from_records(answers))
            return answers[0] if isinstance(data, (str, Path)) and not Path(data).is_dir() else answers
        frame = as_frame(data)
        keep = checked_kept(frame, keep_columns)  # copied from the input in front of the predictions (an ID, say)
        # batches of at most max_rows rows and max_bytes (6 MB by default, SageMaker's limit too)
        bodies = spans(frame, self.max_rows, self.max_bytes, _input_data)  # a refused row is named over the input
        scorer = self.scorer()
        return with_kept(
            frame,
            score_batches(
                frame,
                bodies,
                lambda body: scorer.post(body, "application/json"),
                concurrency=concurrency,
                who=f"endpoint {self.name}",
            ),
            keep,
        )

    def score_images(self, paths: list[str | Path]) -> list[Any]:
        """Each image as base64 in Azure's image input format (the object-detection tutorial's request)."""
        results = []
        for path in paths:
            image = Path(path)
            if not image.is_file():
                raise ScoringError(f"{image}: no such file")
            body = {"input_data": {"columns": ["image"], "index": [0], "data": [base64.b64encode(image.read_bytes()).decode()]}}
            answer = json.loads(self.scorer().post(json.dumps(body).encode(), "application/json"))
            results.append(answer[0] if isinstance(answer, list) and len(answer) == 1 else answer)
        return results

    def delete(self) -> None:
        azure_call(f"delete endpoint {self.name}", lambda: self.client.online_endpoints.begin_delete(name=self.name).result())
        self._removed, self._scorer = True, None


def list_endpoints(client: Any) -> list[Any]:
    """cloudauto's managed online endpoints in the workspace (by their tags), with the deployment's instances and price."""
    from cloudauto.endpoints import EndpointInfo, is_ours, priced

    found = []
    for endpoint in azure_call("list online endpoints", lambda: list(client.online_endpoints.list())):
        tags = dict(endpoint.tags or {})
        if not is_ours(tags):
            continue
        deployments = azure_call(
            f"list deployments of {endpoint.name}", lambda e=endpoint: list(client.online_deployments.list(e.name))
        )
        deployment = next((d for d in deployments if d.name == DEPLOYMENT), deployments[0] if deployments else None)
        info = EndpointInfo.from_tags(
            endpoint.name,
            "azureml",
            str(getattr(endpoint.provisioning_state, "value", endpoint.provisioning_state) or "?"),
            tags,
            instance_type=getattr(deployment, "instance_type", None),
            instance_count=getattr(deployment, "instance_count", None) or 1,
            url=endpoint.scoring_uri,
        )
        found.append(priced(info, getattr(endpoint, "location", None)))
    return found


def _input_data(rows: Any) -> bytes:
    """Rows in the request format of Azure ML's managed online endpoints: {"input_data": {columns, index, data}}."""
    return json.dumps({"input_data": json.loads(rows.to_json(orient="split"))}).encode()


__all__ = ["AzureEndpoint", "deploy"]
