"""The backend contract: what a plugin implements, and the handles it returns.

A backend is small and stateless: public methods do the bookkeeping (task support,
what the backend cannot express, strictness) and call one private hook each, so a
plugin only writes `_compile`, `_submit` and `_attach`. Jobs and endpoints are handles
the backend returns; all state of a running job lives with the service (or, for the
local backend, in its run store), never in the Backend object.
"""

from __future__ import annotations

import abc
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from .spec.errors import CloudautoError, SpecIssue

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pydantic import BaseModel

    from .spec.metrics import Task
    from .spec.models import JobSpec


def _non_finite(value: Any, path: str = "") -> Optional[str]:
    """The path of the first NaN or infinity in a request, else None."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f"{path or '<root>'} = {value!r}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if isinstance(key, str) and path else f"{path}[{key}]" if path else str(key))
        if found:
            return found
    return None


def request_json(request: Any, *, what: str = "the request", **options: Any) -> str:
    """A request as strict JSON: a NaN or infinity (which a service refuses, and is not JSON) is an error naming
    its field, never written. The spec refuses them, so one here is a bug (exit 70), not invalid JSON."""
    found = _non_finite(request)
    if found:
        raise ValueError(f"{what} holds {found}, which JSON cannot carry; nothing was written (a bug in cloudauto)")
    return json.dumps(request, allow_nan=False, **options)


class CompileError(CloudautoError):
    """The backend cannot express this (valid) spec; each issue names the backend's rule."""

    exit_code = 2

    def __init__(self, backend: str, issues: Iterable[SpecIssue]):
        self.backend = backend
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"backend '{backend}' cannot compile this spec:\n{lines}")


class DataCheckError(CompileError):
    """The spec's data does not fit it (a missing file, a misspelt column, a label the task cannot take)."""

    exit_code = 1

    def __init__(self, backend: str, issues: Iterable[SpecIssue]):
        super().__init__(backend, issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        self.args = (f"the spec's data does not fit it; nothing was started:\n{lines}",)


class OutputError(CloudautoError):
    """A place to write a compiled job that cannot take it (a file where the job is a folder of files)."""

    exit_code = 64


class NotSupportedError(CloudautoError):
    """The operation exists in the contract but this backend does not offer it (yet)."""

    exit_code = 2


class NotConfigured(CloudautoError):
    """The backend has no account here (no AWS region or credentials, no Azure ML workspace): a command that asks
    every installed backend (`cloudauto endpoints` without -b) skips it with one line, not an error per backend."""

    exit_code = 3


class NoModel(CloudautoError):
    """The job has no finished trial with a model to deploy or score with: the job's outcome, exit 4 for every command."""

    exit_code = 4


class NoSuchTrial(CloudautoError):
    """`--trial N` names no trial of the job: exit 3, as for no such job (1 is for an invalid spec)."""

    exit_code = 3


class EndpointGone(CloudautoError):
    """An endpoint that was deleted (or expired and was removed): scoring it fails (exit 5); deleting it again
    has nothing to do (`delete-endpoint` says so and exits 0). `when` says when and why it went."""

    exit_code = 5

    def __init__(self, message: str, when: str = ""):
        super().__init__(message)
        self.when = when


class NothingToResume(CloudautoError):
    """`resume` of a job that has ended: said and left as it is; exit 0 when it completed, 4 when it was canceled."""

    def __init__(self, message: str, exit_code: int = 4):
        super().__init__(message)
        self.exit_code = exit_code


class JobOwned(CloudautoError):
    """Another live scheduler runs this job (a second `resume`): said, naming it, and nothing is started (exit 6: the job goes on)."""

    exit_code = 6


class JobInUse(CloudautoError):
    """`delete` or `prune` of a job that runs, or whose model an endpoint or a batch uses: refused, naming what (exit 6:
    the job goes on)."""

    exit_code = 6


class JobStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    # the local scheduler died before the job ended; nothing runs until `cloudauto resume` carries it on
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class TrialStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"  # stopped early by the policy
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"
    # was running when the local scheduler died: it runs no more, and `resume` runs it again
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.INTERRUPTED)


class Feature(str, Enum):
    """Things a spec may ask for that some backend cannot express."""

    CONDITIONAL_SPACE = "conditional search space"
    GRID_SAMPLING = "grid sampling"
    BAYESIAN_SAMPLING = "bayesian sampling"
    BAYESIAN_WITH_EARLY_TERMINATION = "bayesian sampling with early termination"
    BANDIT_POLICY = "bandit policy"
    MEDIAN_STOPPING_POLICY = "median stopping policy"
    TRUNCATION_POLICY = "truncation selection policy"
    ASHA_POLICY = "asha policy"
    HYPERBAND_POLICY = "hyperband policy"
    NORMAL_DISTRIBUTION = "normal / lognormal distributions"
    QUANTIZED_LOG_DISTRIBUTION = "qloguniform distribution"
    S3_DATA = "s3:// data"
    AZUREML_DATA = "azureml:// data"
    NATIVE_ENGINE = "engine: native"
    COMMAND_ENGINE = "engine: command"
    PARAMETERS = "these sweep parameters"
    CONTAINER_MODE = "docker mode"
    SPOT = "spot capacity"
    # stop criteria, warm start, retries (limits.stop_when, sweep.warm_start, limits.trial_retries / max_failed_trials)
    STOP_WHEN = "limits.stop_when"
    STOP_ON_CONVERGENCE = "limits.stop_when.converged"
    WARM_START = "sweep.warm_start"
    TRIAL_RETRIES = "limits.trial_retries"
    MAX_FAILED_TRIALS = "limits.max_failed_trials"


# where in the spec each feature lives, so a backend's refusal points at the field to change
FEATURE_PATHS: dict[Feature, tuple] = {
    Feature.CONDITIONAL_SPACE: ("sweep", "space"),
    Feature.GRID_SAMPLING: ("sweep", "sampling"),
    Feature.BAYESIAN_SAMPLING: ("sweep", "sampling"),
    Feature.BAYESIAN_WITH_EARLY_TERMINATION: ("sweep", "early_termination"),
    Feature.BANDIT_POLICY: ("sweep", "early_termination"),
    Feature.MEDIAN_STOPPING_POLICY: ("sweep", "early_termination"),
    Feature.TRUNCATION_POLICY: ("sweep", "early_termination"),
    Feature.ASHA_POLICY: ("sweep", "early_termination"),
    Feature.HYPERBAND_POLICY: ("sweep", "early_termination"),
    Feature.NORMAL_DISTRIBUTION: ("sweep", "space"),
    Feature.QUANTIZED_LOG_DISTRIBUTION: ("sweep", "space"),
    Feature.S3_DATA: ("data",),
    Feature.AZUREML_DATA: ("data",),
    Feature.NATIVE_ENGINE: ("engine",),
    Feature.COMMAND_ENGINE: ("engine",),
    Feature.PARAMETERS: ("sweep", "space"),
    Feature.CONTAINER_MODE: ("backends", "local", "mode"),
    Feature.SPOT: ("compute", "spot"),
    Feature.STOP_WHEN: ("limits", "stop_when"),
    Feature.STOP_ON_CONVERGENCE: ("limits", "stop_when", "converged"),
    Feature.WARM_START: ("sweep", "warm_start"),
    Feature.TRIAL_RETRIES: ("limits", "trial_retries"),
    Feature.MAX_FAILED_TRIALS: ("limits", "max_failed_trials"),
}


@dataclass
class MetricPoint:
    step: int
    value: float
    time: float = 0.0


@dataclass
class Trial:
    """One trial of a job, the same shape from every backend."""

    id: str
    number: int
    params: dict[str, Any]
    status: TrialStatus
    metrics: list[MetricPoint] = field(default_factory=list)
    objective: Optional[float] = None  # the last value reported (Azure ML: the best logged, as the service ranks)
    started: Optional[float] = None
    ended: Optional[float] = None
    error: Optional[str] = None  # why it failed, or why the policy stopped it
    artifacts: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # other figures, e.g. the test score
    positive_class: Any = None  # binary classification: the label value the trial's f1, precision and recall score
    retries: int = 0  # times an infrastructure fault made it start over (limits.trial_retries); local backend

    @property
    def duration(self) -> Optional[float]:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def output_path(out: str | Path) -> Path:
    """`compile -o`'s path as the OS will take it once its folders are made: `OTHER/nothere/..` is OTHER (stat cannot
    follow a folder not yet there, so checks on the path as written saw nothing there and the write replaced the
    user's OTHER/<name>.code/). Its folder part is resolved (links followed); its last part kept, so a link named as
    the output is judged as a link. Relative stays relative, for the messages."""
    out = Path(out)
    odd = next((c for c in str(out) if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if odd is not None:  # compile names its outputs a line each in the folder's marker: a newline would split one
        raise OutputError(f"{str(out)!r}: a name with the control character {odd!r}; name another -o; nothing was written")
    real = out.resolve() if out.name in ("", ".", "..") else out.parent.resolve() / out.name
    return real if out.is_absolute() else Path(os.path.relpath(real))


@dataclass
class CompiledJob:
    """What a backend would submit: the native job, shown before anything runs (a dry run)."""

    backend: str
    spec: JobSpec
    native: Any  # the backend's own object (a request dict, an azure-ai-ml entity ...)
    files: dict[str, str] = field(default_factory=dict)  # file name -> text to write
    warnings: list[SpecIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. what will be uploaded on submit
    estimate: Any = None  # cloudauto.cost.Estimate: the worst-case cost, on a backend that bills
    # whether a name an earlier `compile -o` wrote into the folder (its marker names it) is this spec's own output
    # that this compile no longer writes (SageMaker's request is named by the run's hash): write removes it
    earlier: Optional[Callable[[Path], bool]] = field(default=None, repr=False, compare=False)
    removed: list[Path] = field(default_factory=list)  # what write removed so (said by `compile -o`)

    @property
    def main_file(self) -> str:
        return next(iter(self.files))

    def render(self) -> str:
        """The main file's text (what `cloudauto compile` prints without -o), the environment's secrets replaced."""
        from .secrets import redactor

        return redactor(self.spec)(self._main_text())

    def _main_text(self) -> str:
        return self.files[self.main_file] if self.files else json.dumps(self.native, indent=2, default=str)

    def write(self, out: str | Path, keep: Iterable[Path] = ()) -> list[Path]:
        """Write every file into `out` (a folder), or the main file to `out` (a file name).

        The files are for the service to read, submittable as they are: identifiers (a role ARN,
        a bucket from `${NAME}`) are written as they are; credentials show `<secret:NAME>`.
        A code folder's files are bytes, written as the bundle made them: its spec.json keeps
        each `${NAME}` as the reference (runtime/bundle.py), so no value is in it to hide.
        A file of `keep` (the specs compiled) that a write would replace is an OutputError, nothing written.
        """
        out = output_path(out)
        written: list[Path] = []
        self.removed = []
        targets = self.targets(out)
        self.check_keeps(out, keep)
        from .runtime.bundle import folder_lock, mark_compiled

        # named in the folder written into, before any is written and under that folder's lock (which a command job's
        # code snapshot of the folder takes too), so a snapshot of that folder, even one taken meanwhile, leaves them out
        marked, names = (out.parent, {out.name}) if out in targets else (out, {t.relative_to(out).parts[0] for t in targets})
        try:
            marked.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a link to nothing, or a file, where the folder would be
            raise OutputError(f"{marked}: is there and is not a folder to write into; name another -o; nothing was written") from None
        with folder_lock(marked, exclusive=True):
            mark_compiled(marked, names)
            self._write_targets(out, targets, written)
            if marked == out:
                self._remove_earlier(out, names)
        return written

    def _remove_earlier(self, out: Path, names: set[str]) -> None:
        """An earlier compile's outputs of this spec that this one did not write: removed, then out of the marker (a
        kill between leaves a marker line naming nothing, dropped on the next compile). Only what the marker names."""
        from .runtime.bundle import compiled_outputs, mark_compiled

        if self.earlier is None:
            return
        gone = {n for n in compiled_outputs(out) - names if self.earlier(out / n)}
        for name in sorted(gone):
            path = out / name
            if path.is_dir() and not path.is_symlink():
                import shutil

                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            self.removed.append(path)
        if gone:
            mark_compiled(out, set(), drop=gone)

    def targets(self, out: str | Path) -> dict[Path, Any]:
        """Where write(out) puts each file: `out` itself for a one-file job named as a file, else `out/<name>`."""
        out = output_path(out)
        # an existing folder is a folder whatever its name (`out.v2`); a name with a suffix, or an existing file, is
        # the file of a one-file job
        if len(self.files) == 1 and not out.is_dir() and (out.suffix or out.exists()):
            return {out: self._main_text()}
        if out.exists() and not out.is_dir():
            names = list(self.files)
            raise OutputError(
                f"{out}: a file; the {self.backend} job is a folder of {len(names)} files ({names[0]}"
                f"{', ...' if len(names) > 1 else ''}): name a folder (an existing one or a new name) to write it into; "
                "nothing was written"
            )
        return {out / name: text for name, text in self.files.items()}

    def check_keeps(self, out: str | Path, keep: Iterable[Path]) -> None:
        """An OutputError when write(out) would replace something not its own: nothing is written then.

        A file of `keep` (the specs compiled; resolved paths: `./a/../x`, a link to it) or anything the spec reads
        (its code folder, data, weights: trial_inputs.spec_reads) written over, inside the job's own folder
        (<name>.code/, <name>.data/, which a write replaces whole), or holding such a folder; and such a folder that
        is there but that compile did not write (not named in `out`'s COMPILED_MARKER): the user's own."""
        from .runtime.bundle import COMPILED_MARKER, compiled_outputs
        from .runtime.trial_inputs import spec_reads

        out = output_path(out)
        targets = self.targets(out)
        names = {t.relative_to(out).parts[0] for t in targets if t != out and len(t.relative_to(out).parts) > 1}
        folders = [out / name for name in sorted(names)]
        kept = [(f"the spec {Path(k).resolve()}", Path(k).resolve(), False) for k in keep]
        reads = spec_reads(self.spec)  # the code folder may hold the output (its snapshot leaves compile's out)
        kept += [(f"{field} ({path.resolve()})", path.resolve(), field != "command.code") for field, path in reads]
        for place in [*targets, *folders]:
            real_place = place.resolve()
            for what, real, outer in kept:
                if real == real_place or real.is_relative_to(real_place):
                    how = "is" if real == real_place else f"is inside {real_place}, which is"
                elif outer and place in folders and real_place.is_relative_to(real):
                    how = f"holds {real_place}, which is"
                else:
                    continue
                raise OutputError(
                    f"{out}: {what} {how} where compile would write the {self.backend} job ({place.name}): "
                    "name another -o; nothing was written"
                )
        for name, path in reads:
            if name != "command.code":
                continue
            code = path.resolve()
            for place in targets:  # a file of the code folder (the script the trials run) is the user's
                if place != out and len(place.relative_to(out).parts) > 1:
                    continue  # inside the job's own folders, which the check below and the write handle whole
                real_place = place.resolve()
                own = place.name in compiled_outputs(place.parent) and not place.is_symlink()
                if real_place.is_relative_to(code) and (place.exists() or place.is_symlink()) and not own:
                    raise OutputError(
                        f"{out}: {real_place} is a file of command.code ({code}) and compile did not write it "
                        f"({place.parent / COMPILED_MARKER} does not name it): compile will not write the {self.backend} "
                        "job over it; name another -o; nothing was written"
                    )
        compiled = compiled_outputs(out)
        for folder in folders:
            there = folder.exists() or folder.is_symlink()
            if there and (folder.name not in compiled or folder.is_symlink() or not folder.is_dir()):
                raise OutputError(
                    f"{out}: {folder.absolute()} is there and compile did not write it ({out / COMPILED_MARKER} does not name it): "
                    f"compile replaces the {self.backend} job's folder {folder.name}/ whole, so it will not replace yours; "
                    "rename or move it, or name another -o; nothing was written"
                )

    def _code_folder(self) -> Optional[Path]:
        from .runtime.trial_inputs import spec_reads

        return next((path.resolve() for field, path in spec_reads(self.spec) if field == "command.code"), None)

    def _write_targets(self, out: Path, targets: dict[Path, Any], written: list[Path]) -> None:
        """Each of the job's folders (<name>.code/, <name>.data/) is written whole beside the old one and swapped in,
        then each file replaced whole: a compile killed half-way leaves the old folder or the new, never a mix (and
        its staging copies, which the next compile removes and no snapshot ships)."""
        import shutil

        from .runtime.bundle import folder_modes, remove_staging, staging_name, umask, write_file
        from .secrets import redactor

        remove_staging(out.parent if out in targets else out)  # what a compile killed here left
        hide = redactor(self.spec, identifiers=False)  # which variable a key came from, never the key

        def put(dest: Path, text: Any) -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):
                write_file(dest, text)  # no more readable than its source (a 0600 file of the code stays 0600)
            else:
                dest.write_text(hide(text), encoding="utf-8")

        parts = {target: (target.relative_to(out).parts if target != out else ()) for target in targets}
        stages: dict[str, Path] = {}
        for target, text in targets.items():
            if len(parts[target]) > 1:
                folder = parts[target][0]
                if folder not in stages:
                    stages[folder] = out / staging_name(folder, "tmp")
                    stages[folder].mkdir(mode=0o700)  # private until folder_modes opens it as its source is
                put(stages[folder].joinpath(*parts[target][1:]), text)
        code = self._code_folder()
        for folder, stage in sorted(stages.items()):
            if code is not None and folder.endswith(".code"):
                folder_modes(stage, code)  # a 0700 folder of the code is not written 0755
            else:
                os.chmod(stage, 0o777 & ~umask())
            if (out / folder).is_dir():
                old = out / staging_name(folder, "old")
                (out / folder).rename(old)
                stage.rename(out / folder)
                shutil.rmtree(old)
            else:
                stage.rename(out / folder)
        for target, text in targets.items():
            if len(parts[target]) <= 1:
                tmp = target.with_name(staging_name(target.name, "tmp"))
                put(tmp, text)
                tmp.replace(target)  # no half-written file if we are interrupted
        written.extend(targets)


class JobHandle(abc.ABC):
    """A submitted job. Every backend answers the same questions the same way."""

    id: str
    backend: str
    budget_stop: Optional[str] = None  # set by wait() when it canceled the job at limits.max_cost
    # limits the service has no field for, held by wait(): "stop_when", "max_failed_trials" (cloudauto.tuning.criteria)
    client_held: ClassVar[frozenset[str]] = frozenset()
    criteria_stop: Optional[str] = None  # set by wait() when it canceled the job for one of them

    def __repr__(self) -> str:  # which job a handle is (`attach("iris@latest")` in a notebook), not an address
        return f"<{type(self).__name__} {getattr(self, 'backend', '?')}:{getattr(self, 'id', '?')}>"

    @abc.abstractmethod
    def status(self) -> JobStatus: ...

    def status_reason(self) -> Optional[str]:
        """Why the job is in its state, in a line (a budget reached, the failure, what to do), where known."""
        return None

    @abc.abstractmethod
    def trials(self) -> list[Trial]: ...

    def parent_trials(self) -> list[Trial]:
        """sweep.warm_start: the parents' finished trials this sweep started from (id `PARENT#n`); they never run here.
        A cloud service keeps them in the parent jobs, so only the local backend lists them."""
        return []

    @abc.abstractmethod
    def cancel(self) -> None: ...

    @abc.abstractmethod
    def logs(self, trial: Optional[int] = None) -> str: ...

    @property
    @abc.abstractmethod
    def spec(self) -> JobSpec: ...

    def created(self) -> Optional[float]:
        """When the job was submitted (epoch seconds), where known: `runs` shows it, `latest` and `prune` go by it."""
        return None

    def ended(self) -> Optional[float]:
        """When the job ended (epoch seconds), where known and it has."""
        return None

    def watched(self) -> AbstractContextManager[None]:
        """Held while `run` (or `submit --wait`) waits for the job and reads its results: `delete` is refused meanwhile.

        A cloud service keeps its jobs itself; the local backend holds a shared lock in the job's folder."""
        return nullcontext()

    def delete(self, *, dry_run: bool = False) -> int:
        """Remove the job and everything it left (models, logs); the bytes freed (to be freed, with `dry_run`).

        Refused (JobInUse) while it runs or an endpoint or batch uses its model."""
        raise NotSupportedError(f"backend '{self.backend}' cannot delete its jobs from cloudauto")

    def download(self, dest: str | Path, *, best: bool = True) -> Path:
        raise NotSupportedError(f"backend '{self.backend}' cannot download artifacts yet")

    def model_uri(self, trial: Optional[Trial] = None) -> str:
        """Where a trial's model is (the best trial's by default): a path, or the service's URI."""
        raise NotSupportedError(f"backend '{self.backend}' does not say where its models are")

    def export_mlflow(self, tracking_uri: str, experiment: Optional[str] = None) -> tuple[str, str]:
        """Record the job in MLflow (a parent run, a child run per trial); the parent run's id and the URI written to.

        `tracking_uri` is a URI, or a path relative to the working folder (a `.db` file or a folder).
        """
        raise NotSupportedError(f"backend '{self.backend}' cannot record its jobs in MLflow from cloudauto")

    # whether billed_seconds() already counts what spot capacity saves (SageMaker's BillableTimeInSeconds, priced
    # on-demand); where not, a spot job's run time is priced at the spot price where one is known, else on-demand
    billed_time_counts_spot: ClassVar[bool] = False
    # how often wait() adds up what the trials have billed, where the spec has limits.max_cost
    BUDGET_POLL_S: ClassVar[float] = 60.0
    CRITERIA_POLL_S: ClassVar[float] = 30.0

    def _held_limits(self) -> bool:
        limits = self.spec.limits
        return ("stop_when" in self.client_held and limits.stop_when is not None) or (
            "max_failed_trials" in self.client_held and limits.max_failed_trials is not None
        )

    def _criterion_met(self) -> Optional[str]:
        """The client-held limit the job's trials meet now, or None."""
        from .tuning.criteria import failure_reason, stop_reason

        trials = self.trials()
        found = failure_reason(self.spec, trials) if "max_failed_trials" in self.client_held else None
        if found is None and "stop_when" in self.client_held:
            found = stop_reason(self.spec, trials)
        return found

    def billed_seconds(self) -> float:
        """Instance-seconds billed so far: each trial's run time (as the service reports it) × its instances."""
        run = sum(t.duration or 0.0 for t in self.trials() if t.started is not None)
        return run * self.spec.compute.instance_count

    def billed(self) -> Optional[tuple[float, str]]:
        """(USD billed so far, how it was worked out), on a backend that bills and whose price is known."""
        from .registry import get_backend

        found = get_backend(self.backend).estimate(self.spec)
        if found is None or found.price is None:
            return None
        price = found.price
        if self.spec.compute.spot and not self.billed_time_counts_spot and found.spot is not None:
            price = found.spot  # the run time of spare capacity, billed at its own price
        seconds = self.billed_seconds()
        usd = seconds / 3600 * price.usd_per_hour
        return usd, f"{seconds / 3600:.4g} instance-hours billed × ${price.usd_per_hour:g}/h ({price.source})"

    def _over_budget(self) -> Optional[str]:
        """Why the job must stop now: its billed time has reached limits.max_cost."""
        budget = self.spec.limits.max_cost
        billed = self.billed() if budget is not None else None
        if billed is None or billed[0] < budget:
            return None
        return f"billed ${billed[0]:,.2f} ({billed[1]}) has reached limits.max_cost ${budget:g}"

    def wait(self, *, poll: float = 2.0, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        """Block until the job ends; a progress line per change when not on a terminal.

        With limits.max_cost, the billed time is added up every BUDGET_POLL_S seconds, and a job
        that has reached the budget is canceled (the service's runtime limit holds it too).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        progress = sys.stderr.isatty() if progress is None else progress
        last = None
        next_budget_check, stopping = time.monotonic(), False
        next_criteria_check = time.monotonic()
        while True:
            status = self.status()
            if progress and status != last:
                print(f"[{self.id}] {status.value}", file=sys.stderr)
                last = status
            if status.is_final:
                return status
            if self.spec.limits.max_cost is not None and not stopping and time.monotonic() >= next_budget_check:
                next_budget_check = time.monotonic() + self.BUDGET_POLL_S
                why = self._over_budget()
                if why:
                    print(f"[{self.id}] canceling: {why}", file=sys.stderr)
                    self.cancel()
                    self.budget_stop, stopping = why, True
            if not stopping and self._held_limits() and time.monotonic() >= next_criteria_check:
                next_criteria_check = time.monotonic() + self.CRITERIA_POLL_S
                why = self._criterion_met()
                if why:
                    print(f"[{self.id}] canceling (held by the client, not the service): {why}", file=sys.stderr)
                    self.cancel()
                    self.criteria_stop, stopping = why, True
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} still {status.value} after {timeout}s")
            time.sleep(poll)

    def predict_batch(
        self, input: str | Path, output: str | Path, *, probabilities: bool = False, trial: Optional[int] = None, **options: Any
    ) -> BatchJob:
        """Score a file (or a folder of them) with the best trial's model (or trial `trial`) without an endpoint.

        Returns at once with a handle; `wait()` follows it. Every row of the input has a row in
        the output, in input order; rows that fail are listed with their row numbers and reasons.
        """
        raise NotSupportedError(f"backend '{self.backend}' has no batch inference yet")

    def refuse_forecasting_batch(self) -> None:
        """A forecaster answers each series' next steps from its history, not one answer per row: no batch is
        started for it (every backend's predict_batch calls this before it creates anything)."""
        from .spec.metrics import Task

        if self.spec.task is Task.TIME_SERIES_FORECASTING:
            raise NotSupportedError(
                f"job {self.id} is a time_series_forecasting job: predict scores rows one by one, and a forecaster "
                "answers the next prediction_length steps of each series from its history; serve it "
                f"(cloudauto deploy {self.id} -b {self.backend}) and send the histories "
                "(cloudauto score ENDPOINT history.csv -o forecast.csv)"
            )

    def deploy(self, name: Optional[str] = None, **options: Any) -> Endpoint:
        """Serve the best trial's model (see Backend.deploy)."""
        from .registry import get_backend

        return get_backend(self.backend).deploy(self, name=name or self.spec.name, **options)

    def trial(self, number: int) -> Trial:
        """Trial `number` of this job, or an error that says which trials there are."""
        trials = self.trials()
        for trial in trials:
            if trial.number == number:
                return trial
        has = f"its trials are {trials[0].number} to {trials[-1].number}" if trials else "it has no trial yet"
        raise NoSuchTrial(f"job {self.id} has no trial {number}: {has}")

    def trial_details(self, trial: Trial) -> Trial:
        """`trial` with what one more read of it gives, for a command that shows one trial (`best`, `trials --trial N`):
        a cloud trial's positive class is in its log. The local backend records everything with the trial."""
        return trial

    def best_trial(self, trials: Optional[list[Trial]] = None) -> Optional[Trial]:
        """The best trial of `trials` (default: the job's, read now: pass them where they were read already)."""
        goal = self.spec.objective.goal
        done = [t for t in (self.trials() if trials is None else trials) if t.objective is not None]
        if not done:
            return None
        best = done[0]
        for trial in done[1:]:
            if goal.better(trial.objective, best.objective):
                best = trial
        return best

    def leaderboard(self) -> pd.DataFrame:
        import pandas as pd  # only when asked for: the core stays free of pandas at import

        goal = self.spec.objective.goal
        trials = self.trials()
        test = f"test_{self.spec.objective.name}"
        tested = any(test in t.scores for t in trials)  # a test set scored: each trial's score on it, not only the best's
        rows = [
            {
                "trial": t.number,
                "status": t.status.value,
                self.spec.objective.name: t.objective,
                **{m.name: t.scores.get(f"val_{m.name}") for m in self.spec.extra_metrics},  # on validation data, as the objective
                **({test: t.scores.get(test)} if tested else {}),
                "duration_s": t.duration,
                **{f"param.{k}": v for k, v in t.params.items()},
            }
            for t in trials
        ]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        return frame.sort_values(self.spec.objective.name, ascending=goal.value == "minimize", na_position="last").reset_index(
            drop=True
        )


CLOUD_BATCH_NAMES = {"sagemaker": "SageMaker batch transform", "azureml": "Azure ML batch endpoint"}


def keep_columns_refusal(backend: str, source: str, job: str = "JOB", columns: Optional[list[str]] = None) -> str:
    """Why a cloud batch on an input already in the cloud does not take keep_columns, and what does.

    The kept columns are read on this machine, from the local input cloudauto uploads, and joined to the answers once
    they are down (SageMaker's own join appends CSV to a CSV row, and the answers are JSON Lines; Azure ML's batch
    output has none): an s3:// or azureml:// input is read by the service alone."""
    kept = ",".join(columns or ["COLUMNS"])
    return (
        f"{source} is read by the {CLOUD_BATCH_NAMES.get(backend, backend)} alone, and kept columns are copied on this "
        f"machine from the local input cloudauto uploads; download the input and pass the local file or folder, or score "
        f"through an endpoint: cloudauto deploy {job} --backend {backend}, then cloudauto score ENDPOINT FILE "
        f"--keep-columns {kept} --backend {backend} (endpoint.score(data, keep_columns=[...]) in Python)"
    )


def refuse_kept_uri(backend: str, source: str | Path, job: str, columns: Optional[list[str]]) -> None:
    """A cloud batch's keep_columns on an s3:// or azureml:// input: refused before any call, saying why and what does."""
    from .runtime.batch_io import is_uri

    if columns and is_uri(source):
        raise NotSupportedError("keep_columns: " + keep_columns_refusal(backend, str(source), job, list(columns)))


class BatchError(CloudautoError):
    """A batch cannot be scored as asked (its input, its output, or answers that do not line up with the input).

    Exit 4, the README's "a batch failed": 1 is for an invalid spec only."""

    exit_code = 4


class BatchInterrupted(CloudautoError):
    """The process running a batch is gone before the end; running the same command again carries it on."""

    exit_code = 4


@dataclass(frozen=True)
class RowFailure:
    row: int  # 0-based, counted over the whole input (a folder's files in name order)
    reason: str
    file: Optional[str] = None
    line: Optional[int] = None  # the line of its (CSV) file the row starts on: row 0 is line 2 or later

    @property
    def where(self) -> str:
        """'row 1 (line 3 of in.csv)': the row as counted, and where to find it in its file."""
        if self.line is None:
            return f"row {self.row}"
        return f"row {self.row} (line {self.line}" + (f" of {Path(self.file).name})" if self.file else ")")


class BatchJob(abc.ABC):
    """A batch inference run: the same questions as a job, and the scored rows at the end."""

    id: str
    backend: str
    output: str  # where the result is written

    @abc.abstractmethod
    def status(self) -> JobStatus: ...

    def status_reason(self) -> Optional[str]:
        return None

    @abc.abstractmethod
    def logs(self) -> str: ...

    @abc.abstractmethod
    def failures(self) -> list[RowFailure]:
        """The rows that could not be scored (their output rows hold no prediction)."""

    def wait(self, *, poll: float = 2.0, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status.is_final:
                return status
            if status is JobStatus.INTERRUPTED:
                raise BatchInterrupted(f"batch {self.id}: {self.status_reason() or 'interrupted'}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"batch {self.id} still {status.value} after {timeout}s")
            time.sleep(poll)

    def result(self) -> pd.DataFrame:
        """The output as a frame, one row per input row, in input order."""
        import pandas as pd

        path = Path(self.output)
        return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)


class Endpoint(abc.ABC):
    """A deployed model; `score` works the same against every backend."""

    name: str
    backend: str

    @abc.abstractmethod
    def score(self, data: Any) -> Any: ...

    @abc.abstractmethod
    def delete(self) -> None: ...


class Backend(abc.ABC):
    """A plugin registered under the entry-point group `cloudauto.backends`."""

    name: ClassVar[str]
    tasks: ClassVar[frozenset[Task]]
    settings_model: ClassVar[Optional[type[BaseModel]]] = None
    install_hint: ClassVar[str] = ""
    # the engines whose trials are cloudauto's AutoGluon runtime on this backend (Azure ML's native is AutoML)
    autogluon_engines: ClassVar[frozenset[str]] = frozenset({"autogluon", "native"})
    # whether this backend's sampler draws a family's settings only in trials of that family (the local one does)
    prunes_family_settings: ClassVar[bool] = False
    # URI schemes whose checkpoint folders this backend mounts as trial inputs (beside local folders and s3://)
    mounted_schemes: ClassVar[frozenset[str]] = frozenset()
    # whether trials here lack the Hugging Face hub unless told (CLOUDAUTO_ALLOW_HUB=1): foundation weights must be folders
    offline_by_default: ClassVar[bool] = False

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        """What this spec asks for that the backend cannot express: feature -> reason."""
        return {}

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        """Things the backend approximates (a warning, or an error under strict)."""
        return {}

    def check(self, spec: JobSpec, *, strict: bool = False) -> list[SpecIssue]:
        """Refuse what cannot be expressed before anything is built; return the warnings."""
        problems: list[SpecIssue] = []
        if spec.task not in self.tasks:
            valid = ", ".join(sorted(t.value for t in self.tasks))
            problems.append(SpecIssue(f"backend '{self.name}' does not run task {spec.task.value}; it runs: {valid}", ("task",)))
        for feature, reason in self.unsupported(spec).items():
            problems.append(SpecIssue(f"{self.name} cannot express {feature.value}: {reason}", FEATURE_PATHS.get(feature, ())))
        from .runtime.autogluon_params import MULTIMODAL_TASKS

        if spec.engine.value in self.autogluon_engines:  # one check of AutoGluon's names and values, everywhere
            from .runtime.autogluon_params import issues

            problems += [SpecIssue(f"{self.name}: {i.message}", i.path) for i in issues(spec)]
            from .runtime.foundation import hub_allowed, weights_setting_issues
            from .runtime.trial_inputs import local_checkpoints

            problems += weights_setting_issues(spec, self.name)  # a weights setting AutoGluon would not read

            offline = self.offline_by_default and not hub_allowed()
            _, missing = local_checkpoints(spec, self.mounted_schemes, offline=offline)  # image/text checkpoints, weights
            problems += [SpecIssue(f"{self.name}: {i.message}", i.path) for i in missing]
            if self.offline_by_default and spec.task not in MULTIMODAL_TASKS:
                from .runtime.foundation import offline_issues

                problems += offline_issues(spec, self.name)
        warned = [
            SpecIssue(f"{self.name}: {feature.value}: {reason}", FEATURE_PATHS.get(feature, ()), level="warning")
            for feature, reason in self.warnings(spec).items()
        ]
        if spec.engine.value in self.autogluon_engines and not self.prunes_family_settings:
            warned += self._family_settings_drawn_always(spec)
        if spec.engine.value in self.autogluon_engines and spec.task.value == "time_series_forecasting":
            from .runtime.autogluon_timeseries import preset_issues

            warned += preset_issues(spec, self.name)  # a preset trial that leaves out the preset's foundation models
        if spec.limits.max_cost is not None and self.cost_basis(spec) is None:  # nothing billed: nothing for a budget to hold
            warned.append(
                SpecIssue(
                    f"{self.name}: limits.max_cost has no effect on the {self.name} backend: it bills nothing, so no budget "
                    "stops its jobs (limits.timeout does); the budget holds where the spec is compiled for a cloud backend",
                    ("limits", "max_cost"),
                    level="warning",
                )
            )
        if strict and warned:
            problems += [SpecIssue(w.message + " (an error under --strict)", w.path) for w in warned]
        if problems:
            raise CompileError(self.name, problems)
        return warned

    def _family_settings_drawn_always(self, spec: JobSpec) -> list[SpecIssue]:
        """A flat space with `models` and FAMILY.name: the service's tuner draws every name in every trial."""
        from .runtime.autogluon_params import active_parameters
        from .tuning.flat import grid_encoded

        if grid_encoded(spec):  # the tuner runs the local grid's own points (cloudauto.tuning.flat)
            return []
        found = []
        for index, sub in enumerate(spec.space.subspaces):
            models = sub.get("models", sub.get("model_name"))
            if models is None or not models.is_discrete or not 2 <= models.grid_count() <= 10_000:
                continue
            # only a setting that takes more than one value can make two trials differ; a fixed one is static
            probe = {name: 0 for name, dist in sub.items() if not (dist.is_discrete and dist.grid_count() == 1)}
            unused = {
                name
                for value in models.grid_values()
                for name in probe
                if name not in active_parameters({**probe, "models": value})
            }
            if unused:
                found.append(
                    SpecIssue(
                        f"{self.name}: the tuner draws {', '.join(sorted(unused))} in every trial, also in trials whose models "
                        "do not use them, and counts such trials as different configurations; the local backend draws a "
                        "family's settings only with it. Sweep one family per job, or give each family a sub-space (a list)",
                        ("sweep", "space", index),
                        level="warning",
                    )
                )
        return found

    def cost_basis(self, spec: JobSpec) -> Any:
        """What a job of this spec bills for (a cloudauto.cost.CostBasis), or None where nothing is billed."""
        return None

    def estimate(self, spec: JobSpec) -> Any:
        """The worst-case cost of this spec's job (a cloudauto.cost.Estimate), or None where nothing is billed."""
        basis = self.cost_basis(spec)
        if basis is None:
            return None
        from .cost import estimate

        return estimate(basis)

    def compile(self, spec: JobSpec, *, strict: bool = False) -> CompiledJob:
        warned = self.check(spec, strict=strict)
        found = self.estimate(spec)
        if found is not None:  # a budget the worst case exceeds, or cannot be checked against, is refused first
            from .cost import budget_issues, note

            refused = budget_issues(spec, found)
            if refused:
                raise CompileError(self.name, refused)
        job = self._compile(spec)
        job.warnings = [*spec.warnings, *warned, *job.warnings]
        if found is not None:
            job.estimate = found
            job.notes.insert(0, note(found))
        return job

    def submit(
        self,
        spec: JobSpec,
        *,
        strict: bool = False,
        compiled: Optional[CompiledJob] = None,
        preflight: bool = True,
        **options: Any,
    ) -> JobHandle:
        """Compile (or take the job `compile` returned for this spec), check the data and (unless `preflight=False`)
        what the service will check (role, quotas, images), and start it."""
        job = compiled if compiled is not None and compiled.spec is spec else self.compile(spec, strict=strict)
        from .runtime.data_check import data_issues

        found = data_issues(spec)  # before anything starts: no job, no instance, no upload
        problems = [i for i in found if i.level == "error"]
        if problems:
            raise DataCheckError(self.name, problems)
        job.warnings += [i for i in found if i.level == "warning"]  # said by the CLI after submit; kept on the compiled job
        if preflight:
            self.run_preflight(spec)
        return self._submit(job, **options)

    def run_preflight(self, spec: JobSpec) -> list[Any]:
        """`preflight`'s checks: a PROBLEM refuses the job (PreflightError, nothing uploaded); a WARNING is printed."""
        from .preflight import CheckLevel, PreflightError, problems
        from .secrets import redactor

        checks = self.preflight(spec)
        refused = problems(checks)
        if refused:
            raise PreflightError(self.name, refused)
        hide = redactor(spec)
        for check in checks:
            if check.level is CheckLevel.WARNING:
                print(hide(f"preflight: {check.line()}"), file=sys.stderr)
        return checks

    def attach(self, job_id: str) -> JobHandle:
        """A handle to a job submitted earlier (by id)."""
        return self._attach(job_id)

    def deploy(self, job: JobHandle, *, name: str, **options: Any) -> Endpoint:
        raise NotSupportedError(f"backend '{self.name}' cannot deploy endpoints yet")

    def endpoint(self, name: str) -> Endpoint:
        """An endpoint deployed earlier, by name."""
        raise NotSupportedError(f"backend '{self.name}' has no endpoints yet")

    def list_endpoints(self) -> list[Any]:
        """The live endpoints cloudauto deployed on this backend (cloudauto.endpoints.EndpointInfo), with age and price."""
        raise NotSupportedError(f"backend '{self.name}' cannot list endpoints yet")

    def jobs(self) -> list[JobHandle]:
        """Jobs this backend knows of, oldest first."""
        raise NotSupportedError(f"backend '{self.name}' cannot list jobs yet")

    def missing_jobs(self) -> list[tuple[str, str]]:
        """(id, why) of jobs this backend knows of whose records are not where they should be (a local run_dir moved,
        a disk not mounted): `runs` lists them as missing rather than leaving them out."""
        return []

    def leftovers(self, *, dry_run: bool = False) -> list[tuple[str, int, str]]:
        """Remove what commands killed half-way (a delete, a submit) left behind; (what, bytes freed, what left it) for
        each (`prune` calls it; with `dry_run`, what it would remove)."""
        return []

    def old_batches(self, older_than: float, *, dry_run: bool = False) -> list[tuple[str, int]]:
        """Remove the working state of batches that ended `older_than` seconds ago or more, with what a killed one left
        beside its output; (what, bytes freed) for each (`prune` calls it). A cloud service keeps no such state here."""
        return []

    def resume(self, job_id: str) -> JobHandle:
        """Carry on a job whose scheduler stopped (the local backend's orchestrator was killed)."""
        raise NotSupportedError(f"backend '{self.name}' has no resume: its jobs are scheduled by the service")

    def setup(self, **options: Any) -> list[str]:
        """Create, idempotently, what this backend's jobs need (storage, a role, a cluster); the lines to put in the spec or environment."""
        raise NotSupportedError(f"backend '{self.name}' has nothing to set up")

    def teardown(self, **options: Any) -> list[str]:
        """Remove what `setup` made (only that); what was removed, one line each."""
        raise NotSupportedError(f"backend '{self.name}' has nothing to tear down")

    def doctor(self, spec: Optional[JobSpec] = None) -> list[Any]:
        """Every check of credentials, region, storage and role, and for a spec its quotas and images (cloudauto.preflight.Check)."""
        return []

    def preflight(self, spec: JobSpec) -> list[Any]:
        """The checks of `doctor` that concern this spec, run by `submit` before anything is uploaded."""
        return []

    @abc.abstractmethod
    def _compile(self, spec: JobSpec) -> CompiledJob: ...

    @abc.abstractmethod
    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle: ...

    @abc.abstractmethod
    def _attach(self, job_id: str) -> JobHandle: ...


__all__ = [
    "Backend",
    "NotConfigured",
    "BatchError",
    "BatchInterrupted",
    "BatchJob",
    "CompileError",
    "CompiledJob",
    "DataCheckError",
    "Endpoint",
    "Feature",
    "JobHandle",
    "JobInUse",
    "JobOwned",
    "JobStatus",
    "MetricPoint",
    "NotSupportedError",
    "NothingToResume",
    "OutputError",
    "RowFailure",
    "Trial",
    "TrialStatus",
    "request_json",
]
