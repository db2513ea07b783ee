"""Docker mode against a real Docker engine: the SageMaker entry in a container, stopped, timed out, served.

Runs where an engine is reachable and the test image (backends/local/Dockerfile on a
debootstrap base, see docker_image.py) is built; elsewhere each test is skipped with the
reason. `make test` builds the image when it can; `.ci/run` installs and starts the engine.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from ..conftest import ROOT
from .docker_image import IMAGE, status

pytestmark = pytest.mark.slow

_ready, _why = status()
if not _ready:
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason=f"docker mode not run against a real engine: {_why}")]


def _leftover_containers(job_id: str) -> list:
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": f"cloudauto.job={job_id}"})


SCRIPT = """
    import argparse, time
    import cloudauto
    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float)
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    for step in range(1, 9):
        time.sleep(args.sleep)
        print(f"step {step}", flush=True)
        cloudauto.report(acc=args.quality * step / 8, step=step)
"""


def _command_spec(tmp_path: Path, space: str, extra: str = "") -> cloudauto.JobSpec:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(SCRIPT))
    text = textwrap.dedent(f"""\
        name: docker-cmd
        task: custom
        engine: command
        command: {{run: "python train.py --quality ${{{{sweep.quality}}}} --sleep ${{{{sweep.sleep}}}}", code: code}}
        metric: {{name: acc, goal: maximize}}
        backends: {{local: {{mode: docker, image: "{IMAGE}"}}}}
        sweep:
          sampling: grid
          space: {space}
        """) + textwrap.dedent(extra)
    (tmp_path / "spec.yaml").write_text(text)
    return cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")


def test_a_command_sweep_runs_in_containers_and_the_policy_stops_one(runs_dir, tmp_path):
    spec = _command_spec(
        tmp_path,
        "{quality: {choice: [0.9, 0.1]}, sleep: 0.3}",
        """\
          early_termination: {policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}
        limits: {max_trials: 2, max_concurrent_trials: 1}
        """,
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED
    good, weak = job.trials()
    assert good.status is TrialStatus.COMPLETED and good.objective == pytest.approx(0.9)
    assert [round(m.value, 4) for m in good.metrics] == [round(0.9 * s / 8, 4) for s in range(1, 9)]
    assert weak.status is TrialStatus.TERMINATED and "median stopping" in weak.error
    log = job.logs(weak.number)
    assert "[cloudauto] trial parameters" in log  # printed by the SageMaker entry inside the container
    assert sum(line.startswith("step ") for line in log.splitlines()) < 8
    assert _leftover_containers(job.id) == []


def test_a_hanging_trial_is_stopped_at_its_timeout_with_its_container(runs_dir, tmp_path):
    spec = _command_spec(tmp_path, "{quality: 0.5, sleep: 60}", "limits: {max_trials: 1, trial_timeout: 4}\n")
    job = cloudauto.submit(spec, backend="local")
    started = time.monotonic()
    job.wait(progress=False, timeout=120)
    (trial,) = job.trials()
    assert trial.status is TrialStatus.TIMED_OUT and time.monotonic() - started < 60
    assert _leftover_containers(job.id) == []


def test_autogluon_trains_in_the_container_and_the_model_serves_from_one(runs_dir, tmp_path):
    """The SageMaker entry trains AutoGluon in the image; deploy --mode docker serves /ping and /invocations."""
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    spec = cloudauto.JobSpec.from_file(
        tmp_path / "iris.yaml",
        overrides=[
            "backends.local.mode=docker",
            f"backends.local.image={IMAGE}",
            "sweep.space={models: {choice: [GBM]}, time_limit: 30}",
            "limits.max_trials=1",
            "limits.max_concurrent_trials=1",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False, timeout=600) is JobStatus.COMPLETED, job.logs(0)[-3000:]
    (trial,) = job.trials()
    assert trial.objective > 0.9 and trial.scores.get("test_accuracy", 0) > 0.8
    assert "Invoking script with the following command" in job.logs(0)  # sagemaker-training started it, as in a DLC
    model_dir = Path(trial.artifacts["dir"]) / "model"
    endpoint = job.deploy(name=f"docker-iris-{job.id[-4:]}", mode="docker")
    try:
        assert endpoint.record.container
        rows = pd.read_csv(tmp_path / "data" / "iris" / "test.csv").drop(columns=["target"])
        served = endpoint.score(rows)
        expected = TabularPredictor.load(str(model_dir)).predict(rows)
        assert list(served["prediction"]) == list(expected)
    finally:
        endpoint.delete()
    import docker

    assert not docker.from_env().containers.list(all=True, filters={"label": f"cloudauto.endpoint={endpoint.name}"})
    from cloudauto_local.paths import endpoints_dir

    # its record and its code folder are gone too; what is left says it was removed
    assert [p.name for p in endpoints_dir().glob(f"{endpoint.name}*")] == [f"{endpoint.name}.removed.json"]


MULTIMODAL_IMAGE = "cloudauto-local:multimodal"


def _multimodal_image() -> str:
    """Why the MultiModal image is not here, or '' when it is (make image-multimodal builds it)."""
    import docker

    try:
        labels = docker.from_env().images.get(MULTIMODAL_IMAGE).labels or {}
    except Exception:
        return f"{MULTIMODAL_IMAGE} is not built (make image-multimodal: about 7 GB; make test builds the tabular image only)"
    return "" if labels.get("cloudauto.multimodal") == "true" else f"{MULTIMODAL_IMAGE} has no cloudauto.multimodal=true label"


def test_an_image_trial_trains_in_the_multimodal_image_from_its_channels_and_serves_from_one(runs_dir, tmp_path):
    """The table's folder and the checkpoint folder as channels, the SageMaker entry under the toolkit, AutoMM
    in the container; the model (which no longer needs its checkpoint) serves image bytes from a container."""
    why = _multimodal_image()
    if why:
        pytest.skip(why)
    import json
    import shutil
    import urllib.request

    import pandas as pd

    from .multimodal_specs import image_spec

    spec = image_spec(
        tmp_path,
        "backends.local.mode=docker",
        f"backends.local.image={MULTIMODAL_IMAGE}",
        'sweep.space."model.timm_image.checkpoint_name"=./data/checkpoints/resnet10t',
        "limits.max_concurrent_trials=1",
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False, timeout=900) is JobStatus.COMPLETED, job.logs(0)[-4000:]
    (trial,) = job.trials()
    assert trial.objective is not None and "test_accuracy" in trial.scores
    assert "/opt/ml/input/data/checkpoint_0" in job.logs(0)  # trained from the folder its channel brought
    shutil.rmtree(tmp_path / "data" / "checkpoints")  # the serving container has the model alone
    endpoint = job.deploy(name=f"docker-mm-{job.id[-4:]}", mode="docker")
    try:
        image = tmp_path / "data" / "digits" / pd.read_csv(tmp_path / "data" / "digits" / "small_test.csv")["image"][0]
        request = urllib.request.Request(
            endpoint.url + "/invocations", data=image.read_bytes(), headers={"Content-Type": "image/png"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            (answer,) = json.loads(response.read())
        assert {"prediction", "proba_0", "proba_9"} <= set(answer)
    finally:
        endpoint.delete()


def test_a_docker_endpoint_says_who_it_is_and_a_busy_port_is_refused(tmp_path):
    """Endpoint a serves on a port: a docker deploy of b there is refused naming a, leaving nothing; on a free
    port b's container answers /ping as b (the record's identity) and the client checks it on every answer."""
    import json
    import urllib.request

    from cloudauto_local.endpoint import EndpointError
    from cloudauto_local.paths import endpoints_dir

    from cloudauto.scoring import IDENTITY_HEADER, identity_header

    from .conftest import finished_iris_job

    with finished_iris_job(tmp_path) as job:
        local = cloudauto.get_backend("local")
        a = local.deploy(job, name="a")
        try:
            port = int(a.url.rsplit(":", 1)[1])
            with pytest.raises(EndpointError, match=f"port {port} on 127.0.0.1 is taken by endpoint 'a'"):
                local.deploy(job, name="b", port=port, mode="docker", image=IMAGE)
            assert list(endpoints_dir().glob("b*")) == []
            b = local.deploy(job, name="b", mode="docker", image=IMAGE)
            try:
                with urllib.request.urlopen(b.url + "/ping", timeout=10) as response:
                    assert json.loads(response.read())["endpoint"] == b.record.identity()
                    assert response.getheader(IDENTITY_HEADER) == identity_header(b.record.identity())
                import pandas as pd

                rows = pd.read_csv(tmp_path / "iris" / "test.csv").drop(columns=["target"])
                assert list(b.score(rows)["prediction"]) == list(a.score(rows)["prediction"])
            finally:
                b.delete()
        finally:
            a.delete()


def test_a_docker_trial_reads_its_secrets_from_its_environment_and_the_home_keeps_none(tmp_path):
    """The code bundle's spec.json keeps ${NAME}; the container gets the values in its environment and the
    entry resolves them (AutoGluon echoes one, redacted in trial.log); no file of the home holds a value
    but the model's own pickles, which keep the hyperparameters it was fit with."""
    import os
    import subprocess
    import sys

    from job_specs import make_data

    from .test_private_home import PLAIN, TOKEN, _leaks

    make_data.iris(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        name: docker-secrets
        description: "uses ${{MY_TOKEN}}"
        task: tabular_classification
        data: {{train: ./iris/train.csv, test: ./iris/test.csv, label: target}}
        metric: accuracy
        autogluon:
          hyperparameters:
            GBM: {{boosting: "${{PLAIN_SETTING}}"}}
            XT: {{}}
        sweep: {{sampling: grid, space: {{time_limit: 20}}}}
        limits: {{max_trials: 1, max_concurrent_trials: 1}}
        backends: {{local: {{mode: docker, image: "{IMAGE}"}}}}
        tags: {{token: "${{MY_TOKEN}}"}}
        """)
    )
    home = tmp_path / "home"
    env = {**os.environ, "CLOUDAUTO_HOME": str(home), "MY_TOKEN": TOKEN, "PLAIN_SETTING": PLAIN}
    exe = Path(sys.executable).with_name("cloudauto")
    done = subprocess.run(
        [str(exe), "submit", "spec.yaml", "--wait"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = (home / "runs").glob("docker-secrets-*")
    assert json.loads((run / "code" / "spec.json").read_text())["description"] == "uses ${MY_TOKEN}"
    log = (run / "trials" / "0" / "trial.log").read_text()
    assert "'boosting': '<secret:PLAIN_SETTING>'" in log, log[-3000:]  # the container had the value, the log hides it
    assert [leak for leak in _leaks(home) if "/model/" not in leak] == []


def test_the_autogluon_fields_of_issue_32_reach_the_container_trial(runs_dir, tmp_path):
    """positive_class, data.ignore_columns and metrics: through spec.json and the SageMaker entry in the image: the
    model is fit for the class asked for without the ID, and each metric and the positive class come back from its log."""
    import pandas as pd
    from autogluon.tabular import TabularPredictor
    from click.testing import CliRunner

    from cloudauto.cli import main

    from .test_local_ag32 import _f1, _tables

    _tables(tmp_path)
    (tmp_path / "med.yaml").write_text(
        textwrap.dedent(f"""\
            name: docker-med
            task: tabular_classification
            data: {{train: train.csv, test: test.csv, label: diagnosis, ignore_columns: [patient_id]}}
            metric: accuracy
            metrics: [f1, roc_auc]
            autogluon: {{positive_class: benign}}
            backends: {{local: {{mode: docker, image: "{IMAGE}"}}}}
            sweep: {{space: {{models: GBM, time_limit: 20}}}}
            limits: {{max_trials: 1}}
            """)
    )
    job = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "med.yaml"), backend="local")
    assert job.wait(progress=False, timeout=600) is JobStatus.COMPLETED, job.logs(0)[-3000:]
    (trial,) = job.trials()
    assert trial.positive_class == "benign" and "positive_class" not in trial.scores
    assert {"val_f1", "test_f1", "val_roc_auc", "test_roc_auc", "test_accuracy"} <= set(trial.scores)
    predictor = TabularPredictor.load(str(Path(trial.artifacts["dir"]) / "model"))
    assert predictor.positive_class == "benign" and "patient_id" not in predictor.features()
    test = pd.read_csv(tmp_path / "test.csv")
    assert trial.scores["test_f1"] == pytest.approx(_f1(test["diagnosis"], predictor.predict(test), "benign"), abs=1e-4)
    shown = CliRunner().invoke(main, ["best", job.id])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["positive_class"] == "benign", shown.output


KILLED_ONCE = """
    import os, signal, sys, time
    import cloudauto
    marker = cloudauto.checkpoint_dir() / "attempted"  # kept in the trial's folder from one attempt to the next
    first = not marker.exists()
    marker.write_text("1")
    if first:
        print("first attempt", flush=True)
        if sys.argv[1] == "self":  # the out-of-memory killer picks the biggest process: the script
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    cloudauto.report(acc=0.7)
"""


@pytest.mark.parametrize("how", ["outside", "self"])
def test_a_trial_sigkilled_from_outside_is_retried_in_docker_mode_as_in_process_mode(runs_dir, tmp_path, how):
    """Its container killed (exit 137: `docker kill`, the engine's OOM kill), or its script SIGKILLed inside it (the
    out-of-memory killer): an infrastructure fault, rerun under limits.trial_retries as a process-mode script is."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(KILLED_ONCE))
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        name: docker-killed
        task: custom
        engine: command
        command: {{run: "python train.py {how}", code: code}}
        metric: {{name: acc, goal: maximize}}
        backends: {{local: {{mode: docker, image: "{IMAGE}"}}}}
        limits: {{max_trials: 1, trial_retries: 2}}
        """)
    )
    job = cloudauto.submit(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="local")
    if how == "outside":
        deadline = time.monotonic() + 120
        while "first attempt" not in (job.logs(0) if (job.dir / "trials" / "0" / "trial.log").exists() else ""):
            assert time.monotonic() < deadline, "the first attempt never started"
            time.sleep(0.2)
        (container,) = _leftover_containers(job.id)
        container.kill()  # SIGKILL, as the engine's OOM kill of a container with a memory limit
    assert job.wait(progress=False, timeout=300) is JobStatus.COMPLETED, job.status_reason()
    (trial,) = job.trials()
    assert trial.status is TrialStatus.COMPLETED and trial.objective == pytest.approx(0.7)
    assert trial.retries == 1
    log = (job.dir / "orchestrator.log").read_text()
    assert "retry 1 of 2 with the same parameters" in log, log
    assert _leftover_containers(job.id) == []
