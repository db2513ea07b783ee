"""The local backend: a sweep's trials run as warm worker processes on this machine.

`compile` gives the run plan (what would run, nothing is started); `submit` writes the
run store under the runs folder and starts the orchestrator detached, so the sweep goes
on after the command returns; `attach` and `resume` find a job by its id.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import (
    Backend,
    CompiledJob,
    CompileError,
    Endpoint,
    Feature,
    JobHandle,
    NoModel,
    NotSupportedError,
    request_json,
)
from cloudauto.runtime.autogluon_trial import untrainable
from cloudauto.runtime.data import resolve
from cloudauto.spec.backends import LocalMode, LocalSettings
from cloudauto.spec.errors import CloudautoError, SpecIssue
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine, JobSpec
from cloudauto.tuning.flat import local_grid_note
from cloudauto.tuning.samplers import planned_trials

from .handle import LocalJobHandle, start_orchestrator
from .paths import private, remember_run_dir, runs_home
from .pins import code_digests, pin
from .slots import slot_count
from .standby import Standby, preload_for
from .store import RunStore

TIMESERIES_INSTALL = (
    "pip install -c constraints.txt -e 'backends/local[timeseries]' (in a clone, as README installs), "
    "or pip install 'cloudauto-local[timeseries]'"
)


class ExtraNotInstalled(CloudautoError):
    """The spec needs an extra of the local backend that is not installed: a part not installed (exit 3)."""

    exit_code = 3


class JobNotFound(CloudautoError):
    exit_code = 3


def runs_dir(spec: Optional[JobSpec] = None) -> Path:
    """Where a spec's job is written: its `backends.local.run_dir` (relative to the spec), else the home's runs."""
    configured = spec.backends.local.run_dir if spec is not None else None
    if not configured:
        return runs_home()
    return Path(resolve(configured, spec.base_dir or str(Path.cwd())))


class LocalBackend(Backend):
    name = "local"
    tasks = frozenset(Task)
    settings_model = LocalSettings
    install_hint = "pip install cloudauto-local"
    prunes_family_settings = True  # the local samplers prune with autogluon_params.active_parameters
    offline_by_default = True  # foundation models read folders here unless CLOUDAUTO_ALLOW_HUB=1 (runtime/foundation.py)

    def unsupported(self, spec: JobSpec) -> dict[Feature, str]:
        from .endings import refuse_converged

        why = refuse_converged(spec)
        return {Feature.STOP_ON_CONVERGENCE: why} if why else {}

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        found: dict[Feature, str] = {}
        if spec.engine is Engine.NATIVE:
            found[Feature.NATIVE_ENGINE] = "the local backend's native AutoML is AutoGluon; the spec runs as engine: autogluon"
        if spec.compute.spot:
            found[Feature.SPOT] = (
                "not applicable on this machine: compute.spot (and compute.max_wait) take effect on SageMaker and Azure ML; "
                "here trials run as they always do, and cloudauto.checkpoint_dir() is the trial's folder"
            )
        return found

    def _compile(self, spec: JobSpec) -> CompiledJob:
        problem = untrainable(
            spec,
            "Use engine: command with your own training script, or the azureml backend with engine: native (an Azure AutoML job).",
        )
        if problem:
            raise CompileError(self.name, [SpecIssue(f"local: {problem}", ("task",))])
        objective = spec.objective
        settings = spec.backends.local
        planned = planned_trials(spec)  # a grid's distinct points, pruned as the engine prunes them (not the product)
        concurrency = min(spec.limits.max_concurrent_trials, planned)
        plan: dict[str, Any] = {
            "backend": self.name,
            "mode": settings.mode.value,
            "job": spec.name,
            "task": spec.task.value,
            "engine": "command" if spec.engine is Engine.COMMAND else "autogluon",
            "objective": {"name": objective.name, "goal": objective.goal.value, "autogluon_eval_metric": objective.autogluon},
            "sampling": spec.sweep.sampling.value if spec.sweep else None,
            "max_trials": planned,
            "max_concurrent_trials": concurrency,
            "workers": min(settings.workers or concurrency, concurrency),
            "early_termination": spec.policy.model_dump(mode="json") if spec.policy else None,
            "limits": spec.limits.model_dump(mode="json", exclude_none=True),
            "runs_dir": str(runs_dir(spec)),
            "spec": spec.to_dict(),
        }
        notes = [note] if (note := local_grid_note(spec)) else []
        return CompiledJob(
            self.name,
            spec,
            plan,
            files={f"{spec.name}.plan.json": request_json(plan, what="the local plan", indent=2) + "\n"},
            notes=notes,
        )

    def submit(
        self,
        spec: JobSpec,
        *,
        strict: bool = False,
        compiled: Optional[CompiledJob] = None,
        preflight: bool = True,
        **options: Any,
    ) -> JobHandle:
        """As every backend's, with the job's scheduler started on standby before the data check, its first
        workers importing AutoGluon while the data is checked and the store written (standby.py)."""
        job = compiled if compiled is not None and compiled.spec is spec else self.compile(spec, strict=strict)
        from .gpus import check

        check(spec)  # GPUs this machine lacks: refused before a worker starts (compile may be for another machine)
        standby = _standby(spec)
        try:
            return super().submit(spec, strict=strict, compiled=job, preflight=preflight, standby=standby, **options)
        finally:
            if standby is not None:
                standby.abandon()  # nothing when it was handed the job

    def _submit(self, job: CompiledJob, standby: Optional[Standby] = None, **options: Any) -> JobHandle:
        spec = job.spec
        command = spec.engine is Engine.COMMAND
        if not command and spec.task is Task.TIME_SERIES_FORECASTING and importlib.util.find_spec("autogluon.timeseries") is None:
            raise ExtraNotInstalled(f"time_series_forecasting needs autogluon.timeseries: {TIMESERIES_INSTALL}")
        slot_count()  # a bad CLOUDAUTO_LOCAL_SLOTS is refused before anything is written
        root = runs_dir(spec)
        job_id = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        run_dir = (root / job_id).resolve()
        base_dir = spec.base_dir or str(Path.cwd())
        if command:
            code = Path(resolve(spec.command.code, base_dir))
            if not code.is_dir():
                raise NotSupportedError(f"command.code: {code} is not a folder")
        stored = spec.to_stored()  # ${NAME} values stay in the environment: the store keeps the references
        docker = spec.backends.local.mode is LocalMode.DOCKER
        if docker:  # refuse now, with the reason, rather than fail every trial later
            from .container import docker_client, image_for, preflight

            client = docker_client()
            image, why = image_for(spec)
            preflight(client, spec, image, why)
            stored.setdefault("backends", {}).setdefault("local", {})["image"] = image
        inputs = pin(spec, base_dir)  # what resume checks: the data the trials train and score on stays this data
        code = code_digests(spec, base_dir)  # what a same_data warm start from this job compares
        from .endings import parent_rows

        warm = parent_rows(spec, attach, inputs, code)  # before anything is written: a parent that cannot be used refuses the job
        # a job elsewhere: the home links to it (its id finds it from any folder), made as its folder is (RunStore.create)
        link = runs_home() / job_id if root != runs_home() else None
        with private():  # the job's folder, store and logs, and the scheduler's own files, are the user's alone
            remember_run_dir(root)  # before anything is written there: prune looks there for what a killed submit left
            store = RunStore.create(run_dir, job_id, json.dumps(stored), base_dir, inputs, code, link=link)
            if warm:
                try:
                    store.add_warm_trials(warm)
                except BaseException:
                    import shutil

                    shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-written
                    if link is not None:
                        link.unlink(missing_ok=True)
                    raise
            if docker:
                from .container import write_code

                write_code(store.dir, spec)
            start_orchestrator(store, standby=standby)
        return LocalJobHandle(store.dir)

    def _attach(self, job_id: str) -> LocalJobHandle:
        return attach(job_id)

    def deploy(
        self,
        job: JobHandle,
        *,
        name: str,
        port: Optional[int] = None,
        key: Optional[str] = None,
        host: str = "127.0.0.1",
        mode: Optional[str] = None,
        image: Optional[str] = None,
        workers: int = 1,
        trial: Optional[int] = None,
        ttl: Optional[float] = None,
        **options: Any,
    ) -> Endpoint:
        from .endpoint import start, start_container

        if options:  # a typo or a cloud backend's option must not pass in silence
            raise NotSupportedError(
                f"the local backend's deploy takes no {', '.join(sorted(options))}; "
                "it takes name, port, key, host, mode, image, workers, trial and ttl"
            )

        best = job.trial(trial) if trial is not None else job.best_trial()
        if best is None or "dir" not in best.artifacts:
            raise NoModel(f"job {job.id} has no finished trial with a model to deploy")
        model_dir = str(Path(best.artifacts["dir"]) / "model")
        if not (Path(model_dir) / "cloudauto_model.json").is_file():
            with_model = [
                t.number
                for t in job.trials()
                if "dir" in t.artifacts and (Path(t.artifacts["dir"]) / "model" / "cloudauto_model.json").is_file()
            ]
            other = f"; trials with a model: {', '.join(map(str, with_model))} (deploy --trial N)" if with_model else ""
            raise NoModel(f"trial {best.number} of {job.id} ({best.status.value}) left no servable model{other}")
        settings = job.spec.backends.local
        if (mode or settings.mode.value) == "docker":
            if key:
                raise NotSupportedError(
                    "a docker-mode endpoint speaks SageMaker's contract, which has no key; deploy in process mode for --key"
                )
            if workers != 1:
                raise NotSupportedError("a docker-mode endpoint runs one serving process; deploy in process mode for --workers")
            from .container import image_for

            chosen = image or image_for(job.spec)[0]
            with private():
                return start_container(
                    name, model_dir, job_id=job.id, trial=best.number, image=chosen, port=port, ttl=ttl, spec=job.spec.name
                )
        with private():  # the record, the log and the server's own files
            return start(
                name,
                model_dir,
                job_id=job.id,
                trial=best.number,
                host=host,
                port=port,
                key=key,
                workers=workers,
                ttl=ttl,
                spec=job.spec.name,
            )

    def endpoint(self, name: str) -> Endpoint:
        from .endpoint import attach as attach_endpoint

        return attach_endpoint(name)

    def list_endpoints(self) -> list[Any]:
        from .endpoint import list_endpoints

        return list_endpoints()

    def jobs(self) -> list[JobHandle]:
        return list(list_jobs())

    def missing_jobs(self) -> list[tuple[str, str]]:
        return [(name, f"{folder} is not there") for name, folder in missing_folders()]

    def resume(self, job_id: str) -> JobHandle:
        return attach(job_id).resume()

    def old_batches(self, older_than: float, *, dry_run: bool = False) -> list[tuple[str, int]]:
        from .housekeeping import old_batches

        return old_batches(older_than, dry_run=dry_run)

    def leftovers(self, *, dry_run: bool = False) -> list[tuple[str, int, str]]:
        """Remove what deletes and submits killed half-way left; (path, bytes freed, what left it) for each (what
        would be removed, with `dry_run`). A link named like such a folder is removed itself, never followed."""
        from .housekeeping import footprint, leftovers, remove, stale_standby_logs

        removed = []
        for path, why in leftovers():
            size = path.lstat().st_size if path.is_symlink() else footprint(path)
            if dry_run or remove(path):
                removed.append((str(path), size, why))
        for log in stale_standby_logs():
            try:
                size = log.stat().st_size
                if not dry_run:
                    log.unlink()
            except FileNotFoundError:  # another prune took it
                continue
            removed.append((str(log), size, "a submit that was stopped half-way (its scheduler's standby log)"))
        return removed


def _standby(spec: JobSpec) -> Optional[Standby]:
    """The job's scheduler, started now with as many workers as it will run trials at once (none where submit
    will refuse the slot count anyway)."""
    try:
        slots = slot_count()
    except CloudautoError:
        return None
    settings = spec.backends.local
    concurrency = min(spec.limits.max_concurrent_trials, spec.max_trials, slots)
    workers = min(settings.workers or concurrency, concurrency)
    try:
        with private():
            remember_run_dir(runs_dir(spec))  # its log goes there: prune finds it if the submit is killed
            return Standby.start(runs_dir(spec), preload_for(spec), workers, spec.base_dir or str(Path.cwd()))
    except OSError:  # a full disk, a folder not ours: submit goes on without, and says what is wrong where it writes
        return None


def attach(job_id: str, root: Optional[Path] = None) -> LocalJobHandle:
    """A job by id, or by a unique prefix of it."""
    root = root or runs_home()
    direct = Path(job_id)
    if (direct / "run.db").is_file():
        return LocalJobHandle(direct)
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise JobNotFound(f"'{job_id}' is not a job id (list them with: cloudauto runs)")
    matches = sorted(p.parent for p in root.glob(f"{glob.escape(job_id)}*/run.db"))
    exact = [m for m in matches if m.name == job_id]
    if exact or len(matches) == 1:
        return LocalJobHandle((exact or matches)[0])
    if not matches:
        missing = missing_folders(root, job_id)
        exact_missing = [m for m in missing if m[0] == job_id]
        if exact_missing or len(missing) == 1:
            name, folder = (exact_missing or missing)[0]
            why = (
                f"{folder.parent} is not there: a run_dir moved or a disk not mounted"
                if not folder.parent.is_dir()
                else f"moved out of {folder.parent} or deleted by hand"
            )
            gone = f" (deleted for good: rm {root / name} drops the link)" if folder.parent.is_dir() else ""
            raise JobNotFound(
                f"local job '{name}': its folder {folder} is missing ({why}; {root / name} links to it): put the folder "
                f"back there, or link it there, and run the command again{gone}"
            )
        raise JobNotFound(f"no local job '{job_id}' under {root} (list them with: cloudauto runs)")
    listed = "\n".join(f"  {m.name}" for m in matches)
    raise JobNotFound(f"'{job_id}' matches {len(matches)} jobs; give more of the id:\n{listed}")


def missing_folders(root: Optional[Path] = None, prefix: str = "") -> list[tuple[str, Path]]:
    """(job id, its folder) for each of the home's links to a job folder that is not there (its run_dir moved, a disk
    not mounted, the folder moved out of its run_dir): no listing finds such a job, yet nothing is lost (prune keeps
    these links; it removes only those of a submit stopped half-way: housekeeping._never_made)."""
    from .housekeeping import _never_made

    root = root or runs_home()
    found = []
    for link in sorted(root.glob(f"{glob.escape(prefix)}*")) if root.is_dir() else []:
        if link.name.startswith(".") or not link.is_symlink():
            continue
        try:
            target = Path(os.path.abspath(link.parent / os.readlink(link)))
        except OSError:  # deleted meanwhile
            continue
        if not target.parent.is_dir() or not (target.exists() or _never_made(link)):
            found.append((link.name, target))
    return found


def list_jobs(root: Optional[Path] = None) -> list[LocalJobHandle]:
    root = root or runs_home()
    # a link to a deleted job's folder is skipped, and hidden folders (a job being built or deleted) are no jobs
    found = [p for p in root.glob("*/run.db") if p.is_file() and not p.parent.name.startswith(".")]
    return [LocalJobHandle(p.parent) for p in sorted(found, key=lambda p: p.stat().st_mtime)]


__all__ = ["JobNotFound", "LocalBackend", "attach", "list_jobs", "missing_folders", "runs_dir"]
