"""Image and text trials on the local backend: real MultiModalPredictor fits from checkpoint folders
made here with random weights (no download), a policy that stops a weak fit mid-way, and the
models behind a local endpoint, scored with image files and text rows."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

from ..conftest import ROOT

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("cloudauto"))


@pytest.fixture(scope="module")
def mm_data(tmp_path_factory) -> Path:
    """Digits images (a 360-image train CSV, 90 to test), the reviews, and the checkpoint folders."""
    from job_specs import make_data

    out = tmp_path_factory.mktemp("mm")
    make_data.digits(out)
    make_data.reviews(out)
    make_data.checkpoints(out)
    digits = out / "digits"
    pd.read_csv(digits / "train.csv").head(360).to_csv(digits / "small_train.csv", index=False)
    pd.read_csv(digits / "test.csv").head(90).to_csv(digits / "small_test.csv", index=False)
    return out


def image_overrides(data: Path, space: str, policy: str = "{policy: none}") -> list[str]:
    return [
        f"data.train={data}/digits/small_train.csv",
        f"data.test={data}/digits/small_test.csv",
        f"sweep.space={space}",
        f"sweep.early_termination={policy}",
    ]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=900)


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict | list]:
    request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_image_sweep_over_two_backbones_is_served_and_scored_with_image_files(runs_dir, mm_data, tmp_path):
    checkpoints = mm_data / "checkpoints"
    space = (
        f"{{model.timm_image.checkpoint_name: {{choice: [{checkpoints}/resnet10t, {checkpoints}/resnet14t]}}, "
        "optim.lr: 0.003, optim.max_epochs: 6, env.per_gpu_batch_size: 32, env.batch_size: 32}"
    )
    args = ["run", str(ROOT / "job_specs" / "digits_automm.yaml")]
    for override in image_overrides(mm_data, space):
        args += ["--set", override]
    run = cli(*args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    trials = job.trials()
    assert [Path(t.params["model.timm_image.checkpoint_name"]).name for t in trials] == ["resnet10t", "resnet14t"]
    assert all(t.status is TrialStatus.COMPLETED and len(t.metrics) >= 6 for t in trials)  # a report per validation
    best = job.best_trial()
    assert best.scores["test_accuracy"] > 0.5  # ten classes: chance is 0.1

    deployed = cli("deploy", job.id, "--name", "digits-mm")
    assert deployed.returncode == 0, deployed.stderr
    endpoint = cloudauto.get_backend("local").endpoint("digits-mm")
    try:
        test = pd.read_csv(mm_data / "digits" / "small_test.csv").head(12)
        images = [mm_data / "digits" / p for p in test["image"]]
        served = endpoint.score(images)
        assert list(served.columns[:2]) == ["image", "prediction"] and len(served) == 12
        assert {f"proba_{c}" for c in range(10)} <= set(served.columns)
        from autogluon.multimodal import MultiModalPredictor

        saved = MultiModalPredictor.load(str(Path(best.artifacts["dir"]) / "model"))
        assert list(served["prediction"]) == list(saved.predict(pd.DataFrame({"image": [str(p) for p in images]})))
        one = cli("score", "digits-mm", str(images[0]))
        assert one.returncode == 0, one.stderr
        assert one.stdout.splitlines()[1].split(",")[1] == str(served["prediction"][0])
        status, answer = post(endpoint.url, images[1].read_bytes(), "image/png")  # SageMaker's image/png body
        assert status == 200 and answer[0]["prediction"] == served["prediction"][1]
        status, answer = post(endpoint.url, b"not an image", "image/png")
        assert status == 400 and "not an image" in answer["error"]
        status, answer = post(endpoint.url, b"a,b\n1,2\n", "text/csv")
        assert status == 415 and "image bytes (image/png, image/jpeg)" in answer["error"]
    finally:
        endpoint.delete()

    # SageMaker's serving contract, as its inference toolkit calls the handler: an image/png body, a JSON answer
    from cloudauto.runtime.inference import model_fn, transform_fn

    model = model_fn(best.artifacts["dir"])
    body, content_type = transform_fn(model, bytearray(images[2].read_bytes()), "image/png", "application/json")
    assert content_type == "application/json" and json.loads(body)[0]["prediction"] == served["prediction"][2]

    # batch inference of a table of image paths (relative to the table, as in training data)
    test.to_csv(mm_data / "digits" / "batch12.csv", index=False)
    batch = job.predict_batch(mm_data / "digits" / "batch12.csv", tmp_path / "scored.csv", probabilities=True, workers=1)
    assert batch.wait(progress=False, timeout=600).value == "completed", batch.logs()
    scored = batch.result()
    assert [str(p) for p in scored["prediction"]] == [str(p) for p in served["prediction"]]
    assert {f"proba_{c}" for c in range(10)} <= set(scored.columns) and batch.failures() == []


def test_a_policy_stops_a_weak_image_fit_mid_way(runs_dir, mm_data):
    space = (
        f"{{model.timm_image.checkpoint_name: {mm_data}/checkpoints/resnet10t, optim.lr: {{choice: [0.003, 0.0000001]}}, "
        "optim.max_epochs: 6, env.per_gpu_batch_size: 32, env.batch_size: 32}"
    )
    policy = "{policy: bandit, slack_factor: 0.3, delay_evaluation: 3}"  # first evaluated at interval 4 (Azure ML: delay 3 intervals)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "digits_automm.yaml", overrides=image_overrides(mm_data, space, policy)
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    learns, weak = job.trials()
    assert learns.status is TrialStatus.COMPLETED and len(learns.metrics) == 12  # two validations an epoch
    assert weak.status is TrialStatus.TERMINATED and "bandit at interval 4" in weak.error
    assert len(weak.metrics) == 4  # its fit ended at the verdict, not after six epochs
    assert weak.ended - weak.started < learns.ended - learns.started


def test_a_text_sweep_is_served_and_scored_with_text_rows(runs_dir, mm_data):
    reviews = mm_data / "reviews"
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "reviews_text.yaml",
        overrides=[
            f"data.train={reviews}/train.csv",
            f"data.test={reviews}/test.csv",
            f"sweep.space={{model.hf_text.checkpoint_name: {mm_data}/checkpoints/tiny-bert, optim.lr: 0.001, "
            "optim.max_epochs: 5, env.per_gpu_batch_size: 32, env.batch_size: 32}",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False) is JobStatus.COMPLETED
    (trial,) = job.trials()
    assert trial.scores["test_roc_auc"] > 0.6  # two classes: chance is 0.5
    endpoint = job.deploy(name="reviews-mm")
    try:
        rows = pd.read_csv(reviews / "test.csv").head(20)
        served = endpoint.score(rows.drop(columns=["sentiment"]))
        assert list(served.columns) == ["prediction", "proba_negative", "proba_positive"]
        from autogluon.multimodal import MultiModalPredictor

        saved = MultiModalPredictor.load(str(Path(trial.artifacts["dir"]) / "model"))
        assert list(served["prediction"]) == list(saved.predict(rows.drop(columns=["sentiment"])))
        status, answer = post(endpoint.url, b"title\nno review column\n", "text/csv")
        assert status == 400 and "missing columns: review" in answer["error"]
        # Azure ML's request form on the /score route: {"input_data": {"columns", "data"}}
        azure = json.dumps({"input_data": {"columns": ["review"], "data": [[t] for t in rows["review"].head(3)]}}).encode()
        request = urllib.request.Request(endpoint.url + "/score", data=azure, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answered = json.loads(response.read())
        assert [a["prediction"] for a in answered] == list(served["prediction"].head(3))
    finally:
        endpoint.delete()
