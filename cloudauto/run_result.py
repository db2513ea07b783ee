"""The result file a CI step reads (`--result result.json`): one schema for every backend.

The schema is versioned (`schema: cloudauto.result/1`); fields are only ever added to it.
`docs/result.schema.json` is generated from these models (`cloudauto schema --result`), and a
test keeps the two equal. Every string passes through the redactor before it is written, so a
key or role ARN from the environment never reaches the file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from .spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    from .backend import Endpoint, JobHandle

SCHEMA_ID = "cloudauto.result/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobPart(_Model):
    id: str
    backend: str
    status: str = Field(description="pending, running, completed, failed, canceled or interrupted")
    reason: Optional[str] = Field(None, description="Why the job is in its state, where the backend says")
    detached: bool = Field(False, description="True when cloudauto stopped waiting (--timeout) and the job goes on running")
    canceled_on_timeout: bool = Field(False, description="True when --cancel-on-timeout canceled the job at the timeout")
    waited_s: Optional[float] = Field(None, description="How long cloudauto followed the job")


class SpecPart(_Model):
    name: str
    file: Optional[str] = None
    task: str
    metric: str
    goal: Literal["maximize", "minimize"]
    metrics: list[str] = Field(default_factory=list, description="The spec's other metrics (`metrics:`), recorded, not swept on")


class TrialCounts(_Model):
    planned: int
    total: int
    completed: int = 0
    terminated: int = Field(0, description="Stopped early by the policy")
    failed: int = 0
    timed_out: int = 0
    canceled: int = 0
    running: int = 0
    pending: int = 0
    compute_s: float = Field(0.0, description="The trials' run time added up (their durations)")


class BestTrial(_Model):
    trial: int
    objective: float
    params: dict[str, Any]
    scores: dict[str, Any] = Field(
        default_factory=dict, description="Other figures: the test score, val_<metric> and test_<metric> of each of `metrics:`"
    )
    metrics: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="The primary metric, then each of the spec's `metrics:`, by data: {name: {validation: ..., test: ...}}",
    )
    status: str
    positive_class: Optional[Union[bool, int, float, str]] = Field(
        None, description="Binary classification: the label value f1, precision and recall scored (absent otherwise)"
    )


class CostPart(_Model):
    currency: Literal["USD"] = "USD"
    estimate_max: Optional[float] = Field(None, description="The worst case before launch")
    billed: Optional[float] = Field(None, description="What the service reports as billed so far")
    source: str = Field(description="Where the figures come from")


class EndpointPart(_Model):
    name: str
    backend: str
    url: Optional[str] = None


class RunResult(_Model):
    schema_: Literal["cloudauto.result/1"] = Field(SCHEMA_ID, alias="schema")
    written_at: str = Field(description="UTC, ISO 8601")
    exit_code: int = Field(description="The exit code of the command that wrote the file")
    spec: SpecPart
    job: JobPart
    trials: TrialCounts
    best: Optional[BestTrial] = None
    model: Optional[str] = Field(None, description="Where the best trial's model is (a path, s3:// or azureml:// URI)")
    cost: Optional[CostPart] = Field(None, description="Absent where the backend has no cost figures (the local backend)")
    endpoint: Optional[EndpointPart] = None
    warnings: list[str] = Field(default_factory=list, description="The spec's and the compile's warnings, as printed")
    failures: list[str] = Field(default_factory=list, description="One line per distinct trial error")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def extra_metrics(spec: Any, trial: Any) -> dict[str, dict[str, float]]:
    """A trial's value of each of the spec's `metrics:` on its validation and test data (what it recorded)."""
    out: dict[str, dict[str, float]] = {}
    for metric in spec.extra_metrics:
        found = {role: trial.scores[f"{key}_{metric.name}"] for key, role in (("val", "validation"), ("test", "test"))
                 if f"{key}_{metric.name}" in trial.scores}
        if found:
            out[metric.name] = found
    return out


def best_metrics(spec: Any, trial: Any) -> dict[str, dict[str, float]]:
    """`best`'s "metrics": the primary metric (its validation value is the objective) first, then the spec's `metrics:`."""
    name = spec.objective.name
    primary = {
        role: value
        for role, value in (("validation", trial.objective), ("test", trial.scores.get(f"test_{name}")))
        if value is not None
    }
    return {**({name: primary} if primary else {}), **extra_metrics(spec, trial)}


def test_set_note(trial: Any) -> Optional[str]:
    """One line when the best trial kept its model and objective but its test set was not scored (None otherwise):
    shown wherever the best trial is, so a missing test score is not found only in `trials`."""
    if trial is None or trial.objective is None or not trial.error:
        return None
    return f"best trial {trial.number}: {' '.join(str(trial.error).split())}"


def build(
    job: JobHandle,
    *,
    exit_code: int,
    warnings: Optional[list[str]] = None,
    detached: bool = False,
    canceled_on_timeout: bool = False,
    waited_s: Optional[float] = None,
    planned: Optional[int] = None,
    spec_file: Optional[str] = None,
    estimate: Any = None,
    trials: Optional[list[Any]] = None,
) -> RunResult:
    """What the job says of itself now, as a result (`trials`: the job's, where the caller read them already)."""
    from .backend import TrialStatus
    from .report import failure_groups

    spec = job.spec
    trials = job.trials() if trials is None else trials
    counts = {status: 0 for status in TrialStatus}
    for trial in trials:
        counts[trial.status] += 1
    best = job.best_trial(trials)
    status = job.status()
    return RunResult(
        written_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        exit_code=exit_code,
        spec=SpecPart(
            name=spec.name,
            file=spec_file or spec.source,
            task=spec.task.value,
            metric=spec.objective.name,
            goal=spec.objective.goal.value,
            metrics=[m.name for m in spec.extra_metrics],
        ),
        job=JobPart(
            id=job.id,
            backend=job.backend,
            status=status.value,
            reason=job.status_reason(),
            detached=detached,
            canceled_on_timeout=canceled_on_timeout,
            waited_s=None if waited_s is None else round(waited_s, 1),
        ),
        trials=TrialCounts(
            planned=spec.max_trials if planned is None else planned,
            total=len(trials),
            completed=counts[TrialStatus.COMPLETED],
            terminated=counts[TrialStatus.TERMINATED],
            failed=counts[TrialStatus.FAILED],
            timed_out=counts[TrialStatus.TIMED_OUT],
            canceled=counts[TrialStatus.CANCELED],
            running=counts[TrialStatus.RUNNING],
            pending=counts[TrialStatus.PENDING] + counts[TrialStatus.INTERRUPTED],  # resume runs them again
            compute_s=round(sum(t.duration or 0.0 for t in trials if t.started is not None), 1),
        ),
        best=None
        if best is None
        else BestTrial(
            trial=best.number,
            objective=best.objective,
            params=best.params,
            scores=best.scores,
            metrics=best_metrics(spec, best),
            status=best.status.value,
            positive_class=best.positive_class,
        ),
        model=_model_location(job, best) if best is not None else None,
        warnings=[*(warnings or []), *filter(None, [test_set_note(best)])],
        failures=failure_groups(trials),
        cost=_cost(job, estimate),
    )


def _cost(job: JobHandle, estimate: Any) -> Optional[CostPart]:
    """The compile's worst case and what the trials have billed so far; None where the backend bills nothing (local)."""
    if estimate is None:
        return None
    billed = job.billed() if estimate.price is not None else None
    sources = [
        f"{estimate.formula} (price: {estimate.price.source})"
        if estimate.usd_max is not None
        else f"no estimate: {estimate.missing}"
    ]
    if billed is not None:
        sources.append(f"billed: {billed[1]}")
    if job.budget_stop:
        sources.append(f"canceled by cloudauto: {job.budget_stop}")
    return CostPart(
        estimate_max=None if estimate.usd_max is None else round(estimate.usd_max, 2),
        billed=None if billed is None else round(billed[0], 4),
        source="; ".join(sources),
    )


def _model_location(job: JobHandle, best: Any) -> Optional[str]:
    try:
        return job.model_uri(best)
    except CloudautoError:
        return None


def with_endpoint(result: RunResult, endpoint: Endpoint) -> RunResult:
    return result.model_copy(
        update={
            "endpoint": EndpointPart(name=endpoint.name, backend=endpoint.backend, url=getattr(endpoint, "url", None) or None)
        }
    )


def write(result: RunResult, path: str | Path, *, spec: Any = None) -> Path:
    """Write the file whole (a temporary file renamed over it), secrets replaced."""
    from .secrets import redactor

    data = redactor(spec).data(result.model_dump(mode="json", by_alias=True))
    if isinstance(data.get("best"), dict) and data["best"].get("positive_class") is None:
        data["best"].pop("positive_class", None)  # only a binary trial has one
    return _write_text(Path(path), json.dumps(data, indent=2) + "\n")


def read(path: str | Path) -> RunResult:
    path = Path(path)
    try:
        return RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CloudautoError(f"cannot read the result file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CloudautoError(f"{path} is not a cloudauto result file ({SCHEMA_ID}): {str(exc).splitlines()[0]}") from None


def _write_text(path: Path, text: str) -> Path:
    if not path.resolve().parent.is_dir():
        raise CloudautoError(f"cannot write {path}: there is no folder {path.resolve().parent}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CloudautoError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def schema_text() -> str:
    return json.dumps(RunResult.model_json_schema(by_alias=True), indent=2) + "\n"


__all__ = ["RunResult", "SCHEMA_ID", "build", "read", "schema_text", "with_endpoint", "write"]
