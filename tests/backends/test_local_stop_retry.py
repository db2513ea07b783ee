"""Issue 33 items 2-4 on the local backend: limits.stop_when, sweep.warm_start, limits.trial_retries and
limits.max_failed_trials, with `engine: command` trials whose scores are known in advance.

The script reports the score its parameters give, or acts out a plan read from a file: `kill` SIGKILLs its
own worker (an infrastructure fault), `error` exits 1 (the script's fault), `sleep` waits long enough for a
test to kill the scheduler, `slowkill` waits a second first, `oom` SIGKILLs the script itself (as the out-of-memory killer would), `hang` sleeps past
any trial_timeout, `ok` reports its score.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from .conftest import alive, kill, wait_until

pytestmark = pytest.mark.slow

SCRIPT = """
    import os, signal, sys, time
    import cloudauto
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    plan_file = args.get("--plan")
    action = "ok"
    if plan_file:
        plan = open(plan_file).read().split()
        runs = plan_file + ".runs"
        done = len(open(runs).read().split()) if os.path.exists(runs) else 0
        with open(runs, "a") as f:
            f.write(args.get("--x", "-") + "\\n")
        action = plan[done] if done < len(plan) else "ok"
        print(f"attempt {done}: {action}", flush=True)
    if action == "slowkill":
        time.sleep(1)  # its lines reach the trial's log first
        action = "kill"
    if action == "kill":
        os.kill(os.getppid(), signal.SIGKILL)  # the worker: the trial's infrastructure, not the script
        time.sleep(30)
    if action == "oom":
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does to the biggest process: the script
    if action == "hang":
        time.sleep(60)
    if action == "error":
        sys.exit("a bug in the script")
    if action == "sleep" or float(args.get("--score", "0.5")) < float(args.get("--sleep-below", "-inf")):
        cloudauto.report(score=0.0)
        time.sleep(6)
    table = args.get("--table")
    cloudauto.report(score=float(table.split(",")[int(args["--i"])] if table else args.get("--score", "0.5")))
"""


def write_spec(tmp_path: Path, body: str, name: str = "stops") -> cloudauto.JobSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "script.py").write_text(textwrap.dedent(SCRIPT))
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            name: {name}
            task: custom
            engine: command
            metric: {{name: score, goal: maximize}}
            """)
        + textwrap.dedent(body)
    )
    return cloudauto.JobSpec.from_file(path)


def scores_spec(tmp_path: Path, scores: list[float], limits: str) -> cloudauto.JobSpec:
    """A grid whose trial n reports scores[n] (grid order is the choice's order)."""
    table = ",".join(map(str, scores))
    return write_spec(
        tmp_path,
        f"""\
        command: {{run: "python script.py --i ${{{{sweep.i}}}} --table {table}", code: code}}
        sweep:
          sampling: grid
          space: {{i: {{choice: {list(range(len(scores)))}}}}}
        limits:
        """
        + textwrap.indent(textwrap.dedent(limits), "  "),
    )


def query(job, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(job.dir / "run.db")) as db:
        return db.execute(sql).fetchall()


# ---- item 2: stop_when ------------------------------------------------------------------------


def test_a_target_reached_at_the_third_trial_ends_the_sweep_there(runs_dir, tmp_path):
    job = cloudauto.submit(scores_spec(tmp_path, [0.5, 0.6, 0.98, 0.99, 0.7], "stop_when: {target: 0.97}"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    trials = job.trials()
    assert [(t.number, t.status, t.objective) for t in trials] == [
        (0, TrialStatus.COMPLETED, 0.5),
        (1, TrialStatus.COMPLETED, 0.6),
        (2, TrialStatus.COMPLETED, 0.98),
    ]
    assert job.status_reason() == "limits.stop_when.target 0.97 reached by trial 2 (score=0.98)"


def test_no_improvement_ends_the_sweep_after_n_trials_in_a_row_without_a_better_score(runs_dir, tmp_path):
    spec = scores_spec(tmp_path, [0.5, 0.9, 0.8, 0.9, 0.6, 0.95, 0.99], "stop_when: {no_improvement_trials: 3}")
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert [t.number for t in job.trials()] == [0, 1, 2, 3, 4]  # 0.9 equal to the best is no improvement
    assert job.status_reason() == "limits.stop_when.no_improvement_trials 3: trials 2, 3, 4 did not improve on trial 1's score=0.9"


def test_a_criterion_met_while_trials_run_stops_them_and_says_so(runs_dir, tmp_path):
    spec = write_spec(  # the 0.1 trial sleeps, whichever of the two starts first
        tmp_path,
        """\
        command: {run: "python script.py --score ${{sweep.score}} --sleep-below 0.5", code: code}
        sweep:
          sampling: grid
          space: {score: {choice: [0.99, 0.1]}}
        limits: {max_concurrent_trials: 2, stop_when: {target: 0.9}}
        """,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    first, second = job.trials()
    assert first.status is TrialStatus.COMPLETED
    assert second.status is TrialStatus.TERMINATED and "the sweep ended: limits.stop_when.target" in second.error


# ---- item 4: retries and the failure budget ----------------------------------------------------


def plan_spec(tmp_path: Path, plan: str, limits: str, trials: int = 1) -> cloudauto.JobSpec:
    path = tmp_path / "plan"
    path.write_text(plan)
    return write_spec(
        tmp_path,
        f"""\
        command: {{run: "python script.py --x ${{{{sweep.x}}}} --score 0.7 --plan {path}", code: code}}
        sweep:
          sampling: grid
          space: {{x: {{choice: {list(range(trials))}}}}}
        limits:
        """
        + textwrap.indent(textwrap.dedent(limits), "  "),
    )


def test_a_trial_whose_worker_is_killed_once_is_retried_with_its_parameters_and_completes(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "kill ok", "trial_retries: 2"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == 0.7 and trial.params == {"x": 0}
    assert query(job, "SELECT retries, attempt FROM trials") == [(1, 2)]
    assert (tmp_path / "plan.runs").read_text().split() == ["0", "0"]  # the same parameters, twice
    log = (job.dir / "orchestrator.log").read_text()
    assert "trial 0: worker died (SIGKILL); retry 1 of 2 with the same parameters" in log, log


def test_a_script_error_is_not_retried(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "error ok", "trial_retries: 2"), backend="local")
    assert job.wait(progress=False) is JobStatus.FAILED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.FAILED and "a bug in the script" in trial.error
    assert query(job, "SELECT retries FROM trials") == [(0,)]
    assert len((tmp_path / "plan.runs").read_text().split()) == 1


def test_without_retries_left_a_killed_worker_fails_the_trial(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "slowkill kill ok", "trial_retries: 1"), backend="local")
    assert job.wait(progress=False) is JobStatus.FAILED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.FAILED and trial.error == "worker died (SIGKILL)"
    assert query(job, "SELECT retries FROM trials") == [(1,)]


def test_a_script_killed_by_sigkill_from_outside_is_retried_as_docs_spec_says_of_out_of_memory(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "oom ok", "trial_retries: 2"), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == 0.7
    assert query(job, "SELECT retries, attempt FROM trials") == [(1, 2)]
    log = (job.dir / "orchestrator.log").read_text()
    assert "trial 0: the command was killed (SIGKILL) by something other than cloudauto" in log, log
    assert "retry 1 of 2 with the same parameters" in log


def test_a_script_sigkilled_behind_a_shell_wrapper_is_retried_as_a_direct_one_is(runs_dir, tmp_path):
    """`bash run.sh` runs python, the out-of-memory killer picks python, bash exits 137 (128 + SIGKILL)."""
    plan_spec(tmp_path, "oom ok", "trial_retries: 2")
    (tmp_path / "code" / "run.sh").write_text('python script.py "$@"\n')
    path = tmp_path / "stops.yaml"
    path.write_text(path.read_text().replace("python script.py", "bash run.sh"))
    job = cloudauto.submit(cloudauto.JobSpec.from_file(path), backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED, job.trials()[0].error
    (trial,) = job.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == 0.7
    assert query(job, "SELECT retries, attempt FROM trials") == [(1, 2)]
    log = (job.dir / "orchestrator.log").read_text()
    assert "trial 0: the command exited with code 137 (128 + SIGKILL: killed by something other than cloudauto" in log, log


def test_a_trial_cloudauto_kills_at_its_timeout_is_not_retried(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "hang ok", "{trial_retries: 2, trial_timeout: 3s}"), backend="local")
    assert job.wait(progress=False) is JobStatus.FAILED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.TIMED_OUT
    assert query(job, "SELECT retries FROM trials") == [(0,)]
    assert (tmp_path / "plan.runs").read_text().split() == ["0"]


def test_a_retried_trials_final_failure_quotes_its_last_attempts_log(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "slowkill kill ok", "trial_retries: 1"), backend="local")
    assert job.wait(progress=False) is JobStatus.FAILED
    log = (job.dir / "orchestrator.log").read_text()
    finals = [line for line in log.splitlines() if "trial 0 failed:" in line]  # the trial's line and the job's summary
    assert finals and all("worker died (SIGKILL)" in f and "attempt 0" not in f for f in finals), finals
    trial_log = (job.dir / "trials" / "0" / "trial.log").read_text()
    assert "attempt 0: slowkill" in trial_log  # the earlier attempt's lines are in the trial's log, not in its failure


def test_max_failed_trials_fails_the_sweep_instead_of_running_the_rest(runs_dir, tmp_path):
    job = cloudauto.submit(plan_spec(tmp_path, "error error error error", "max_failed_trials: 2", trials=4), backend="local")
    assert job.wait(progress=False) is JobStatus.FAILED
    assert [t.status for t in job.trials()] == [TrialStatus.FAILED, TrialStatus.FAILED]
    assert job.status_reason() == "limits.max_failed_trials 2 reached: trials 0, 1 failed"


def test_retries_survive_a_killed_scheduler_and_resume(runs_dir, tmp_path):
    """kill (retry 1) -> sleep, during which the scheduler is killed -> resume runs it again: still retry 1 used,
    so a second worker death now fails it (trial_retries: 1)."""
    job = cloudauto.submit(plan_spec(tmp_path, "kill sleep kill ok", "trial_retries: 1"), backend="local")
    wait_until(lambda: query(job, "SELECT retries FROM trials") == [(1,)] and job.trials()[0].metrics, timeout=60)
    pid = query(job, "SELECT orchestrator_pid FROM job")[0][0]
    kill(pid)
    wait_until(lambda: not alive(pid), timeout=10)
    wait_until(lambda: job.status() is JobStatus.INTERRUPTED, timeout=10)
    assert job.trials()[0].status is TrialStatus.INTERRUPTED  # the dead-scheduler check still holds
    resumed = subprocess.run(
        [sys.executable, "-c", "from cloudauto.cli import main; main()", "resume", job.id], capture_output=True, text=True, timeout=120
    )
    assert job.status() is JobStatus.FAILED, resumed.stderr
    assert query(job, "SELECT retries FROM trials") == [(1,)]
    assert job.trials()[0].error == "worker died (SIGKILL)"
    assert (tmp_path / "plan.runs").read_text().split() == ["0", "0", "0"]


# ---- item 3: warm start -----------------------------------------------------------------------


def warm_spec(tmp_path: Path, name: str, sampling: str, trials: int, warm: str = "", space: str = "") -> cloudauto.JobSpec:
    space = space or "{x: {choice: [1, 2, 3, 4]}, y: {choice: [a, b, c]}}"
    lines = [
        'command: {run: "python script.py --score 0.${{sweep.x}}", code: code}',
        "sweep:",
        f"  sampling: {sampling}",
        "  seed: 3",
        f"  space: {space}",
        *([f"  warm_start: {warm}"] if warm else []),
        f"limits: {{max_trials: {trials}}}",
    ]
    return write_spec(tmp_path, "\n".join(lines) + "\n", name=name)


def test_a_warm_started_bayesian_sweep_proposes_nothing_a_parent_ran(runs_dir, tmp_path):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 6), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    ran = {json.dumps(t.params, sort_keys=True) for t in parent.trials()}
    child = cloudauto.submit(
        warm_spec(tmp_path, "child", "bayesian", 6, warm=f"{{from: [{parent.id}], mode: same_data}}"), backend="local"
    )
    assert child.wait(progress=False) is JobStatus.COMPLETED
    mine = [json.dumps(t.params, sort_keys=True) for t in child.trials()]
    assert len(mine) == 6 and not ran & set(mine) and len(set(mine)) == 6
    assert len(ran | set(mine)) == 12  # together: the whole space, each point once
    log = (child.dir / "orchestrator.log").read_text()
    assert f"warm start (same_data) from {parent.id}: 6 finished trials" in log
    shown = subprocess.run(
        [sys.executable, "-c", "from cloudauto.cli import main; main()", "trials", child.id, "--all", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = json.loads(shown.stdout)
    assert [r.get("parent") for r in rows] == [parent.id] * 6 + [None] * 6


def test_a_warm_started_grid_leaves_out_the_parents_points(runs_dir, tmp_path):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 5), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    ran = {json.dumps(t.params, sort_keys=True) for t in parent.trials()}
    child = cloudauto.submit(warm_spec(tmp_path, "child", "grid", 12, warm=f"{{from: [{parent.id}]}}"), backend="local")
    assert child.wait(progress=False) is JobStatus.COMPLETED
    mine = {json.dumps(t.params, sort_keys=True) for t in child.trials()}
    assert len(mine) == 7 and not ran & mine


def test_a_warm_started_grids_ending_counts_the_whole_grid(runs_dir, tmp_path):
    space = "{x: {choice: [1, 2, 3, 4, 5, 6]}}"
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "grid", 3, space=space), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    text = (tmp_path / "parent.yaml").read_text().replace("name: parent", "name: child").replace("max_trials: 3", "max_trials: 6")
    (tmp_path / "child.yaml").write_text(text.replace("  space:", f"  warm_start: {{from: [{parent.id}]}}\n  space:"))
    child = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "child.yaml"), backend="local")
    assert child.wait(progress=False) is JobStatus.COMPLETED
    assert len(child.trials()) == 3
    assert child.status_reason() == f"all 6 configurations of the grid ran: 3 here, 3 in {parent.id} (sweep.warm_start)"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda text: text.replace("--score 0.", "--score 0.1"), "command.run"),
        (lambda text: text.replace("train: train.csv", "train: other.csv"), "data.train"),
    ],
)
def test_same_data_refuses_a_parent_whose_command_or_data_differ(runs_dir, tmp_path, change, words):
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "other.csv").write_text("a,b\n1,3\n")
    warm_spec(tmp_path, "parent", "random", 2)
    text = (tmp_path / "parent.yaml").read_text().replace("command:", "data: {train: train.csv}\ncommand:")
    (tmp_path / "parent.yaml").write_text(text)
    parent = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "parent.yaml"), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    child = change(text).replace("name: parent", "name: child")
    (tmp_path / "child.yaml").write_text(child.replace("  space:", f"  warm_start: {{from: [{parent.id}]}}\n  space:"))
    before = sorted(p.name for p in runs_dir.iterdir())
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "child.yaml"), backend="local")
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert f"job {parent.id}" in message and words in message and "mode: transfer" in message, message
    assert sorted(p.name for p in runs_dir.iterdir()) == before
    # the same data under another name is the same data: its digest is what counts
    if words == "data.train":
        (tmp_path / "other.csv").write_text("a,b\n1,2\n")
        taken = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "child.yaml"), backend="local")
        assert taken.wait(progress=False) is JobStatus.COMPLETED


def test_a_parent_of_another_space_is_refused_under_same_data_and_taken_under_transfer(runs_dir, tmp_path):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 3), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    other = "{x: {choice: [1, 2, 3, 4, 5]}, z: {uniform: [0, 1]}}"
    refused = warm_spec(tmp_path, "child", "bayesian", 2, warm=f"{{from: [{parent.id}], mode: same_data}}", space=other)
    before = sorted(p.name for p in runs_dir.iterdir())
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(refused, backend="local")
    assert "searched another space" in str(caught.value) and "mode: transfer" in str(caught.value)
    assert caught.value.exit_code == 2
    assert sorted(p.name for p in runs_dir.iterdir()) == before  # nothing half-written
    taken = warm_spec(tmp_path, "child", "bayesian", 2, warm=f"{{from: [{parent.id}], mode: transfer}}", space=other)
    child = cloudauto.submit(taken, backend="local")
    assert child.wait(progress=False) is JobStatus.COMPLETED
    assert len(child.parent_trials()) == 3


def test_a_parent_that_does_not_exist_is_refused_at_submit(runs_dir, tmp_path):
    spec = warm_spec(tmp_path, "child", "bayesian", 2, warm="{from: [no-such-job-1]}")
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(spec, backend="local")
    assert caught.value.exit_code == 3 and "sweep.warm_start.from" in str(caught.value)


def test_same_data_refuses_a_parent_whose_code_folder_differs_naming_the_file(runs_dir, tmp_path):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 2), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    child = warm_spec(tmp_path, "child", "bayesian", 2, warm=f"{{from: [{parent.id}]}}")
    script = tmp_path / "code" / "script.py"
    script.write_text(script.read_text() + "# scores twice as high now\n")
    before = sorted(p.name for p in runs_dir.iterdir())
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(child, backend="local")
    assert caught.value.exit_code == 2
    assert "the code differs: command.code changed script.py" in str(caught.value), caught.value
    assert sorted(p.name for p in runs_dir.iterdir()) == before


def test_same_data_takes_a_parent_whose_run_line_differs_in_spaces_and_choices_in_order(runs_dir, tmp_path):
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "random", 2), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    text = (tmp_path / "parent.yaml").read_text().replace("name: parent", "name: child")
    text = text.replace("python script.py", "python   script.py").replace("[1, 2, 3, 4]", "[4, 3, 2, 1]")
    text = text.replace("  space:", f"  warm_start: {{from: [{parent.id}]}}\n  space:")
    (tmp_path / "child.yaml").write_text(text)
    child = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "child.yaml"), backend="local")
    assert child.wait(progress=False) is JobStatus.COMPLETED
    assert len(child.parent_trials()) == 2


def test_a_same_data_warm_start_whose_parents_ran_the_whole_grid_is_refused_at_submit(runs_dir, tmp_path):
    space = "{x: {choice: [1, 2]}}"
    parent = cloudauto.submit(warm_spec(tmp_path, "parent", "grid", 2, space=space), backend="local")
    assert parent.wait(progress=False) is JobStatus.COMPLETED
    child = warm_spec(tmp_path, "child", "grid", 2, warm=f"{{from: [{parent.id}]}}", space=space)
    before = sorted(p.name for p in runs_dir.iterdir())
    with pytest.raises(cloudauto.CloudautoError) as caught:
        cloudauto.submit(child, backend="local")
    assert caught.value.exit_code == 2
    assert "the parents ran all 2 configurations of the grid: nothing is left to run" in str(caught.value)
    assert sorted(p.name for p in runs_dir.iterdir()) == before
