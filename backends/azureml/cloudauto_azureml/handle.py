"""An Azure ML job as a cloudauto JobHandle, read from the workspace each time.

Trials are the job's child runs (`jobs.list(parent_job_name=...)`); each carries the
sampled values in its `hyperparameters` tag, which are typed back through the spec. The
metric history of a trial is its MLflow run (the run id is the child job's name), read
from the workspace's MLflow tracking URI; for an `azureml://` URI that needs the
`azureml-mlflow` plugin, and without it trials have no objective and `trials()` says so once.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import JobHandle, JobStatus, MetricPoint, NoModel, NotSupportedError, Trial, TrialStatus
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.models import Engine, JobSpec

from .submit import SPEC_PROPERTY, azure_call, client_for

_JOB_STATUS = {
    "NotStarted": JobStatus.PENDING,
    "Queued": JobStatus.PENDING,
    "Starting": JobStatus.PENDING,
    "Preparing": JobStatus.PENDING,
    "Provisioning": JobStatus.PENDING,
    "Running": JobStatus.RUNNING,
    "Finalizing": JobStatus.RUNNING,
    "NotResponding": JobStatus.RUNNING,
    "Paused": JobStatus.RUNNING,
    "CancelRequested": JobStatus.CANCELED,
    "Canceled": JobStatus.CANCELED,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
}
_TRIAL_STATUS = {
    "Running": TrialStatus.RUNNING,
    "Finalizing": TrialStatus.RUNNING,
    "Completed": TrialStatus.COMPLETED,
    "Failed": TrialStatus.FAILED,
    "CancelRequested": TrialStatus.TERMINATED,
    "Canceled": TrialStatus.TERMINATED,
}


def _status_text(status: Any) -> str:
    return str(getattr(status, "value", status) or "")


class AzureMLJob(JobHandle):
    backend = "azureml"
    client_held = frozenset({"stop_when", "max_failed_trials"})  # Azure ML has neither

    def __init__(self, name: str, *, client: Any = None, spec: Optional[JobSpec] = None):
        self.id = name
        self.client = client or client_for(spec)
        self._spec = spec
        self._warned = False
        self._final_scores: dict[str, dict[str, float]] = {}  # an ended child run's figures never change: read once

    def get(self) -> Any:
        return azure_call(f"get job {self.id}", self.client.jobs.get, self.id)

    @property
    def spec(self) -> JobSpec:
        if self._spec is None:
            text = (self.get().properties or {}).get(SPEC_PROPERTY)
            if not text:
                raise CloudautoError(f"job {self.id} was not submitted by cloudauto (no {SPEC_PROPERTY} property)")
            from cloudauto.spec.loader import spec_from_store

            # the property keeps `${NAME}` references (the trial's environment holds the values)
            self._spec = spec_from_store(json.loads(text), source=f"azureml:{self.id}")
        return self._spec

    def status(self) -> JobStatus:
        return _JOB_STATUS.get(_status_text(self.get().status), JobStatus.PENDING)

    # trials -----------------------------------------------------------------------------------
    def _params(self, child: Any) -> dict[str, Any]:
        raw = (child.tags or {}).get("hyperparameters")
        if not raw:
            return {}
        values = {k.lstrip("-"): v for k, v in json.loads(raw).items()}
        spec = self.spec
        if spec.engine is Engine.AUTOGLUON:  # Azure-safe names back to the spec's, strings back to types
            from cloudauto.runtime.azureml_entry import typed_params
            from cloudauto.tuning.flat import GRID_PARAM, grid_points, grid_table

            from .compile import search_names

            names = search_names(spec)
            # the job's stored spec keeps the user's key order (never sorted), so its grid is the compiled table
            grid = grid_table(grid_points(spec)) if GRID_PARAM in values else None
            return typed_params(spec, {names.get(k, k): str(v) for k, v in values.items()}, grid, f"the grid of {self.id}'s spec")
        return values

    def _tracking(self) -> Any:
        """An MLflow client on the workspace's tracking store, or None (with the reason said once)."""
        if importlib.util.find_spec("mlflow") is None:
            return self._no_metrics("mlflow is not installed")
        workspace = azure_call("get the workspace", self.client.workspaces.get, self.client.workspace_name)
        uri = workspace.mlflow_tracking_uri
        if not uri:
            return self._no_metrics("the workspace has no MLflow tracking URI")
        if uri.startswith("azureml:") and importlib.util.find_spec("azureml.mlflow") is None:
            return self._no_metrics("reading metrics from Azure ML needs `pip install azureml-mlflow`")
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=uri)

    def _no_metrics(self, why: str) -> None:
        if not self._warned:
            print(f"cloudauto: trials of {self.id} have no metrics: {why}", file=sys.stderr)
            self._warned = True
        return None

    def trials(self) -> list[Trial]:
        children = azure_call(f"list the trials of {self.id}", lambda: list(self.client.jobs.list(parent_job_name=self.id)))
        children.sort(key=lambda c: (getattr(getattr(c, "creation_context", None), "created_at", None) or 0, c.name))
        tracking = self._tracking() if children else None
        metric = self.spec.metric.name if self.spec.engine is Engine.COMMAND else self.spec.objective.name
        goal = self.spec.objective.goal
        canceled = _status_text(self.get().status) in ("Canceled", "CancelRequested")
        trials = []
        for number, child in enumerate(children):
            status = _TRIAL_STATUS.get(_status_text(child.status), TrialStatus.PENDING)
            points: list[MetricPoint] = []
            if tracking is not None:
                history = azure_call(f"metrics of {child.name}", tracking.get_metric_history, child.name, metric)
                points = [MetricPoint(step=m.step, value=m.value, time=m.timestamp / 1000) for m in history]
            objective = None
            for point in points:
                if objective is None or goal.better(point.value, objective):
                    objective = point.value
            context = getattr(child, "creation_context", None)
            created = getattr(context, "created_at", None)
            # an ended run was last modified when it ended: its duration is what Azure ML billed its node for
            modified = getattr(context, "last_modified_at", None) if status.is_final else None
            trial = Trial(
                id=child.name,
                number=number,
                params=self._params(child),
                status=status,
                metrics=points,
                objective=objective,
                started=created.timestamp() if created is not None else None,
                ended=modified.timestamp() if modified is not None else None,
                error=(child.properties or {}).get("error") if status is TrialStatus.FAILED else None,
            )
            if tracking is not None and status.is_final:
                trial.scores = self._scores(tracking, child.name, metric)
            if status is TrialStatus.TERMINATED:
                trial.status = TrialStatus.CANCELED if canceled else status
                trial.error = None if canceled else "stopped by the early termination policy"
            trials.append(trial)
        return trials

    def _scores(self, tracking: Any, run: str, objective: str) -> dict[str, float]:
        """val_<name>/test_<name> the entry logged to the child's MLflow run (the spec's `metrics:`, the test score)."""
        from mlflow.exceptions import MlflowException

        if run not in self._final_scores:
            try:
                logged = azure_call(f"metrics of {run}", tracking.get_run, run).data.metrics
            except MlflowException:  # a child that never started its MLflow run (it failed before): no figures
                return {}
            self._final_scores[run] = {
                k: float(v) for k, v in logged.items() if k != objective and k.startswith(("val_", "test_"))
            }
        return self._final_scores[run]

    def trial_details(self, trial: Trial) -> Trial:
        """A binary trial's positive class is text, not an MLflow metric: the entry prints it into the trial's log."""
        from cloudauto.spec.metrics import Task

        spec = self.spec
        if (
            trial.positive_class is None
            and trial.status is TrialStatus.COMPLETED
            and spec.engine is Engine.AUTOGLUON
            and spec.task is Task.TABULAR_CLASSIFICATION
        ):
            from cloudauto.reporting import positive_class_in

            trial.positive_class = positive_class_in(self.logs(trial.number).splitlines())
        return trial

    # logs, control, outputs -------------------------------------------------------------------
    def logs(self, trial: Optional[int] = None) -> str:
        """The job's (or a trial's) log files as run history lists them, read through the SDK's own pipeline.

        azure-ai-ml has no public call that returns a finished job's log text (`jobs.stream`
        prints only while a job runs, `jobs.download` writes files); this uses the same run
        details and download helper that `jobs.stream` uses.
        """
        from azure.ai.ml.operations._job_ops_helper import download_text_from_url

        name = self.id
        if trial is not None:
            trials = self.trials()
            match = [t for t in trials if t.number == trial]
            if not match:
                raise CloudautoError(f"job {self.id} has no trial {trial} (it has {len(trials)})")
            name = match[0].id
        jobs = self.client.jobs
        details = azure_call(f"run details of {name}", jobs._runs_operations.get_run_details, name)
        parts = []
        for log_name, url in sorted((details.log_files or {}).items()):
            text = azure_call(f"read {log_name} of {name}", download_text_from_url, url, jobs._requests_pipeline, timeout=60)
            parts.append(f"== {log_name} ==\n{text}")
        return "\n".join(parts)

    def stream(self) -> None:
        """Follow the job's output until it ends (Azure ML's own `jobs.stream`)."""
        azure_call(f"stream {self.id}", self.client.jobs.stream, self.id)

    def cancel(self) -> None:
        poller = azure_call(f"cancel {self.id}", self.client.jobs.begin_cancel, self.id)
        azure_call(f"cancel {self.id}", poller.result)

    def predict_batch(
        self, input: str | Path, output: str | Path, *, probabilities: bool = False, trial: Optional[int] = None, **options: Any
    ) -> Any:
        """A batch endpoint's model deployment, invoked on the input (see batch.py); options: endpoint, chunk_rows,
        mini_batch_size, instance_count, max_concurrency_per_instance, max_retries, timeout, error_threshold,
        keep_columns (input columns copied in front of the answers, read from the local input once they are down)."""
        import inspect

        from cloudauto.backend import refuse_kept_uri

        from .batch import predict_batch

        refuse_kept_uri(self.backend, input, self.id, options.get("keep_columns"))
        self.refuse_forecasting_batch()
        allowed = set(inspect.signature(predict_batch).parameters) - {"job", "source", "output", "probabilities", "trial"}
        if set(options) - allowed:
            raise NotSupportedError(
                f"Azure ML's predict_batch takes no {', '.join(sorted(set(options) - allowed))}; it takes "
                f"probabilities, trial, {', '.join(sorted(allowed))}"
            )
        return predict_batch(self, input, output, probabilities=probabilities, trial=trial, **options)

    def model_uri(self, trial: Optional[Trial] = None) -> str:
        """The trial's `model` output, as Azure ML names a job's output (azureml://jobs/<run>/outputs/model)."""
        trial = trial or self.best_trial()
        if trial is None:
            raise NoModel(f"job {self.id} has no finished trial with an objective value")
        return f"azureml://jobs/{trial.id}/outputs/model"

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        trial = self.best_trial() if best else None
        if trial is None:
            raise NoModel(f"job {self.id} has no finished trial with an objective value")
        target = Path(dest)
        azure_call(
            f"download the model of {trial.id}",
            self.client.jobs.download,
            trial.id,
            download_path=str(target),
            output_name="model",
        )
        return target


__all__ = ["AzureMLJob"]
