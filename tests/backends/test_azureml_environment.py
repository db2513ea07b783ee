"""The default Azure ML environment follows the task (issue 27 item 9), checked by running the trial in it.

An environment built from exactly the compiled pins is played from this venv: the pins'
requirement closure (importlib.metadata, markers and extras evaluated) is the set of
distributions the environment would hold, and the trial runs in a process whose import
system refuses every module a distribution outside that set provides. So an import the pins
do not bring (autogluon.timeseries with a tabular-only environment) fails here as on Azure.
The one difference: a pinned distribution this venv lacks (azureml-mlflow) is not checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import cloudauto

from ..conftest import ROOT

# run in the trial's process before the entry: the import gate
_GATE = r"""
import importlib.abc, importlib.machinery, json, os, re, sys
from importlib import metadata

allowed = set(json.loads(os.environ["CLOUDAUTO_TEST_ALLOWED"]))
owner = {}
for dist in metadata.distributions():
    name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
    for file in dist.files or ():
        if file.suffix in (".py", ".so", ".pyd"):
            owner[os.path.normpath(str(dist.locate_file(file)))] = name


class Gate(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        dist = owner.get(os.path.normpath(spec.origin)) if spec is not None and spec.origin else None
        if dist is not None and dist not in allowed:
            raise ModuleNotFoundError(f"No module named '{fullname}' (from {dist}, not in the pins)", name=fullname)
        return None


sys.meta_path.insert(0, Gate())
sys.argv = ["azureml_entry", *sys.argv[1:]]
from cloudauto.runtime.azureml_entry import main

sys.exit(main())
"""


def closure(pins: list[str]) -> set[str]:
    """The distributions an environment built from `pins` holds (those this venv can resolve)."""
    found: set[str] = set()
    todo = [Requirement(p) for p in pins]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        found.add(key[0])
        for text in dist.requires or ():
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return found


def _pins(environment) -> list[str]:
    return next(d for d in environment.conda_file["dependencies"] if isinstance(d, dict))["pip"]


def _trial(tmp_path: Path, job, pins: list[str], params: dict[str, str]) -> subprocess.CompletedProcess:
    """The compiled trial command, its ${{...}} filled as Azure ML fills them, run from the code folder."""
    job.write(tmp_path / "compiled")
    code = tmp_path / "compiled" / f"{job.spec.name}.code"
    values = {f"inputs.{k}": str(v.path) for k, v in job.native.inputs.items()}
    values["outputs.model"] = str(tmp_path / "model")
    values.update({f"search_space.{k}": v for k, v in params.items()})
    command = re.sub(r"\$\{\{([^}]+)\}\}", lambda m: values[m.group(1)], job.native.trial.command).split()
    assert command[:3] == ["python", "-m", "cloudauto.runtime.azureml_entry"]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLOUDAUTO_TEST_ALLOWED": json.dumps(sorted(closure(pins))),
        "AZUREML_RUN_ID": "trial-0",  # as on Azure: metrics go to MLflow too
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    return subprocess.run(
        [sys.executable, "-c", _GATE, *command[3:]], cwd=code, env=env, capture_output=True, text=True, timeout=600
    )


def _bike_job(tmp_path: Path):
    from job_specs import make_data

    make_data.bike(tmp_path, stations=2, days=10)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "bike_forecast.yaml",
        overrides=[f"data.train={tmp_path}/bike/train.csv", f"data.test={tmp_path}/bike/test.csv"],
    )
    return cloudauto.compile(spec, backend="azureml")


def test_the_closure_sees_what_each_pin_brings():
    tabular = closure(["autogluon.tabular[lightgbm]==1.6.3"])
    assert {"autogluon-tabular", "autogluon-core", "lightgbm", "pandas"} <= tabular
    assert "autogluon-timeseries" not in tabular and "torch" not in tabular
    assert "autogluon-timeseries" in closure(["autogluon.timeseries==1.6.3"])


@pytest.mark.slow
def test_a_forecasting_trial_runs_in_an_environment_of_exactly_the_compiled_pins(tmp_path):
    job = _bike_job(tmp_path)
    pins = _pins(job.native.trial.environment)
    run = _trial(tmp_path, job, pins, {"models": "SeasonalNaive"})
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-3000:]
    assert "[cloudauto-metric] name=MASE value=" in run.stdout
    assert (tmp_path / "model" / "model" / "cloudauto_model.json").is_file()


def test_the_gate_refuses_what_the_pins_do_not_bring(tmp_path):
    """The same trial with the tabular-only pins fails on the import Azure would fail on (the harness can fail)."""
    from cloudauto_azureml.compile import RUNTIME_PINS, task_pins

    job = _bike_job(tmp_path)
    run = _trial(tmp_path, job, [*task_pins(None), *RUNTIME_PINS], {"models": "SeasonalNaive"})
    assert run.returncode != 0
    assert "time_series_forecasting needs autogluon.timeseries" in run.stderr  # the runtime's own words for it


def test_each_task_s_environment_pins_the_autogluon_package_it_imports():
    from cloudauto_azureml.compile import default_environment

    from cloudauto.spec.metrics import Task

    wanted = {
        Task.TABULAR_CLASSIFICATION: "autogluon-tabular",
        Task.TABULAR_REGRESSION: "autogluon-tabular",
        Task.TIME_SERIES_FORECASTING: "autogluon-timeseries",
        Task.IMAGE_CLASSIFICATION: "autogluon-multimodal",
        Task.TEXT_CLASSIFICATION: "autogluon-multimodal",
    }
    for task, package in wanted.items():
        environment = default_environment(task)
        assert package in closure(_pins(environment)), task
        assert (package == "autogluon-timeseries") == ("timeseries" in environment.conda_file["name"])
    assert "autogluon-timeseries" not in closure(_pins(default_environment(Task.TABULAR_REGRESSION)))
