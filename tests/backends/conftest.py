from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The priced spec of the cost and price tests: 10 random trials, 3 at once, each trial at most 30 min, the job at most 2 h,
# 2 instances a trial on SageMaker (Azure ML runs a trial on one node): 10 instance-hours at worst on SageMaker, 5 on Azure.
PRICED_SPEC = """
name: priced
task: tabular_classification
data: {train: "azureml://datastores/workspaceblobstore/paths/train.csv", label: target}
metric: accuracy
sweep:
  sampling: random
  space:
    models: {choice: [GBM, XT]}
    time_limit: 600
limits:
  max_trials: 10
  max_concurrent_trials: 3
  trial_timeout: 30m
  timeout: 2h
compute: {instance_type: ml.m5.xlarge, instance_count: 2}
backends:
  sagemaker:
    {role: "arn:aws:iam::000000000000:role/r", bucket: bucket, region: us-east-1, data: {train: "s3://bucket/train.csv"}}
  azureml: {compute: cpu, vm_size: Standard_DS3_v2, location: eastus}
"""


def priced_spec(price_per_hour: float | None = None) -> str:
    """PRICED_SPEC, with each backend's `price_per_hour` set where one is given (prices then come from the spec)."""
    if price_per_hour is None:
        return PRICED_SPEC
    return PRICED_SPEC.replace(
        'data: {train: "s3://bucket/train.csv"}}', f'data: {{train: "s3://bucket/train.csv"}}, price_per_hour: {price_per_hour}}}'
    ).replace("location: eastus}", f"location: eastus, price_per_hour: {price_per_hour}}}")


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch) -> Path:
    """Each test keeps its jobs and endpoints in a home of its own; the orchestrator inherits the variable."""
    home = tmp_path / "home"
    monkeypatch.setenv("CLOUDAUTO_HOME", str(home))
    return home / "runs"


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> Path:
    """The example data, made from scikit-learn's bundled copies (no download)."""
    from job_specs import make_data

    out = tmp_path_factory.mktemp("data")
    make_data.iris(out)
    make_data.diabetes(out)
    return out


@pytest.fixture(scope="session")
def foundation_data(tmp_path_factory) -> Path:
    """A folder with data/: the bike and iris tables and make_data.py's random-weight foundation folders
    (data/checkpoints/chronos2-tiny, chronos-bolt-tiny, tabpfnmix-tiny, mitra-tiny, tabicl-tiny), made once a session, no download."""
    from job_specs import make_data

    out = tmp_path_factory.mktemp("foundation")
    make_data.bike(out / "data", stations=2, days=14)
    make_data.iris(out / "data")
    make_data.foundation(out / "data")
    return out


@contextlib.contextmanager
def finished_iris_job(root: Path) -> Iterator:
    """One finished iris trial (GBM, 30 s) in a home under `root` of its own, for a module's shared fixture."""
    import cloudauto
    from cloudauto.backend import JobStatus
    from job_specs import make_data

    from ..conftest import ROOT

    old = os.environ.get("CLOUDAUTO_HOME")
    os.environ["CLOUDAUTO_HOME"] = str(root / "home")
    try:
        make_data.iris(root)
        spec = cloudauto.JobSpec.from_file(
            ROOT / "job_specs" / "iris.yaml",
            overrides=[
                f"data.train={root}/iris/train.csv",
                f"data.test={root}/iris/test.csv",
                "sweep.space={models: GBM, time_limit: 30}",
                "limits.max_trials=1",
                "limits.max_concurrent_trials=1",
            ],
        )
        job = cloudauto.submit(spec, backend="local")
        assert job.wait(progress=False) is JobStatus.COMPLETED
        yield job
    finally:
        if old is None:
            os.environ.pop("CLOUDAUTO_HOME", None)
        else:
            os.environ["CLOUDAUTO_HOME"] = old


def azure_iris_submit(tmp_path: Path, overrides: tuple[str, ...] = ()):
    """An iris sweep submitted to the recording Azure workspace (its compute and environment named)."""
    import cloudauto
    from job_specs import make_data

    from ..conftest import ROOT

    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    named = ["backends.azureml.compute=cpu-cluster", "backends.azureml.environment=azureml:autogluon:1", *overrides]
    return cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "iris.yaml", overrides=named), backend="azureml")


def azure_iris_job(fake, tmp_path: Path):
    """The same with one finished trial (its MLflow run) to deploy: (the job, the trial's run id)."""
    from mlflow.tracking import MlflowClient

    job = azure_iris_submit(tmp_path)
    tracking = MlflowClient(tracking_uri=fake.tracking_uri)
    run = tracking.create_run(tracking.create_experiment(f"iris-{job.id}"))
    tracking.log_metric(run.info.run_id, job.spec.objective.name, 0.95, step=0)
    fake.add_trial(job.id, {"models": "GBM"}, name=run.info.run_id)
    return job, run.info.run_id


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def wait_until(predicate, timeout: float = 120, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def sm_session(aws, monkeypatch):
    """A boto3 session on the moto server, with the part of the tuning service moto lacks played by FakeTuner, SageMaker's
    Service Quotas by FakeQuotas (tuner.quotas), and the role SAGEMAKER_ROLE names in IAM (submit's preflight reads both)."""
    import json

    import boto3
    from cloudauto_sagemaker.setup import trust_policy

    from .sagemaker_service import ROLE, FakeQuotas, FakeTuner

    session = boto3.Session(region_name="us-east-1")
    tuner = FakeTuner(session)
    tuner.quotas = FakeQuotas(session)  # what submit's preflight reads; moto's Service Quotas has no SageMaker
    iam = session.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):  # the role SAGEMAKER_ROLE names, as setup makes it
        iam.create_role(RoleName=ROLE.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust_policy()))
    monkeypatch.setattr("cloudauto_sagemaker.submit.session_for", lambda spec=None, region=None: session)
    monkeypatch.setenv("SAGEMAKER_ROLE", ROLE)
    return session, tuner


@pytest.fixture
def workspace(monkeypatch, tmp_path):
    """A real MLClient whose HTTP goes to a recording workspace (FakeWorkspace): what it keeps is what Azure ML would get."""
    from azure.ai.ml import MLClient

    from .azure_fake import SUB, FakeCredential, FakeWorkspace, route_blob_clients

    fake = FakeWorkspace(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("cpu-cluster", "cpu", "cluster"):  # the clusters the tests' specs name, so submit's preflight finds them
        fake.add_cluster(name)
    fake.add_cluster("gpu-cluster", size="Standard_NC6s_v3")
    fake.add_cluster("gpu-cluster-nc24s-v3", size="Standard_NC24s_v3")
    route_blob_clients(monkeypatch, fake)
    client = MLClient(FakeCredential(), SUB, "rg", "ws", transport=fake)
    monkeypatch.setattr("cloudauto_azureml.submit.client_for", lambda spec=None, credential=None: client)
    monkeypatch.setattr("cloudauto_azureml.handle.client_for", lambda spec=None, credential=None: client)
    return fake, client
