"""asha and hyperband in local sweeps of a command script whose curve is known per parameter.

The script reports one value an epoch for 12 epochs (value at epochs 1-2, another from epoch 3,
+0.001 an epoch after): the curves and the decisions worked by hand are those of
tests/test_policies_asha.py, here carried out by the scheduler, trial after trial (one at a time).
"""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from ..test_policies_asha import ASHA_TABLE, CURVES, HB_BRACKETS, HB_CURVES, HB_TABLE

pytestmark = pytest.mark.slow

SCRIPT = """
    import os, sys, time
    import cloudauto
    early, late = map(float, sys.argv[1].split())
    for epoch in range(1, 13):
        value = early if epoch < 3 else round(late + 0.001 * (epoch - 3), 6)
        print(f"epoch {epoch}", flush=True)
        time.sleep(float(os.environ.get("EPOCH_SECONDS", "0")))
        if cloudauto.report(score=value, step=epoch).should_stop:
            print("stopped by the policy", flush=True)
            break
"""


def sweep(tmp_path: Path, curves: dict, policy: str, seed: int = 0, epoch_seconds: float = 0) -> cloudauto.JobSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "curve.py").write_text(textwrap.dedent(SCRIPT))
    pairs = [f"{early} {late}" for early, late in curves.values()]
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        name: halving
        task: custom
        engine: command
        command: {{run: "python curve.py ${{{{sweep.curve}}}}", code: code, env: {{EPOCH_SECONDS: "{epoch_seconds}"}}}}
        metric: {{name: score, goal: maximize}}
        sweep:
          sampling: grid
          seed: {seed}
          space: {{curve: {{choice: {pairs!r}}}}}
          early_termination: {policy}
        limits: {{max_concurrent_trials: 1, trial_timeout: 2m}}
        """)
    )
    return cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")


def outcome(job) -> dict[int, tuple[int, str]]:
    ended = {}
    for trial in job.trials():
        how = {TrialStatus.COMPLETED: "completed", TrialStatus.TERMINATED: "stopped"}[trial.status]
        epochs = sum(1 for line in job.logs(trial.number).splitlines() if line.startswith("epoch "))
        ended[trial.number] = (epochs, how)
    return ended


def test_asha_sweep_stops_and_promotes_as_worked_by_hand(runs_dir, tmp_path):
    job = cloudauto.submit(sweep(tmp_path, CURVES, "{policy: asha, max_resource: 9, resource: epoch}"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert outcome(job) == ASHA_TABLE
    log = job.logs()
    assert (
        "trial 5 step 3: score=0.65; stop: asha, rung epoch 3: 0.65 is outside the top 1/3: the cutoff 0.666667 is the "
        "66.67th percentile of the 3 values recorded here before it (0.8, 0.6, 0.58); it stops"
    ) in log
    assert "trial 6 step 9: score=0.706; stop: asha: reached max_resource, epoch 9: its whole budget" in log
    trials = {t.number: t for t in job.trials()}
    assert "asha, rung epoch 1" in trials[2].error and trials[6].error is None
    assert trials[6].objective == pytest.approx(0.706) and len(trials[6].metrics) == 9
    assert job.best_trial().number == 3


def test_hyperband_sweep_puts_each_trial_in_its_bracket(runs_dir, tmp_path):
    job = cloudauto.submit(sweep(tmp_path, HB_CURVES, "{policy: hyperband, max_resource: 9, resource: epoch}"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert outcome(job) == HB_TABLE
    log = job.logs()
    assert "trial 11 step 3: score=0.7; stop: hyperband bracket 1, rung epoch 3: 0.7 is outside the top 1/3" in log
    assert "trial 8 step 9: score=0.406; stop: hyperband bracket 2: reached max_resource" in log
    assert HB_BRACKETS[8] == HB_BRACKETS[10] == 2


def test_a_resumed_asha_sweep_refills_its_rungs_and_decides_alike(runs_dir, tmp_path):
    from .conftest import alive, wait_until
    from .test_local_faults import query, scheduler_pid

    spec = sweep(tmp_path, CURVES, "{policy: asha, max_resource: 9, resource: epoch}", epoch_seconds=0.3)
    job = cloudauto.submit(spec, backend="local")
    wait_until(lambda: any(t.number == 3 and t.status is TrialStatus.RUNNING and t.metrics for t in job.trials()), timeout=90)
    pid = scheduler_pid(job)
    workers = [p for (p,) in query(job, "SELECT worker_pid FROM trials") if p]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid) and not any(alive(w) for w in workers), timeout=15)
    assert job.status() is JobStatus.INTERRUPTED
    resumed = cloudauto.get_backend("local").resume(job.id)
    assert resumed.wait(progress=False) is JobStatus.COMPLETED
    ended = {
        t.number: (len(t.metrics), "completed" if t.status is TrialStatus.COMPLETED else "stopped") for t in resumed.trials()
    }
    assert ended == ASHA_TABLE  # trials 4-6 were judged against the rungs trials 0-3 filled before and after the kill
    assert "resumed: 3 finished trials kept, 1 to run again (3)" in resumed.logs()
