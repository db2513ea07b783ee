"""The local backend. Compiling gives the run plan; the trial runner comes next."""

from __future__ import annotations

import json
from typing import Any

from cloudauto.backend import Backend, CompiledJob, Feature, JobHandle, NotSupportedError
from cloudauto.spec.backends import LocalSettings
from cloudauto.spec.metrics import Task
from cloudauto.spec.models import Engine, JobSpec


class LocalBackend(Backend):
    name = "local"
    tasks = frozenset(Task)
    settings_model = LocalSettings
    install_hint = "pip install cloudauto-local"

    def warnings(self, spec: JobSpec) -> dict[Feature, str]:
        if spec.engine is Engine.NATIVE:
            return {Feature.NATIVE_ENGINE: "the local backend's native AutoML is AutoGluon; the spec runs as engine: autogluon"}
        return {}

    def _compile(self, spec: JobSpec) -> CompiledJob:
        objective = spec.objective
        settings = spec.backends.local
        plan: dict[str, Any] = {
            "backend": self.name,
            "mode": settings.mode.value,
            "job": spec.name,
            "task": spec.task.value,
            "engine": "command" if spec.engine is Engine.COMMAND else "autogluon",
            "objective": {"name": objective.name, "goal": objective.goal.value, "autogluon_eval_metric": objective.autogluon},
            "sampling": spec.sweep.sampling.value if spec.sweep else None,
            "max_trials": spec.max_trials,
            "max_concurrent_trials": min(spec.limits.max_concurrent_trials, spec.max_trials),
            "workers": settings.workers or min(spec.limits.max_concurrent_trials, spec.max_trials),
            "early_termination": spec.policy.model_dump(mode="json") if spec.policy else None,
            "limits": spec.limits.model_dump(mode="json", exclude_none=True),
            "spec": spec.to_dict(),
        }
        return CompiledJob(self.name, spec, plan, files={f"{spec.name}.plan.json": json.dumps(plan, indent=2) + "\n"})

    def _submit(self, job: CompiledJob, **options: Any) -> JobHandle:
        raise NotSupportedError("running jobs is not yet supported by the local backend in this version of cloudauto-local")

    def _attach(self, job_id: str) -> JobHandle:
        raise NotSupportedError("the local backend keeps no runs in this version of cloudauto-local")
