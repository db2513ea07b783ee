"""An Azure AutoML job (engine: native) tries limits.max_trials models with no sweep of ours: validate said 'only one runs'."""

from __future__ import annotations

import cloudauto

from ..conftest import BASE
from ..test_cli import run

AUTOML = BASE + "engine: native\nlimits: {max_trials: 12, max_concurrent_trials: 3, timeout: 1h}\n"


def test_an_automl_job_without_a_sweep_is_not_said_to_run_one_trial(tmp_path):
    spec = cloudauto.JobSpec.from_yaml(AUTOML + "backends:\n  azureml: {compute: cpu-cluster}\n")
    assert not [w for w in spec.warnings if "only one runs" in w.message]
    job = cloudauto.compile(spec, backend="azureml")
    assert (job.native.limits.max_trials, job.native.limits.max_concurrent_trials) == (12, 3)  # what AutoML is sent
    (tmp_path / "train.csv").write_text("a,target\n1,x\n2,y\n3,x\n")
    path = tmp_path / "spec.yaml"
    path.write_text(AUTOML)
    said = run("validate", str(path))
    assert said.returncode == 0 and "only one runs" not in said.stderr, said.stderr


def test_a_spec_of_the_same_trials_without_a_sweep_still_runs_one():
    """Every engine but the cloud's own AutoML runs one trial without a sweep (the sweep job compiles max_total_trials 1)."""
    spec = cloudauto.JobSpec.from_yaml(AUTOML.replace("engine: native\n", ""))
    (warning,) = [w for w in spec.warnings if "only one runs" in w.message]
    assert warning.path == ("limits", "max_trials")
