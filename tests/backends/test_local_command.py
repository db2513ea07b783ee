"""`engine: command` on the local backend: your own script as the trial."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from ..conftest import ROOT
from .conftest import alive, wait_until

pytestmark = pytest.mark.slow


def make_spec(tmp_path: Path, script: str, space: str, *, metric: str = "score", extra: str = "") -> cloudauto.JobSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "script.py").write_text(textwrap.dedent(script))
    text = (
        textwrap.dedent(f"""\
        name: cmd
        task: custom
        engine: command
        command:
          run: python script.py --value ${{{{sweep.value}}}} --tag=v-${{{{sweep.value}}}}
          code: code
        metric: {{name: {metric}, goal: maximize}}
        sweep:
          sampling: grid
          space:
        {textwrap.indent(space, "    ")}
        """)
        + extra
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return cloudauto.JobSpec.from_file(path)


ECHO = """
    import json, os, sys
    import cloudauto
    with open(os.path.join(os.environ["CLOUDAUTO_OUTPUT_DIR"], "argv.json"), "w") as fh:
        json.dump(sys.argv[1:], fh)
    cloudauto.report(score=len(sys.argv[2]))
"""


def test_torch_digits_sweep_reaches_95_percent_and_stops_weak_trials(runs_dir):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "torch_digits" / "spec.yaml")
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    trials = job.trials()
    assert len(trials) == 8
    assert job.best_trial().objective >= 0.95
    stopped = [t for t in trials if t.status is TrialStatus.TERMINATED]
    assert stopped, "median stopping should end at least one weak trial"
    for trial in stopped:
        log = job.logs(trial.number)
        epochs = sum(1 for line in log.splitlines() if line.startswith("epoch "))
        assert epochs < 12 and "stopped early by the sweep's policy" in log
        assert "median stopping" in trial.error


def test_parameter_values_cannot_break_out_of_the_command_line(runs_dir, tmp_path):
    values = ["$(touch PWNED)", "a; touch PWNED", "`touch PWNED`", "'\"", "--flag=1 --other", "*"]
    spec = make_spec(tmp_path, ECHO, f"value: {{choice: {json.dumps(values)}}}")
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    for trial in job.trials():
        argv = json.loads((Path(trial.artifacts["dir"]) / "argv.json").read_text())
        value = trial.params["value"]
        assert argv == ["--value", value, f"--tag=v-{value}"], argv
        assert trial.status is TrialStatus.COMPLETED
    assert not list(tmp_path.rglob("PWNED"))


def test_a_hanging_trial_is_killed_at_trial_timeout_with_its_process_group(runs_dir, tmp_path):
    hang = """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        with open(os.path.join(os.environ["CLOUDAUTO_OUTPUT_DIR"], "pids"), "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        time.sleep(300)
    """
    spec = make_spec(tmp_path, hang, "value: {choice: [x]}", extra="limits:\n  trial_timeout: 3s\n")
    job = cloudauto.submit(spec, backend="local")
    pids_file = wait_until(lambda: next(iter(job.dir.glob("trials/0/pids")), None))
    pids = [int(p) for p in wait_until(lambda: pids_file.read_text()).split()]
    assert job.wait(progress=False) is JobStatus.FAILED
    (trial,) = job.trials()
    assert trial.status is TrialStatus.TIMED_OUT and "trial_timeout of 3s" in trial.error
    wait_until(lambda: not any(alive(p) for p in pids), timeout=10)


def test_failing_and_silent_scripts_are_failed_trials_with_their_log(runs_dir, tmp_path):
    script = """
        import sys
        import cloudauto
        if sys.argv[2] == "crash":
            print("about to fail")
            raise SystemExit(3)
        if sys.argv[2] == "silent":
            cloudauto.report(other=1.0)
        else:
            cloudauto.report(score=1.0)
    """
    spec = make_spec(tmp_path, script, "value: {choice: [crash, silent, fine]}")
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    crash, silent, fine = job.trials()
    assert crash.status is TrialStatus.FAILED and "exited with code 3" in crash.error and "about to fail" in crash.error
    assert silent.status is TrialStatus.FAILED and "never reported score" in silent.error
    assert fine.status is TrialStatus.COMPLETED and fine.objective == 1.0


def test_the_job_timeout_stops_everything(runs_dir, tmp_path):
    script = """
        import time
        import cloudauto
        for step in range(1000):
            cloudauto.report(score=step)
            time.sleep(0.2)
    """
    spec = make_spec(
        tmp_path, script, "value: {choice: [a, b, c, d]}", extra="limits:\n  timeout: 4s\n  max_concurrent_trials: 2\n"
    )
    job = cloudauto.submit(spec, backend="local")
    # the job's own budget ended it, and its trials had reported: a completed job, with the reason
    assert job.wait(progress=False) is JobStatus.COMPLETED
    assert job.status_reason() == "limits.timeout of 4s reached after 0 of 4 trials"
    trials = job.trials()
    assert [t.status for t in trials] == [TrialStatus.TIMED_OUT] * 2  # the others never started
    for trial in trials:  # each keeps the last value it reported
        assert trial.objective == trial.metrics[-1].value and trial.objective >= 1


def test_azure_automl_names_are_refused_for_local_image_trials_at_compile_time(runs_dir):
    """digits_images.yaml is an Azure AutoML job (engine: native); on local it would be MultiModalPredictor trials,
    whose parameters are AutoMM's names: Azure's are refused at their line, before anything starts."""
    from cloudauto.backend import CompileError

    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "digits_images.yaml")
    with pytest.raises(CompileError, match="'learning_rate' does not map onto a MultiModalPredictor fit") as info:
        cloudauto.submit(spec, backend="local")
    assert {spec.locate(i).field for i in info.value.issues} == {"sweep.space.learning_rate", "sweep.space.number_of_epochs"}
    assert not runs_dir.exists()  # nothing half-written
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    result = CliRunner().invoke(cli, ["submit", str(ROOT / "job_specs" / "digits_images.yaml")])
    assert result.exit_code == 2 and "digits_images.yaml:18:5: error: sweep.space.learning_rate: local:" in result.output
    assert "Traceback" not in result.output and not runs_dir.exists()
    detection = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    with pytest.raises(CompileError, match="object detection needs mmdet and mmcv"):
        cloudauto.compile(detection, backend="local")


@pytest.mark.parametrize("run_dir", [None, "./runs"], ids=["home", "run_dir"])
def test_a_spec_in_a_folder_whose_name_is_not_utf8_runs(runs_dir, tmp_path, run_dir):
    """A folder named in another encoding (bytes that are no UTF-8): submit runs the job, as validate said it would."""
    import os

    folder = Path(os.fsdecode(bytes(tmp_path) + b"/odd\xffdir"))
    folder.mkdir()
    extra = f"limits: {{max_trials: 1}}\nbackends: {{local: {{run_dir: {run_dir}}}}}\n" if run_dir else "limits: {max_trials: 1}\n"
    spec = make_spec(folder, ECHO, "value: {choice: [7]}", extra=extra)
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    again = cloudauto.attach(job.id)
    (trial,) = again.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == 1
    assert Path(trial.artifacts["dir"]).is_dir()
    from cloudauto_local.store import RunStore

    assert RunStore(runs_dir / job.id).job().base_dir == str(folder)  # the home links to a job in a run_dir
    where = folder / "runs" if run_dir else runs_dir
    assert not [p.name for p in where.iterdir() if ".creating-" in p.name]
