"""A local sweep in MLflow, as Azure ML's studio shows a cloud one: a parent run, a child run per trial.

The parent run carries the job (its id, status and why, the sampling and the policy) and the
best objective; each child run its trial's parameters, the reported metric history with its
steps and times, the other scores, the status, the objective, the positive class and the
retries (tags), and the trial's model folder as an artifact. Runs are found again by their
`cloudauto_job` / `cloudauto_trial` tags, so an export after more trials have ended adds those
and finishes the ones that were running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import JobStatus, Trial, TrialStatus
from cloudauto.spec.errors import CloudautoError

from .handle import LocalJobHandle

_RUN_STATUS = {
    TrialStatus.COMPLETED: "FINISHED",
    TrialStatus.TERMINATED: "KILLED",
    TrialStatus.CANCELED: "KILLED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.TIMED_OUT: "FAILED",
}
_JOB_STATUS = {JobStatus.COMPLETED: "FINISHED", JobStatus.FAILED: "FAILED", JobStatus.CANCELED: "KILLED"}
PARAM_MAX = 6000  # MLflow's limit on a parameter's value


class MlflowExportError(CloudautoError):
    """The user's setup: mlflow not installed, a store MLflow refuses, a server nobody answers at (exit 3)."""

    exit_code = 3


REACH_SECONDS = 5.0  # MLflow's own client retries a refused connection for minutes


def _reachable(uri: str) -> None:
    """An http(s) tracking server must answer a connection before MLflow's retries start."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=REACH_SECONDS).close()
    except OSError as exc:
        raise MlflowExportError(
            f"mlflow: the tracking server {uri} is not reachable ({exc.strerror or exc}): "
            "start it (mlflow server) or check the URI; or give a SQLite file: --tracking-uri ./mlflow.db"
        ) from None


def _store_error(uri: str, exc: Exception) -> MlflowExportError:
    """MLflow's refusal of the store, in one line that says what to do."""
    text = str(exc)
    if "MLFLOW_ALLOW_FILE_STORE" in text:
        return MlflowExportError(
            f"mlflow: {uri} is a folder (MLflow's file store), which this MLflow refuses: "
            "set MLFLOW_ALLOW_FILE_STORE=true, or give a SQLite database: --tracking-uri ./mlflow.db "
            "(or sqlite:///path/to/mlflow.db)"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return MlflowExportError(f"mlflow: cannot record in {uri}: {first}")


def tracking_uri(uri: str, base_dir: Optional[str]) -> str:
    """A path (relative to the spec): a `.db` file as SQLite, a folder as a file store; any URI as it is.

    MLflow 3 refuses a file store unless MLFLOW_ALLOW_FILE_STORE=true, and says so.
    """
    from cloudauto.runtime.data import resolve
    from cloudauto.spec.types import scheme_of

    if scheme_of(uri) is not None or uri.startswith("sqlite:"):
        return uri
    path = Path(resolve(uri, base_dir)).resolve()
    return f"sqlite:///{path}" if path.suffix == ".db" else path.as_uri()


def _artifacts_beside(uri: str) -> Optional[str]:
    """A SQLite store's artifacts in `mlartifacts` beside its file (MLflow's default is the working folder)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()  # relative: to the working folder
    return None


def _ms(seconds: Optional[float]) -> Optional[int]:
    return int(seconds * 1000) if seconds else None


def _find(client: Any, experiment: str, query: str) -> Optional[Any]:
    found = client.search_runs([experiment], filter_string=query, max_results=1)
    return found[0] if found else None


def export(
    job: LocalJobHandle,
    tracking_uri: str,
    experiment_name: Optional[str] = None,
    *,
    ended: Optional[tuple[JobStatus, str]] = None,
) -> str:
    """Record (or bring up to date) the job in MLflow at `tracking_uri`; returns the parent run's id.

    `ended`: the job's final status and reason, when the scheduler records it before it writes them.
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MlflowExportError("recording a sweep in MLflow needs mlflow: pip install mlflow") from None
    from mlflow.exceptions import MlflowException

    _reachable(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=tracking_uri)  # opens the store: MLflow refuses it here
    except (MlflowException, ValueError) as exc:  # ValueError: MLflow's reading of its MLFLOW_* variables
        raise _store_error(tracking_uri, exc) from None
    try:
        return _export(job, client, tracking_uri, experiment_name, ended, Metric, Param, RunTag)
    except MlflowException as exc:
        raise _store_error(tracking_uri, exc) from None


def _export(
    job: LocalJobHandle,
    client: Any,
    tracking_uri: str,
    experiment_name: Optional[str],
    ended: Optional[tuple[JobStatus, str]],
    Metric: Any,
    Param: Any,
    RunTag: Any,
) -> str:
    spec = job.spec
    name = experiment_name or spec.name
    found = client.get_experiment_by_name(name)
    experiment = (
        found.experiment_id if found else client.create_experiment(name, artifact_location=_artifacts_beside(tracking_uri))
    )
    status, reason = ended or (job.status(), job.status_reason() or "")
    trials = job.trials()
    parent = _find(client, experiment, f"tags.cloudauto_job = '{job.id}' and tags.cloudauto_trial = 'parent'")
    if parent is None:
        started = min((t.started for t in trials if t.started), default=None)
        parent = client.create_run(
            experiment,
            start_time=_ms(started),
            run_name=job.id,
            tags={"cloudauto_job": job.id, "cloudauto_trial": "parent", "cloudauto_backend": "local"},
        )
        sweep = spec.sweep
        params = {
            "sampling": sweep.sampling.value if sweep else "grid",
            "policy": spec.policy.policy if spec.policy else "none",
            "max_trials": spec.max_trials,
            "metric": f"{spec.objective.name} ({spec.objective.goal.value})",
        }
        client.log_batch(parent.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    parent_id = parent.info.run_id
    for trial in trials:
        _trial(client, experiment, parent_id, job, trial, Metric, Param, RunTag)
    best = job.best_trial()
    tags = [RunTag("cloudauto_status", status.value), RunTag("cloudauto_reason", reason)]
    metrics = [Metric(f"best_{spec.objective.name}", best.objective, _ms(best.ended) or 0, 0)] if best else []
    client.log_batch(parent_id, metrics=metrics, tags=tags)
    if status in _JOB_STATUS:
        ended = max((t.ended for t in trials if t.ended), default=None)
        client.set_terminated(parent_id, _JOB_STATUS[status], end_time=_ms(ended))
    return parent_id


def _trial(
    client: Any, experiment: str, parent_id: str, job: LocalJobHandle, trial: Trial, Metric: Any, Param: Any, RunTag: Any
) -> None:
    query = f"tags.cloudauto_job = '{job.id}' and tags.cloudauto_trial = '{trial.number}'"
    run = _find(client, experiment, query)
    if run is not None and run.info.status != "RUNNING":
        return  # recorded when it had ended: nothing changes after that
    if run is None:
        run = client.create_run(
            experiment,
            start_time=_ms(trial.started),
            run_name=f"{job.id}-trial-{trial.number}",
            tags={"cloudauto_job": job.id, "cloudauto_trial": str(trial.number), "mlflow.parentRunId": parent_id},
        )
        params = [Param(k, str(v)[:PARAM_MAX]) for k, v in trial.params.items()]
        client.log_batch(run.info.run_id, params=params)
    run_id = run.info.run_id
    if trial.status not in _RUN_STATUS:
        return  # still running: its history goes in once it has ended
    name = job.spec.metric.name if job.spec.command is not None else job.spec.objective.name
    history = [Metric(name, p.value, _ms(p.time) or 0, p.step) for p in trial.metrics]
    scores = [Metric(k, v, _ms(trial.ended) or 0, 0) for k, v in trial.scores.items()]
    tags = [RunTag("cloudauto_status", trial.status.value)]
    if trial.error:
        tags.append(RunTag("cloudauto_reason", trial.error[:5000]))
    if trial.positive_class is not None:  # the class its binary scores are of: text, so a tag beside the figures
        tags.append(RunTag("cloudauto_positive_class", str(trial.positive_class)[:5000]))
    if getattr(trial, "retries", None) is not None:  # reruns after infrastructure faults (limits.trial_retries)
        tags.append(RunTag("cloudauto_retries", str(trial.retries)))
    for start in range(0, len(history), 900):  # MLflow takes at most 1000 metrics a batch
        client.log_batch(run_id, metrics=history[start : start + 900])
    client.log_batch(run_id, metrics=scores, tags=tags)
    if trial.objective is not None:
        client.log_batch(run_id, metrics=[Metric("objective", trial.objective, _ms(trial.ended) or 0, 0)])
    model = Path(trial.artifacts.get("dir", "")) / "model"
    if trial.artifacts.get("dir") and model.is_dir():
        client.log_artifacts(run_id, str(model), artifact_path="model")
    client.set_terminated(run_id, _RUN_STATUS[trial.status], end_time=_ms(trial.ended))


__all__ = ["MlflowExportError", "export", "tracking_uri"]
