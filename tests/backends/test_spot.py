"""compute.spot: SageMaker managed spot training, Azure ML's Spot job tier, checkpoint_dir() everywhere, the estimate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.checkpoints import ENV_CHECKPOINT_DIR, STARTED

from ..conftest import ROOT, dedent
from .sagemaker_service import opt_ml, run_train, training_job_hyperparameters
from .test_sagemaker_compile import valid

EXE = Path(sys.executable).with_name("cloudauto")

SPOT = """
name: spot-job
task: tabular_classification
data: {train: "s3://bucket/train.csv", label: target}
metric: accuracy
sweep:
  sampling: random
  space:
    models: {choice: [GBM, XT]}
    time_limit: 600
limits: {max_trials: 4, max_concurrent_trials: 2, trial_timeout: 30m}
compute:
  instance_type: ml.m5.xlarge
  spot: true
  max_wait: 1h
backends:
  sagemaker: {role: "arn:aws:iam::123456789012:role/r", bucket: spot-bucket, region: us-east-1}
  azureml: {compute: cpu-cluster, vm_size: Standard_DS3_v2, location: eastus}
"""


def _spec(spec_file, text: str = SPOT, *overrides: str) -> cloudauto.JobSpec:
    return cloudauto.JobSpec.from_file(spec_file(dedent(text)), overrides=list(overrides))


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


# SageMaker -----------------------------------------------------------------------------------------


def test_the_sagemaker_request_for_spot_read_field_by_field(spec_file, aws):
    job = cloudauto.compile(_spec(spec_file), backend="sagemaker")
    request = valid(job.native)  # botocore's model of CreateHyperParameterTuningJob takes it
    name = request["HyperParameterTuningJobName"]
    definition = request["TrainingJobDefinition"]
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert definition["CheckpointConfig"] == {
        "S3Uri": f"s3://spot-bucket/cloudauto/{name}/trial-checkpoints/",  # under the job, apart from its input checkpoints
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert definition["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert any("MaxWaitTimeInSeconds, compute.max_wait" in n and "trial-checkpoints/" in n for n in job.notes)
    client = boto3.client("sagemaker")  # and the service (moto) takes it and gives it back
    client.create_hyper_parameter_tuning_job(**request)
    got = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["TrainingJobDefinition"]
    assert got["EnableManagedSpotTraining"] is True
    assert got["StoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
    assert got["CheckpointConfig"]["S3Uri"] == definition["CheckpointConfig"]["S3Uri"]


def test_without_max_wait_a_trial_may_wait_as_long_again_as_it_runs(spec_file):
    spec = _spec(spec_file, SPOT.replace("  max_wait: 1h\n", ""))
    definition = valid(cloudauto.compile(spec, backend="sagemaker").native)["TrainingJobDefinition"]
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    plain = _spec(spec_file, SPOT.replace("  spot: true\n  max_wait: 1h\n", ""))
    definition = cloudauto.compile(plain, backend="sagemaker").native["TrainingJobDefinition"]
    assert "EnableManagedSpotTraining" not in definition and "CheckpointConfig" not in definition
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}


def test_max_wait_below_the_runtime_is_refused_at_its_line(spec_file):
    path = spec_file(dedent(SPOT).replace("max_wait: 1h", "max_wait: 10m"))
    done = _cli("compile", str(path), "--backend", "sagemaker")
    line = dedent(SPOT).splitlines().index("  max_wait: 1h") + 1
    assert done.returncode == 2, done.stderr
    assert (
        f"{path}:{line}:" in done.stderr
        and "compute.max_wait is 600 s, below the trial's MaxRuntimeInSeconds 1800 s" in done.stderr
    )
    assert "Traceback" not in done.stderr
    # without limits.trial_timeout the runtime is SageMaker's default day, and the wait is held to it too
    spec = _spec(spec_file, SPOT.replace(", trial_timeout: 30m", "").replace("max_wait: 1h", "max_wait: 2h"))
    with pytest.raises(CompileError, match="below the trial's MaxRuntimeInSeconds 86400 s .SageMaker's default"):
        cloudauto.compile(spec, backend="sagemaker")


def test_max_wait_without_spot_is_an_invalid_spec(spec_file):
    path = spec_file(dedent(SPOT).replace("  spot: true\n", ""))
    done = _cli("validate", str(path))
    assert done.returncode == 1
    assert "compute.max_wait" in done.stdout + done.stderr and "needs compute.spot: true" in done.stdout + done.stderr


# the estimate ----------------------------------------------------------------------------------------


def test_the_bound_is_on_demand_and_the_spot_price_is_beside_it(spec_file, tmp_path, monkeypatch):
    prices = tmp_path / "prices.json"
    rows = [
        {"backend": "sagemaker", "kind": "training", "instance_type": "ml.m5.xlarge", "region": "us-east-1",
         "usd_per_hour": 0.23, "source": "test on-demand"},
        {"backend": "sagemaker", "kind": "training-spot", "instance_type": "ml.m5.xlarge", "region": "us-east-1",
         "usd_per_hour": 0.069, "source": "test spot"},
    ]  # fmt: skip
    prices.write_text(json.dumps({"prices": rows}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(prices))
    job = cloudauto.compile(_spec(spec_file), backend="sagemaker")
    found = job.estimate
    # 4 trials × 0.5 h × 1 instance: 2 instance-hours, on-demand $0.46, spot $0.138
    assert found.usd_max == pytest.approx(0.46) and found.usd_spot == pytest.approx(0.138)
    shown = found.to_dict()
    assert (shown["estimate_max"], shown["spot_estimate_max"], shown["spot_usd_per_hour"]) == (0.46, 0.14, 0.069)
    assert "the bound is the on-demand figure" in job.notes[0] and "$0.069/h spot" in job.notes[0]
    # limits.max_cost holds against the on-demand bound: a budget between the two figures is refused
    refused = _spec(spec_file, SPOT, "limits.max_cost=0.3")
    with pytest.raises(CompileError, match=r"the worst case is \$0.46"):
        cloudauto.compile(refused, backend="sagemaker")
    assert cloudauto.compile(_spec(spec_file, SPOT, "limits.max_cost=0.5"), backend="sagemaker").estimate.usd_max == 0.46


def test_a_price_file_gives_spot_as_the_cache_does_a_market_of_the_training_kind(spec_file, tmp_path, monkeypatch):
    """A price file's spot row was kind `training-spot`, the cache's the training kind's spot market; a row written as the
    cache has it (`market: spot`) was taken as the on-demand price. Now one shape, the older kind still read."""
    prices = tmp_path / "prices.json"
    for spot in ({"kind": "training", "market": "spot"}, {"kind": "training-spot"}):
        rows = [
            {"backend": "sagemaker", **spot, "instance_type": "ml.m5.xlarge", "region": "us-east-1",
             "usd_per_hour": 0.069, "source": "test spot"},  # first: never the on-demand price
            {"backend": "sagemaker", "kind": "training", "instance_type": "ml.m5.xlarge", "region": "us-east-1",
             "usd_per_hour": 0.23, "source": "test on-demand"},
        ]  # fmt: skip
        prices.write_text(json.dumps({"prices": rows}))
        monkeypatch.setenv("CLOUDAUTO_PRICES", str(prices))
        found = cloudauto.compile(_spec(spec_file), backend="sagemaker").estimate
        assert (found.price.usd_per_hour, found.price.market) == (0.23, "on-demand")
        assert (found.spot.usd_per_hour, found.spot.market) == (0.069, "spot") and found.spot.source.startswith("test spot")
        assert found.usd_max == pytest.approx(0.46) and found.usd_spot == pytest.approx(0.138)


def test_the_sagemaker_bill_is_billable_time_at_the_on_demand_price(spec_file, monkeypatch):
    """BillableTimeInSeconds already counts spot's saving: priced on-demand, it is what SageMaker bills."""
    from cloudauto_sagemaker.handle import SageMakerJob

    from cloudauto.backend import JobHandle

    assert SageMakerJob.billed_time_counts_spot and not JobHandle.billed_time_counts_spot
    spec = _spec(spec_file, SPOT, "backends.sagemaker.price_per_hour=1.2")
    job = SageMakerJob.__new__(SageMakerJob)
    monkeypatch.setattr(SageMakerJob, "spec", property(lambda self: spec))
    monkeypatch.setattr(SageMakerJob, "billed_seconds", lambda self: 1800.0)  # e.g. 3600 s trained, half billable
    usd, how = job.billed()
    assert usd == pytest.approx(0.6) and "$1.2/h" in how


# Azure ML -------------------------------------------------------------------------------------------


def test_the_azure_sweep_asks_for_the_spot_tier_and_load_job_reads_it_back(spec_file, tmp_path):
    azure = SPOT.replace('"s3://bucket/train.csv"', '"azureml://datastores/workspaceblobstore/paths/t.csv"')
    job = cloudauto.compile(_spec(spec_file, azure), backend="azureml")
    loaded = load_job(next(p for p in job.write(tmp_path / "out") if p.suffix == ".yml"))
    assert type(loaded).__name__ == "SweepJob"
    assert loaded.queue_settings.job_tier == "spot"
    assert loaded.outputs["checkpoints"].mode == "rw_mount" and loaded.outputs["checkpoints"].type == "uri_folder"
    assert loaded.trial.command.endswith("--checkpoints ${{outputs.checkpoints}}")
    (tier,) = [w for w in job.warnings if w.path == ("compute", "spot")]
    assert "low_priority" in tier.message and "cpu-cluster" in tier.message  # the named cluster's own tier decides
    (wait,) = [w for w in job.warnings if w.path == ("compute", "max_wait")]
    assert "no wait limit" in wait.message
    plain = cloudauto.compile(_spec(spec_file, azure.replace("  spot: true\n  max_wait: 1h\n", "")), backend="azureml")
    assert plain.native.queue_settings is None and "checkpoints" not in (plain.native.outputs or {})


def test_the_azure_command_sweep_is_put_with_the_spot_tier(workspace):
    fake, client = workspace
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "torch_digits" / "spec.yaml", overrides=["backends.azureml.compute=cpu-cluster", "compute.spot=true"]
    )
    job = cloudauto.submit(spec, backend="azureml")
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    props = sent["properties"]
    assert props["queueSettings"]["jobTier"] == "Spot"
    assert props["outputs"]["checkpoints"]["mode"] == "ReadWriteMount"
    assert props["trial"]["command"].startswith(f"export {ENV_CHECKPOINT_DIR}=${{{{outputs.checkpoints}}}} && python train.py")
    assert client.jobs.get(job.id).queue_settings.job_tier == "Spot"  # read back from the service's answer


# checkpoint_dir() on every backend ------------------------------------------------------------------

SCRIPT = """\
import sys
import cloudauto
folder = cloudauto.checkpoint_dir()
before = (folder / "state.txt").read_text() if (folder / "state.txt").exists() else "none"
print("checkpoint_dir:", folder, "found:", before, flush=True)
(folder / "state.txt").write_text("saved")
cloudauto.report(acc=0.9)
"""


def test_run_by_itself_a_script_gets_a_new_folder(tmp_path):
    (tmp_path / "t.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != ENV_CHECKPOINT_DIR}
    runs = [subprocess.run([sys.executable, "t.py"], cwd=tmp_path, env=env, capture_output=True, text=True) for _ in range(2)]
    folders = [re.search(r"checkpoint_dir: (\S+) found: none", r.stdout).group(1) for r in runs]
    assert folders[0] != folders[1] and not str(Path(folders[0])).startswith(str(tmp_path))


def test_locally_a_command_trial_keeps_checkpoints_in_its_trial_folder(tmp_path, runs_dir):
    (tmp_path / "t.py").write_text(SCRIPT)
    (tmp_path / "spec.yaml").write_text(
        "name: ckpt\ntask: custom\nengine: command\nmetric: {name: acc, goal: maximize}\n"
        "command: {run: python t.py, code: .}\nlimits: {max_trials: 1}\n"
    )
    job = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="local")
    job.wait(progress=False)
    (trial,) = job.trials()
    folder = Path(re.search(r"checkpoint_dir: (\S+)", job.logs(0)).group(1))
    assert folder == Path(trial.artifacts["dir"]) and (folder / "trial.log").is_file()
    assert (folder / "state.txt").read_text() == "saved"


def test_on_sagemaker_a_restarted_trial_finds_its_checkpoints_and_says_so(tmp_path):
    """The training job's own folder under /opt/ml/checkpoints; a second run of the same training job (SageMaker
    restarting it on new spot capacity, with the folder brought back from S3) finds what the first saved."""
    from cloudauto.runtime.bundle import bundle_files

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text(SCRIPT)
    (tmp_path / "spec.yaml").write_text(
        "name: cmd\ntask: custom\nengine: command\nmetric: {name: acc, goal: maximize}\n"
        "command: {run: python t.py, code: src}\ncompute: {spot: true}\n"
    )
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    request = cloudauto.compile(spec, backend="sagemaker").native
    ml = opt_ml(tmp_path / "ml", request, training_job_hyperparameters(request), {})
    for name, data in bundle_files(spec).items():
        (ml / "code" / name).parent.mkdir(parents=True, exist_ok=True)
        (ml / "code" / name).write_bytes(data)
    first, second = run_train(ml, timeout=120), run_train(ml, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    folder = ml / "checkpoints" / "cloudauto-test-001"  # run_train's TRAINING_JOB_NAME
    assert f"checkpoint_dir: {folder} found: none" in first.stdout and "interrupted" not in first.stdout
    assert f"checkpoint_dir: {folder} found: saved" in second.stdout
    assert "this trial was interrupted" in second.stdout and "finds what it saved" in second.stdout


def test_on_azure_the_command_line_points_checkpoint_dir_at_the_trials_output(spec_file, tmp_path):
    """What Azure ML runs: the command line with ${{outputs.checkpoints}} filled with the trial's mounted output."""
    (tmp_path / "t.py").write_text(SCRIPT)
    spec_path = spec_file(
        "name: cmd\ntask: custom\nengine: command\nmetric: {name: acc, goal: maximize}\n"
        "command: {run: python t.py, code: ., image: python:3.11}\ncompute: {spot: true}\n"
    )
    line = cloudauto.compile(cloudauto.JobSpec.from_file(spec_path), backend="azureml").native.trial.command
    mount = tmp_path / "mnt" / "checkpoints"
    env = {**{k: v for k, v in os.environ.items() if k != ENV_CHECKPOINT_DIR}, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        ["bash", "-c", line.replace("${{outputs.checkpoints}}", str(mount))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert f"checkpoint_dir: {mount} found: none" in run.stdout and (mount / "state.txt").is_file()


def test_an_autogluon_trial_restarted_on_sagemaker_fits_again_and_says_so(tmp_path, aws):
    from cloudauto.runtime.bundle import bundle_files, tar_gz
    from job_specs import make_data

    make_data.iris(tmp_path / "src")
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            "sweep.space={models: {choice: [GBM]}, time_limit: 10}",
            "backends.sagemaker.bucket=spot-test",
            "compute.spot=true",
        ],
    )
    request = cloudauto.compile(spec, backend="sagemaker").native
    source = json.loads(request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"])
    bucket, _, key = source.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz(bundle_files(spec)))
    data = {"train": [tmp_path / "src/iris/train.csv"], "test": [tmp_path / "src/iris/test.csv"]}
    root = opt_ml(tmp_path / "opt" / "ml", request, training_job_hyperparameters(request, models='"GBM"'), data)
    first = run_train(root)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert (root / "checkpoints" / "cloudauto-test-001" / STARTED).is_file() and "interrupted" not in first.stdout
    second = run_train(root)  # the same training job again, its checkpoint folder back: a spot restart
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "this trial was interrupted" in out and "AutoGluon's fit starts over" in out
    assert (root / "output" / "success").exists()


# local ---------------------------------------------------------------------------------------------


def test_locally_spot_is_not_applicable_said_at_compile(spec_file):
    path = spec_file(dedent(SPOT).replace('"s3://bucket/train.csv"', "train.csv"))
    done = _cli("compile", str(path), "--backend", "local")
    line = dedent(SPOT).splitlines().index("  spot: true") + 1
    assert done.returncode == 0, done.stderr
    assert f"{path}:{line}:" in done.stderr and "compute.spot: local: spot capacity: not applicable" in done.stderr
    strict = _cli("compile", str(path), "--backend", "local", "--strict")
    assert strict.returncode == 2 and "not applicable" in strict.stderr and "(an error under --strict)" in strict.stderr


def test_the_torch_example_killed_half_way_resumes_from_its_last_epoch(tmp_path):
    """The example's own script, killed after its second epoch and run again with the same checkpoint folder."""
    script = ROOT / "job_specs" / "torch_digits" / "train.py"
    env = {**os.environ, ENV_CHECKPOINT_DIR: str(tmp_path / "ckpt"), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(script), "--epochs", "5", "--width", "8"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("epoch 2:"):
            proc.kill()  # the spot instance is reclaimed
            break
    proc.wait()
    proc.stdout.close()
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    resumed = re.search(r"resumed from epoch (\d+)", again.stdout)
    assert resumed and int(resumed.group(1)) >= 1  # the last epoch saved whole before the kill
    epochs = [int(n) for n in re.findall(r"^epoch (\d+):", again.stdout, re.M)]
    assert epochs == list(range(int(resumed.group(1)) + 1, 6))


def test_an_azure_automl_job_asks_for_the_spot_tier_too(tmp_path):
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml", overrides=["compute.spot=true"])
    job = cloudauto.compile(spec, backend="azureml")
    loaded = load_job(next(p for p in job.write(tmp_path / "out") if p.suffix == ".yml"))
    assert type(loaded).__name__ == "ImageObjectDetectionJob" and loaded.queue_settings.job_tier == "spot"
