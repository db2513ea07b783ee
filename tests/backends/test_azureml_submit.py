"""Azure ML submit, follow, deploy and score through the real MLClient, against a recording workspace.

azure-ai-ml builds every request itself (entities -> REST -> HTTP); `FakeWorkspace` only
answers them and keeps what was sent, so what the tests read is what Azure ML would have
received. Nothing here has talked to Azure itself.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import CompileError, JobStatus, TrialStatus

from ..conftest import ROOT
from .conftest import azure_iris_job, azure_iris_submit


def test_the_fridge_automl_job_is_put_as_the_tutorial_builds_it(workspace):
    fake, _ = workspace
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    job = cloudauto.submit(spec, backend="azureml")
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    props = sent["properties"]
    assert props["jobType"] == "AutoML" and props["taskDetails"]["taskType"] == "ImageObjectDetection"
    assert props["taskDetails"]["primaryMetric"] == "MeanAveragePrecision"
    assert (
        props["taskDetails"]["limitSettings"]["maxTrials"] == 20
        and props["taskDetails"]["limitSettings"]["maxConcurrentTrials"] == 4
    )
    policy = props["taskDetails"]["sweepSettings"]["earlyTermination"]
    assert policy["policyType"] == "Bandit" and policy["slackFactor"] == 0.2 and policy["evaluationInterval"] == 2
    assert policy["delayEvaluation"] == 6
    assert len(props["taskDetails"]["searchSpace"]) == 2  # both model alternatives
    assert props["computeId"].endswith(f"/computes/{spec.backends.azureml.compute}")
    assert json.loads(props["properties"]["cloudauto.spec"])["name"] == spec.name
    assert job.status() is JobStatus.PENDING
    fake.set_status(job.id, "Running")
    assert job.status() is JobStatus.RUNNING


def test_a_command_sweep_uploads_the_code_with_cloudauto_beside_it(workspace):
    fake, _ = workspace
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "torch_digits" / "spec.yaml", overrides=["backends.azureml.compute=cpu-cluster"]
    )
    job = cloudauto.submit(spec, backend="azureml")
    uploaded = {key.split("/code/", 1)[-1] for key in fake.blobs}
    assert "train.py" in uploaded and "cloudauto/reporting.py" in uploaded and "spec.yaml" in uploaded
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    props = sent["properties"]
    assert props["jobType"] == "Sweep" and "--lr ${{search_space.learning_rate}}" in props["trial"]["command"]
    assert props["trial"]["codeId"].startswith("/subscriptions/") and "/codes/" in props["trial"]["codeId"]
    assert props["objective"]["goal"].lower() == "maximize" and props["objective"]["primaryMetric"] == spec.metric.name
    assert props["earlyTermination"]["policyType"] == "MedianStopping"


def test_submit_refuses_no_compute_before_sending_anything(workspace):
    fake, _ = workspace
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "torch_digits" / "spec.yaml")
    with pytest.raises(CompileError, match="backends.azureml.compute"):
        cloudauto.submit(spec, backend="azureml")
    assert fake.calls == []


def test_trials_come_from_child_runs_with_their_mlflow_metrics(workspace):
    import mlflow
    from mlflow.tracking import MlflowClient

    fake, _ = workspace
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "torch_digits" / "spec.yaml", overrides=["backends.azureml.compute=cpu-cluster"]
    )
    job = cloudauto.submit(spec, backend="azureml")
    tracking = MlflowClient(tracking_uri=fake.tracking_uri)
    experiment = tracking.create_experiment("torch")
    histories = {"good": [0.5, 0.8, 0.97], "weak": [0.2, 0.3], "failed": []}
    names = {}
    for label, values in histories.items():
        run = tracking.create_run(experiment)  # on Azure ML the MLflow run id is the child job's name
        for step, value in enumerate(values):
            tracking.log_metric(run.info.run_id, spec.metric.name, value, step=step)
        names[label] = run.info.run_id
    for label, status in (("good", "Completed"), ("weak", "Canceled"), ("failed", "Failed")):
        fake.add_trial(job.id, {"learning_rate": 0.003, "width": 32, "optimizer": "adam"}, status, name=names[label])
    trials = job.trials()
    assert [t.id for t in trials] == [names["good"], names["weak"], names["failed"]]
    assert [t.status for t in trials] == [TrialStatus.COMPLETED, TrialStatus.TERMINATED, TrialStatus.FAILED]
    assert trials[0].objective == pytest.approx(0.97) and [p.step for p in trials[0].metrics] == [0, 1, 2]
    assert trials[1].error == "stopped by the early termination policy"
    assert trials[0].params == {"learning_rate": 0.003, "width": 32, "optimizer": "adam"}
    assert job.best_trial().id == names["good"]
    from cloudauto_azureml.endpoint import best_child

    assert best_child(job) == names["good"]  # no pick by the service: the best trial by its metrics
    fake.store[f"/jobs/{job.id}"]["properties"]["properties"]["best_child_run_id"] = names["weak"]
    assert best_child(job) == names["weak"]  # the sweep service's own pick wins
    fake.add_log(names["weak"], "user_logs/std_log.txt", "epoch 1\n[cloudauto-metric] name=val_accuracy value=0.2 step=0\n")
    assert job.logs(1) == "== user_logs/std_log.txt ==\nepoch 1\n[cloudauto-metric] name=val_accuracy value=0.2 step=0\n"
    with pytest.raises(cloudauto.CloudautoError, match="has no trial 7"):
        job.logs(7)
    assert mlflow  # imported above: the test needs mlflow, as reading metrics does
    job.cancel()
    assert fake.sent("POST", f"/jobs/{job.id}/cancel") == [None]
    assert job.status() is JobStatus.CANCELED
    # attach by name: the spec comes back from the job's own properties
    from cloudauto.registry import get_backend

    again = get_backend("azureml").attach(job.id)
    assert again.spec.to_dict() == spec.to_dict()


@pytest.fixture
def scoring_server():
    """The deployment's scoring URI: answers like the tutorial's object-detection endpoint, recording requests."""
    import http.server
    import threading

    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            if self.headers.get("Authorization") != f"Bearer {self.server.key}":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"message": "invalid key"}')
                return
            boxes = [
                {"box": {"topX": 0.1, "topY": 0.2, "bottomX": 0.5, "bottomY": 0.8}, "label": "can", "score": 0.93},
                {"box": {"topX": 0.6, "topY": 0.1, "bottomX": 0.9, "bottomY": 0.4}, "label": "milk_bottle", "score": 0.41},
            ]
            rows = json.loads(body)["input_data"]
            if rows["columns"] == ["image"]:
                payload = json.dumps([{"boxes": boxes}]).encode()
            else:  # tabular rows: each row's first value as its prediction
                payload = json.dumps([{"prediction": row[0]} for row in rows["data"]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.key = ""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/score", seen
    server.shutdown()


def test_the_fridge_flow_deploys_the_best_model_and_scores_an_image(workspace, scoring_server, tmp_path):
    """Seed 003 after training: register the best child's MLflow model, endpoint + deployment, score, draw."""
    from PIL import Image

    from cloudauto.vision import draw_boxes

    fake, _ = workspace
    server, uri, seen = scoring_server
    fake.scoring_uri, server.key = uri, fake.keys["primaryKey"]
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    job = cloudauto.submit(spec, backend="azureml")
    fake.store[f"/jobs/{job.id}"]["properties"]["tags"]["automl_best_child_run_id"] = f"{job.id}_HD_3"
    fake.set_status(job.id, "Completed")
    endpoint = job.deploy(name="fridge-od")

    (model,) = fake.sent("PUT", "/models/")
    assert model["properties"]["modelUri"] == f"azureml://jobs/{job.id}_HD_3/outputs/artifacts/paths/outputs/mlflow-model/"
    assert model["properties"]["modelType"] == "mlflow_model"
    endpoint_puts = fake.sent("PUT", "/onlineEndpoints/fridge-od?")
    assert endpoint_puts[0]["properties"]["authMode"] == "Key" and endpoint_puts[-1]["properties"]["traffic"] == {
        "cloudauto": 100
    }
    (deployment,) = fake.sent("PUT", "/onlineEndpoints/fridge-od/deployments/cloudauto")
    assert deployment["sku"]["capacity"] == 1 and deployment["properties"]["instanceType"] == "Standard_NC6s_v3"
    assert "/models/fridge-objects-od-model/versions/" in deployment["properties"]["model"]

    image = tmp_path / "fridge.jpg"
    Image.new("RGB", (200, 100), "white").save(image)
    result = endpoint.score(image)
    (request,) = seen
    assert request["headers"]["Authorization"] == f"Bearer {fake.keys['primaryKey']}"
    assert request["headers"]["azureml-model-deployment"] == "cloudauto"
    import base64

    assert base64.b64decode(request["body"]["input_data"]["data"][0]) == image.read_bytes()
    assert [b["label"] for b in result["boxes"]] == ["can", "milk_bottle"]
    png = draw_boxes(image, result, tmp_path / "boxes.png", min_score=0.5)
    drawn = Image.open(png).convert("RGB")
    assert drawn.getpixel((20, 60)) != (255, 255, 255)  # the left edge of the can's box (x = 0.1 * 200)
    assert drawn.getpixel((180, 25)) == (255, 255, 255)  # the 0.41 bottle is below min_score: not drawn
    assert drawn.getpixel((60, 60)) == (255, 255, 255)  # inside a box stays the image

    # the same from the CLI: the answer as JSON, the boxes drawn
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    result = CliRunner().invoke(
        cli, ["score", "fridge-od", str(image), "--backend", "azureml", "--draw", str(tmp_path / "cli.png"), "--min-score", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["boxes"][0]["label"] == "can"
    assert Image.open(tmp_path / "cli.png").convert("RGB").getpixel((20, 60)) != (255, 255, 255)


def test_a_wrong_key_is_a_scoring_error_with_the_endpoints_message(workspace, scoring_server, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from cloudauto_azureml.endpoint import AzureEndpoint

    from cloudauto.scoring import ScoringError

    fake, client = workspace
    server, uri, _ = scoring_server
    fake.scoring_uri, server.key = uri, "the-right-key"
    client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="other-ep", auth_mode="key")).result()
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(ScoringError, match="401: invalid key"):
        AzureEndpoint("other-ep", client=client).score(tmp_path / "x.png")


def test_tabular_rows_go_in_batches_under_the_byte_limit_and_come_back_in_order(workspace, scoring_server):
    import pandas as pd
    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from cloudauto_azureml.endpoint import AzureEndpoint

    from cloudauto.scoring import ScoringError

    fake, client = workspace
    server, uri, seen = scoring_server
    fake.scoring_uri, server.key = uri, fake.keys["primaryKey"]
    client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="tab-ep", auth_mode="key")).result()
    frame = pd.DataFrame({"x": range(30), "y": [0.5] * 30}, index=range(100, 130))
    endpoint = AzureEndpoint("tab-ep", client=client, max_bytes=200)
    predictions = endpoint.score(frame, concurrency=3)
    assert predictions["prediction"].tolist() == list(range(30)) and list(predictions.index) == list(frame.index)
    assert len(seen) > 2 and sum(len(r["body"]["input_data"]["data"]) for r in seen) == 30
    assert all(int(r["headers"]["Content-Length"]) <= 200 for r in seen)
    with pytest.raises(ScoringError, match="row 0 alone is .* bytes; the endpoint takes at most 200"):
        endpoint.score(pd.DataFrame({"text": ["x" * 300]}))


def test_endpoints_are_tagged_listed_and_expired_ones_removed(workspace, tmp_path, monkeypatch):
    import time

    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    fake, _ = workspace
    job, _ = azure_iris_job(fake, tmp_path)
    prices = tmp_path / "prices.json"
    row = {"backend": "azureml", "kind": "hosting", "region": "eastus", "instance_type": "Standard_F2s_v2", "source": "rate card"}
    prices.write_text(json.dumps({"prices": [{**row, "usd_per_hour": 0.25}]}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(prices))
    short = job.deploy(name="iris-short", instance_type="Standard_F2s_v2", instance_count=2, ttl=1)
    job.deploy(name="iris-kept")
    sent = fake.sent("PUT", "/onlineEndpoints/iris-short?")[-1]  # created, then traffic routed: tagged both times
    tags = sent["tags"]
    assert (tags["cloudauto:creator"], tags["cloudauto:job"], tags["cloudauto:spec"]) == (
        "cloudauto",
        job.id,
        "iris-classification",
    )
    assert tags["cloudauto:expires"] > tags["cloudauto:created"]
    runner = CliRunner()
    listed = {e["name"]: e for e in json.loads(runner.invoke(cli, ["endpoints", "-b", "azureml", "--format", "json"]).output)}
    assert set(listed) == {"iris-short", "iris-kept"}
    # the deployment's 2 × Standard_F2s_v2 at $0.25 per hour (the workspace is in eastus)
    assert (listed["iris-short"]["instance_type"], listed["iris-short"]["instance_count"]) == ("Standard_F2s_v2", 2)
    assert listed["iris-short"]["usd_per_hour"] == 0.5 and listed["iris-kept"]["usd_per_hour"] is None  # DS3_v2 unpriced
    time.sleep(1.1)
    done = runner.invoke(cli, ["endpoints", "-b", "azureml", "--expired", "--delete"])
    assert done.exit_code == 0, done.output
    assert "deleted iris-short (azureml, expired at " in done.output
    assert fake.sent("DELETE", "/onlineEndpoints/iris-short") and not fake.sent("DELETE", "/onlineEndpoints/iris-kept")
    with pytest.raises(cloudauto.CloudautoError, match="endpoint iris-short does not exist in this workspace: it was removed"):
        short.score(pd.DataFrame({"a": [1]}))
    scored = runner.invoke(cli, ["score", "iris-short", str(tmp_path / "data" / "iris" / "test.csv"), "-b", "azureml"])
    assert scored.exit_code == 5 and "it was removed" in scored.output


def test_an_autogluon_model_deploys_with_cloudaudos_scoring_script(workspace, tmp_path):
    fake, _ = workspace
    job = azure_iris_submit(tmp_path)
    spec = job.spec
    uploaded = {key.split("/code/", 1)[-1] for key in fake.blobs}
    assert {"spec.json", "cloudauto/runtime/azureml_entry.py"} <= uploaded
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    assert sent["properties"]["trial"]["command"].startswith("python -m cloudauto.runtime.azureml_entry --spec spec.json")
    with pytest.raises(cloudauto.CloudautoError, match="no finished trial"):
        job.deploy(name="iris-ep")
    # a finished trial with an objective: the parent's best, as MLflow reports it
    from mlflow.tracking import MlflowClient

    tracking = MlflowClient(tracking_uri=fake.tracking_uri)
    run = tracking.create_run(tracking.create_experiment("iris"))
    tracking.log_metric(run.info.run_id, spec.objective.name, 0.95, step=0)
    fake.add_trial(job.id, {"models": "GBM"}, name=run.info.run_id)
    assert job.trials()[0].params["models"] == "GBM"
    job.deploy(name="iris-ep", instance_type="Standard_F2s_v2")
    (model,) = fake.sent("PUT", "/models/")
    assert model["properties"]["modelUri"] == f"azureml://jobs/{run.info.run_id}/outputs/model/paths/model/"
    (deployment,) = fake.sent("PUT", "/deployments/cloudauto")
    assert deployment["properties"]["codeConfiguration"]["scoringScript"] == "score.py"
    assert "autogluon" in deployment["properties"]["environmentId"]
    assert deployment["properties"]["instanceType"] == "Standard_F2s_v2"
    assert any(key.endswith("/score.py") for key in fake.blobs)


def test_the_cli_follows_an_azure_job_and_reports_missing_ones_cleanly(workspace):
    from click.testing import CliRunner

    from cloudauto.cli import main as cli

    fake, _ = workspace
    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "fridge_objects_od.yaml")
    job = cloudauto.submit(spec, backend="azureml")
    fake.set_status(job.id, "Running")
    fake.add_trial(job.id, {"model_name": "yolov5"}, status="Running")
    runner = CliRunner()
    result = runner.invoke(cli, ["status", job.id, "--backend", "azureml"])
    assert result.exit_code == 0, result.output
    assert f"{job.id}: running; 1/20 trials 1 running" in result.output
    result = runner.invoke(cli, ["status", "no-such-job", "--backend", "azureml"])
    assert result.exit_code == 3 and "get job no-such-job: not found" in result.output and "Traceback" not in result.output


def test_local_images_are_uploaded_and_the_job_reads_a_table_of_their_datastore_urls(workspace, tmp_path):
    """What Azure AutoML reads: an MLTable whose image_url values are the uploaded images' datastore URLs."""
    from job_specs import make_data

    fake, _ = workspace
    make_data.digits(tmp_path / "data")
    (tmp_path / "digits_images.yaml").write_text((ROOT / "job_specs" / "digits_images.yaml").read_text())
    spec = cloudauto.JobSpec.from_file(tmp_path / "digits_images.yaml")
    job = cloudauto.submit(spec, backend="azureml")
    puts = [u for m, u, _ in fake.calls if m == "PUT" and "/data/" in u]
    assert any("digits-image-classification-train-images" in u for u in puts)
    images = [k for k in fake.blobs if k.endswith(".png")]
    import pandas as pd

    expected = pd.read_csv(tmp_path / "data" / "digits" / "train.csv")
    assert {k.rsplit("/", 1)[1] for k in images} == {p.rsplit("/", 1)[1] for p in expected["image"]}  # those, and only those
    tables = {k: v for k, v in fake.blobs.items() if k.endswith("train.jsonl")}
    (table,) = tables.values()
    rows = [json.loads(line) for line in table.decode().splitlines()]
    assert [r["label"] for r in rows] == [str(v) for v in expected["label"]]
    assert all(r["image_url"].startswith("azureml://") and r["image_url"].endswith(".png") for r in rows)
    assert not any("file://" in r["image_url"] for r in rows)
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    data = sent["properties"]["taskDetails"]
    assert data["trainingData"]["jobInputType"].lower() == "mltable" and data["trainingData"]["uri"]


def test_wait_cancels_a_sweep_whose_runs_billed_the_budget(workspace, tmp_path):
    fake, _ = workspace
    # $3600 per node-hour is $1 a second: 4 trials × 120 s (trial_timeout) is $480 at worst, within the budget
    budget = ("backends.azureml.vm_size=Standard_DS3_v2", "backends.azureml.price_per_hour=3600", "limits.max_cost=480")
    job = azure_iris_submit(tmp_path, budget)
    (sent,) = fake.sent("PUT", f"/jobs/{job.id}")
    assert sent["properties"]["limits"]["timeout"] == "PT4M"  # $480 / ($1 a second × 2 at once) = 240 s, under 10 min
    fake.add_trial(job.id, {"models": "GBM"}, ran_for=200)
    fake.add_trial(job.id, {"models": "XT"}, ran_for=300)  # ended runs: created, then last modified 200 and 300 s later
    assert job.billed()[0] == pytest.approx(500, abs=2)
    job.wait(poll=0.05, timeout=5, progress=False)
    assert fake.sent("POST", f"/jobs/{job.id}/cancel")
    assert job.budget_stop.startswith("billed $50") and "has reached limits.max_cost $480" in job.budget_stop


def test_the_spec_s_other_metrics_come_back_from_each_child_run(workspace, tmp_path):
    """Issue 32: the entry logs val_/test_ of `metrics:` (and the test score) to the child's MLflow run; trials, leaderboard
    and best show them, as for a local job."""
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from cloudauto.cli import main as cli

    fake, _ = workspace
    job = azure_iris_submit(tmp_path, ("metrics=[log_loss]",))
    tracking = MlflowClient(tracking_uri=fake.tracking_uri)
    experiment = tracking.create_experiment(f"iris-{job.id}")
    figures = {"test_accuracy": 0.91, "val_log_loss": 0.31, "test_log_loss": 0.35}
    done = tracking.create_run(experiment).info.run_id
    for key, value in {"accuracy": 0.93, **figures, "fit_seconds": 4.0}.items():  # as azureml_entry reports them
        tracking.log_metric(done, key, value, step=0)
    running = tracking.create_run(experiment).info.run_id
    tracking.log_metric(running, "accuracy", 0.5, step=0)
    fake.add_trial(job.id, {"models": "GBM"}, name=done)
    fake.add_trial(job.id, {"models": "RF"}, status="Running", name=running)
    first, second = job.trials()
    assert first.scores == pytest.approx(figures) and second.scores == {}
    board = job.leaderboard()
    assert board.loc[board["trial"] == 0, "log_loss"].item() == pytest.approx(0.31)
    result = CliRunner().invoke(cli, ["best", job.id, "--backend", "azureml"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)["metrics"]
    assert metrics["accuracy"] == pytest.approx({"validation": 0.93, "test": 0.91})
    assert metrics["log_loss"] == pytest.approx({"validation": 0.31, "test": 0.35})
    fake.add_log(done, "user_logs/std_log.txt", '[cloudauto] positive_class: "virginica"\n')  # the entry's line, binary
    result = CliRunner().invoke(cli, ["best", job.id, "--backend", "azureml"])
    assert json.loads(result.output)["positive_class"] == "virginica", result.output
    result = CliRunner().invoke(cli, ["trials", job.id, "--backend", "azureml", "--trial", "0"])
    assert result.exit_code == 0 and "positive class: virginica (" in result.output, result.output
