"""A SageMaker tuning job as a cloudauto JobHandle.

Everything is read from the service each time (the handle keeps no state but the name):
the status from DescribeHyperParameterTuningJob, the trials from its training jobs, whose
tuned strings are decoded with the job's own `cloudauto_space` table, the logs and the
per-step metrics from CloudWatch Logs (the `[cloudauto-metric]` lines the entry printed).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import JobHandle, JobStatus, MetricPoint, NoModel, NotSupportedError, Trial, TrialStatus
from cloudauto.reporting import metric_regex, positive_class_in
from cloudauto.runtime.sagemaker_entry import SPACE_PARAM, decode, toolkit_decoded
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.models import JobSpec

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
_JOB_STATUS = {
    "InProgress": JobStatus.RUNNING,
    "Completed": JobStatus.COMPLETED,
    "Failed": JobStatus.FAILED,
    "Stopping": JobStatus.CANCELED,
    "Stopped": JobStatus.CANCELED,
    "Deleting": JobStatus.CANCELED,
}
_TRIAL_STATUS = {
    "InProgress": TrialStatus.RUNNING,
    "Completed": TrialStatus.COMPLETED,
    "Failed": TrialStatus.FAILED,
    "Stopping": TrialStatus.TERMINATED,
    "Stopped": TrialStatus.TERMINATED,
}


def log_lines(session: Any, group: str, job: str) -> list[str]:
    """Every line a SageMaker job (training or transform) wrote to CloudWatch Logs, stream by stream."""
    from .submit import aws_call

    logs = session.client("logs")
    streams = aws_call(f"log streams of {job}", logs.describe_log_streams, logGroupName=group, logStreamNamePrefix=f"{job}/").get(
        "logStreams", []
    )
    lines: list[str] = []
    for stream in sorted(streams, key=lambda s: s["logStreamName"]):
        kwargs = {"logGroupName": group, "logStreamName": stream["logStreamName"], "startFromHead": True}
        token = None
        while True:
            page = aws_call(f"log of {job}", logs.get_log_events, **kwargs, **({"nextToken": token} if token else {}))
            lines += [event["message"] for event in page.get("events", [])]
            if not page.get("events") or page.get("nextForwardToken") in (None, token):
                break
            token = page["nextForwardToken"]
    return lines


_ENDED = ("Completed", "Failed", "Stopped")  # a training job whose FinalMetricDataList is written


def _score_key(definition: str) -> Optional[str]:
    """`cloudauto:val_f1` -> `val_f1`: a figure the entry reports beside the objective (compile's _extra_definitions)."""
    key = definition.removeprefix("cloudauto:")
    return key if key != definition and key.startswith(("val_", "test_")) else None


def _may_name_positive_class(spec: JobSpec) -> bool:
    """An AutoGluon tabular classification: its trials print the positive class when the label has two values."""
    from cloudauto.spec.metrics import Task
    from cloudauto.spec.models import Engine

    return spec.engine is Engine.AUTOGLUON and spec.task is Task.TABULAR_CLASSIFICATION


def _time(value: Any) -> Optional[float]:
    return value.timestamp() if value is not None and hasattr(value, "timestamp") else None


class SageMakerJob(JobHandle):
    backend = "sagemaker"
    client_held = frozenset({"max_failed_trials"})  # stop_when is the service's own

    def __init__(self, name: str, *, session: Any = None, spec: Optional[JobSpec] = None):
        from .submit import session_for

        self.id = name
        self.session = session or session_for()
        self._spec = spec
        self._sm = self.session.client("sagemaker")
        self._final_scores: dict[str, dict[str, float]] = {}  # an ended training job's figures never change: read once

    # the service's view ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        from .submit import aws_call

        return aws_call(
            f"describe tuning job {self.id}", self._sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName=self.id
        )

    @property
    def spec(self) -> JobSpec:
        """Submitted in this process, or read back from the job's own source tarball."""
        if self._spec is None:
            from .submit import aws_call

            static = toolkit_decoded(self.describe()["TrainingJobDefinition"]["StaticHyperParameters"])
            source = static["sagemaker_submit_directory"]
            bucket, _, key = source[len("s3://") :].partition("/")
            body = aws_call(f"read {source}", self.session.client("s3").get_object, Bucket=bucket, Key=key)["Body"].read()
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                member = tar.extractfile("spec.json")
                if member is None:
                    raise CloudautoError(f"{source} holds no spec.json: not a cloudauto job")
                from cloudauto.spec.loader import spec_from_store

                # `${NAME}` references read from this environment where set; kept as references where not
                self._spec = spec_from_store(json.loads(member.read()), source=source)
        return self._spec

    def status(self) -> JobStatus:
        return _JOB_STATUS.get(self.describe()["HyperParameterTuningJobStatus"], JobStatus.PENDING)

    def _summaries(self) -> list[dict[str, Any]]:
        from .submit import aws_call

        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"HyperParameterTuningJobName": self.id, "MaxResults": 100, "SortBy": "CreationTime"}
        while True:
            page = aws_call(
                f"list the training jobs of {self.id}", self._sm.list_training_jobs_for_hyper_parameter_tuning_job, **kwargs
            )
            summaries += page.get("TrainingJobSummaries", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return sorted(summaries, key=lambda s: (_time(s.get("CreationTime")) or 0, s["TrainingJobName"]))

    def trials(self, *, metrics: bool = False) -> list[Trial]:
        """Every training job of the tuning job, oldest first; `metrics=True` reads each one's log too."""
        description = self.describe()
        static = description["TrainingJobDefinition"]["StaticHyperParameters"]
        job_stopped = description["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
        definitions = description["TrainingJobDefinition"].get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        objective_name = description["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective", {}).get("MetricName")
        extra = {d["Name"] for d in definitions if d["Name"] != objective_name and _score_key(d["Name"])}
        trials = []
        for number, summary in enumerate(self._summaries()):
            raw = {**static, **summary.get("TunedHyperParameters", {})}
            try:
                params = decode(toolkit_decoded(raw)) if SPACE_PARAM in raw else dict(summary.get("TunedHyperParameters", {}))
            except (KeyError, ValueError, IndexError):  # a job that was not compiled by this version
                params = dict(summary.get("TunedHyperParameters", {}))
            status = _TRIAL_STATUS.get(summary.get("TrainingJobStatus", ""), TrialStatus.PENDING)
            if status is TrialStatus.TERMINATED and job_stopped:
                status = TrialStatus.CANCELED
            objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
            trial = Trial(
                id=summary["TrainingJobName"],
                number=number,
                params=params,
                status=status,
                objective=float(objective) if objective is not None else None,
                started=_time(summary.get("TrainingStartTime")),
                ended=_time(summary.get("TrainingEndTime")),
                error=summary.get("FailureReason"),
            )
            if status is TrialStatus.TERMINATED and not trial.error:
                trial.error = "stopped early by SageMaker's early stopping (Auto)"
            if extra and summary.get("TrainingJobStatus") in _ENDED:  # the spec's `metrics:` or a test set
                trial.scores = self._scores(trial.id, extra)
            if metrics:
                lines = self._log_lines(trial.id)
                trial.metrics = self._metric_points(trial.id, lines)
                if _may_name_positive_class(self.spec) and status is TrialStatus.COMPLETED:  # read anyway: trial_details's
                    trial.positive_class = positive_class_in(lines)
            trials.append(trial)
        return trials

    def _scores(self, training_job: str, names: set[str]) -> dict[str, float]:
        """val_<name>/test_<name> of an ended training job: SageMaker keeps each metric definition's last value
        (FinalMetricDataList), so the spec's `metrics:` and the test score come back without reading its log."""
        from .submit import aws_call

        if training_job not in self._final_scores:
            described = aws_call(
                f"describe training job {training_job}", self._sm.describe_training_job, TrainingJobName=training_job
            )
            self._final_scores[training_job] = {
                key: float(item["Value"])
                for item in described.get("FinalMetricDataList", [])
                if item.get("MetricName") in names
                for key in [_score_key(item["MetricName"])]
                if key
            }
        return self._final_scores[training_job]

    def trial_details(self, trial: Trial) -> Trial:
        """A binary trial's positive class is text, which no metric definition keeps: its log's line says it."""
        if trial.positive_class is None and _may_name_positive_class(self.spec) and trial.status is TrialStatus.COMPLETED:
            trial.positive_class = positive_class_in(self._log_lines(trial.id))
        return trial

    billed_time_counts_spot = True  # BillableTimeInSeconds is the spot time after its saving, priced on-demand

    def billed_seconds(self) -> float:
        """SageMaker's own figure for ended training jobs (BillableTimeInSeconds × InstanceCount, as its docs
        say to read it); for running ones, the time since TrainingStartTime × the instances."""
        from .submit import aws_call

        total = 0.0
        for trial in self.trials():
            if trial.started is None:
                continue
            described = aws_call(f"describe training job {trial.id}", self._sm.describe_training_job, TrainingJobName=trial.id)
            count = described.get("ResourceConfig", {}).get("InstanceCount", self.spec.compute.instance_count)
            billable = described.get("BillableTimeInSeconds") if trial.status.is_final else None
            total += (billable if billable is not None else trial.duration or 0.0) * count
        return total

    # logs and metrics -------------------------------------------------------------------------
    def _log_lines(self, training_job: str) -> list[str]:
        return log_lines(self.session, LOG_GROUP, training_job)

    def _metric_points(self, training_job: str, lines: Optional[list[str]] = None) -> list[MetricPoint]:
        """The objective's reports in the training job's log (`lines`, where the caller has read it already)."""
        spec = self.spec
        name = spec.metric.name if spec.command is not None else spec.objective.name
        pattern = re.compile(metric_regex(name))
        lines = self._log_lines(training_job) if lines is None else lines
        values = [float(m.group(1)) for line in lines for m in [pattern.search(line)] if m]
        return [MetricPoint(step=i, value=v) for i, v in enumerate(values)]

    def logs(self, trial: Optional[int] = None) -> str:
        trials = self.trials()
        chosen = trials if trial is None else [t for t in trials if t.number == trial]
        if trial is not None and not chosen:
            raise CloudautoError(f"job {self.id} has no trial {trial} (it has {len(trials)})")
        parts = []
        for t in chosen:
            header = f"== trial {t.number} ({t.id}) ==\n" if trial is None else ""
            parts.append(header + "\n".join(self._log_lines(t.id)))
        return "\n".join(parts)

    # control and results ----------------------------------------------------------------------
    def cancel(self) -> None:
        from .submit import aws_call

        aws_call(f"stop tuning job {self.id}", self._sm.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName=self.id)

    def model_uri(self, trial: Optional[Trial] = None) -> str:
        from .submit import aws_call

        trial = trial or self.best_trial()
        if trial is None:
            raise NoModel(f"job {self.id} has no finished trial with an objective value")
        described = aws_call(f"describe training job {trial.id}", self._sm.describe_training_job, TrainingJobName=trial.id)
        uri = described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if not uri:
            raise NoModel(f"training job {trial.id} has no model artifact")
        return uri

    def predict_batch(
        self,
        input: str | Path,
        output: str | Path,
        *,
        probabilities: bool = False,
        trial: Optional[int] = None,
        **options: Any,
    ) -> Any:
        """A batch transform job on the model the endpoint would serve (see batch.py); options: instance_type,
        instance_count, max_payload_mb, keep_columns (input columns copied in front of the answers, read from the
        local input once the answers are down)."""
        from cloudauto.backend import refuse_kept_uri

        from .batch import predict_batch

        refuse_kept_uri(self.backend, input, self.id, options.get("keep_columns"))
        self.refuse_forecasting_batch()
        allowed = {"instance_type", "instance_count", "max_payload_mb", "keep_columns"}
        if set(options) - allowed:
            raise NotSupportedError(
                f"SageMaker's predict_batch takes no {', '.join(sorted(set(options) - allowed))}; it takes "
                "probabilities, trial, instance_type, instance_count, max_payload_mb and keep_columns"
            )
        return predict_batch(self, input, output, probabilities=probabilities, trial=trial, **options)

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        """The best trial's model.tar.gz from S3, unpacked into `dest`."""
        from .submit import aws_call

        uri = self.model_uri()
        bucket, _, key = uri[len("s3://") :].partition("/")
        body = aws_call(f"download {uri}", self.session.client("s3").get_object, Bucket=bucket, Key=key)["Body"].read()
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            tar.extractall(target, filter="data")
        return target


__all__ = ["LOG_GROUP", "SageMakerJob"]
