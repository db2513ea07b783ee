"""Azure ML batch inference through the real MLClient against the recording workspace: the batch endpoint,
the model deployment read field by field, the invocation; then the service's part played as a batch
deployment plays it (cloudauto's scoring script, init() then run() on mini-batches of the uploaded chunk
files, finishing out of order, each returned line appended) on a real iris model, and the output read back."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import JobStatus

from ..conftest import ROOT
from .conftest import azure_iris_job

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory) -> Path:
    """A model as the Azure entry saves it (run_trial, GBM): what the deployment's AZUREML_MODEL_DIR holds."""
    from cloudauto.runtime.autogluon_trial import run_trial
    from job_specs import make_data

    root = tmp_path_factory.mktemp("az-batch")
    make_data.iris(root)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml", overrides=[f"data.train={root}/iris/train.csv", "data.test=null"]
    )
    run_trial(spec, {"models": "GBM", "time_limit": 20}, root / "out", lambda value: False)
    return root / "out"


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return pd.DataFrame(np.round(rng.uniform(low, high, size=(n, 4)), 1), columns=FEATURES)


def _job(workspace, tmp_path: Path):
    return azure_iris_job(workspace[0], tmp_path)


def test_the_batch_deployment_and_the_invocation_read_field_by_field(workspace, tmp_path):
    fake, _ = workspace
    job, child = _job(workspace, tmp_path)
    rows(30).to_csv(tmp_path / "nightly.csv", index=False)
    batch = job.predict_batch(
        tmp_path / "nightly.csv", tmp_path / "scored.csv", probabilities=True, chunk_rows=10, max_concurrency_per_instance=3
    )
    (endpoint,) = fake.sent("PUT", "/batchEndpoints/iris-classification-batch?")
    tags = endpoint["tags"]
    assert tags.pop("cloudauto:created").startswith("20")  # when, for cloudauto endpoints
    assert tags == {"cloudauto:creator": "cloudauto", "cloudauto:job": job.id, "cloudauto:spec": "iris-classification"}
    (deployment,) = fake.sent("PUT", "/batchEndpoints/iris-classification-batch/deployments/cloudauto?")
    props = deployment["properties"]
    assert props["miniBatchSize"] == 1 and props["maxConcurrencyPerInstance"] == 3
    assert props["outputAction"] == "AppendRow" and props["outputFileName"] == "predictions.jsonl"
    assert props["errorThreshold"] == 0 and props["loggingLevel"] == "info"
    assert props["retrySettings"] == {"maxRetries": 3, "timeout": "PT5M"}
    assert props["resources"]["instanceCount"] == 1
    assert props["environmentVariables"] == {"CLOUDAUTO_BATCH_PROBABILITIES": "1"}
    assert props["environmentId"].endswith("/environments/autogluon/versions/1")
    assert props["model"]["assetId"].endswith("/models/iris-classification-model/versions/1")
    assert props["codeConfiguration"]["scoringScript"] == "batch_score.py"
    assert props["compute"].endswith("/computes/cpu-cluster")
    (model,) = fake.sent("PUT", "/models/")
    assert model["properties"]["modelUri"] == f"azureml://jobs/{child}/outputs/model/paths/model/"
    (invocation,) = fake.invocations
    assert invocation["endpoint"] == "iris-classification-batch"
    assert invocation["headers"]["azureml-model-deployment"] == "cloudauto"
    sent = invocation["body"]["properties"]
    assert sent["inputData"]["UriFolder"]["jobInputType"] == "UriFolder"
    assert sent["inputData"]["UriFolder"]["uri"].startswith("azureml://datastores/workspaceblobstore/paths/LocalUpload/")
    assert sent["outputData"]["score"] == {"jobOutputType": "UriFile", "uri": batch.record["result_uri"]}
    assert batch.record["rows"] == 30 and [i["rows"] for i in batch.record["inputs"]] == [30]
    chunks = sorted(k.rsplit("/", 1)[-1] for k in fake.blobs if "/input/" in k)
    assert chunks == ["0000-000000000000.csv", "0000-000000000010.csv", "0000-000000000020.csv", "manifest.json"]


def test_the_scoring_script_on_shuffled_mini_batches_gives_the_rows_back_in_order(workspace, tmp_path, iris_model):
    fake, _ = workspace
    job, _ = _job(workspace, tmp_path)
    first = rows(25, 1).astype(object)
    first.loc[17, FEATURES[2]] = "long"
    second = rows(12, 2)
    folder = tmp_path / "in"
    folder.mkdir()
    first.to_csv(folder / "a.csv", index=False)
    second.to_parquet(folder / "b.parquet", index=False)
    batch = job.predict_batch(folder, tmp_path / "scored.parquet", chunk_rows=8)
    score_staged(fake, batch, tmp_path, iris_model)
    assert batch.wait(poll=0.05) is JobStatus.COMPLETED
    result = pd.read_parquet(tmp_path / "scored.parquet")
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor.load(str(iris_model / "model"))
    good = [i for i in range(25) if i != 17]
    expected = [*predictor.predict(rows(25, 1).iloc[good]).tolist(), *predictor.predict(second).tolist()]
    assert len(result) == 37 and result["prediction"].drop(index=17).tolist() == expected
    (failure,) = batch.failures()
    assert failure.row == 17 and failure.reason == "column 'petal length (cm)' takes numbers, not 'long'"
    assert failure.file.endswith("a.csv")


def score_staged(fake, batch, tmp_path: Path, iris_model: Path) -> None:
    """The service's part: the uploaded chunk files through cloudauto's scoring script (init(), then run() on
    mini-batches of one finishing in any order), the returned lines appended as the result; the job Completed."""
    staged = tmp_path / "staged"
    staged.mkdir()
    for key, data in fake.blobs.items():
        if "/input/" in key and batch.record["result_uri"] not in key:
            (staged / key.rsplit("/", 1)[-1]).write_bytes(data)
    files = sorted(str(p) for p in staged.iterdir())
    random.Random(3).shuffle(files)
    (deployment,) = fake.sent("PUT", "/batchEndpoints/iris-classification-batch/deployments/cloudauto")
    settings = deployment["properties"]
    probe = (
        "import json, sys\nfrom cloudauto.runtime.azureml_batch import init, run\ninit()\n"
        "lines = []\nfor path in json.loads(sys.argv[1]):\n    lines += run([path])\n"
        "print('\\n'.join(lines))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(files)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "AZUREML_MODEL_DIR": str(iris_model), **settings["environmentVariables"]},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fake.put_blob(batch.record["result_uri"], done.stdout.encode())
    fake.set_status(batch.id, "Completed")


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_keep_columns_on_an_azure_batch_write_the_file_the_local_batch_writes(
    workspace, tmp_path, iris_model, monkeypatch, shape
):
    """Issue 32: refused with exit 64; each appended line carries its row, so the lines go back in input order and the
    IDs read from the local input (007 as 007, a BOM'd header, a quoted comma) come first as locally."""
    from .batch_keep import KEEP, kept_input, kept_parquet, local_output

    fake, _ = workspace
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    job, _ = _job(workspace, tmp_path)
    if shape == "file":
        source = kept_input(tmp_path / "in.csv", 17)
    else:
        source = tmp_path / "in"
        source.mkdir()
        kept_input(source / "a.csv", 9, 1)
        kept_parquet(source / "b.parquet", 6, 2)
    expected = local_output(iris_model / "model", source, tmp_path / "local.csv", KEEP)
    batch = job.predict_batch(source, tmp_path / "cloud.csv", chunk_rows=4, keep_columns=KEEP)
    score_staged(fake, batch, tmp_path, iris_model)  # the mini-batches finish out of order
    assert batch.wait(poll=0.05) is JobStatus.COMPLETED
    assert (tmp_path / "cloud.csv").read_bytes() == expected
    assert expected.decode().splitlines()[1].startswith('000,"Doe, Jane 0",')


def test_keep_columns_that_do_not_line_up_on_azure_fail_with_exit_4_and_write_nothing(workspace, tmp_path):
    from .batch_keep import KEEP, kept_input

    fake, _ = workspace
    job, _ = _job(workspace, tmp_path)
    lines = kept_input(tmp_path / "x.csv", 6, bom=False).read_text().splitlines()
    (tmp_path / "in.csv").write_text("\n".join([*lines[:3], "   ", *lines[3:]]) + "\n")  # a line of blanks alone
    out = tmp_path / "out.csv"
    batch = job.predict_batch(tmp_path / "in.csv", out, chunk_rows=4, keep_columns=KEEP)
    assert batch.expected_rows() == 6  # the staging reader skips it; cloudauto's counts it as a row
    answers = [json.dumps({"file": 0, "row": r, "prediction": 0}) for r in range(6)]
    fake.put_blob(batch.record["result_uri"], "\n".join(answers).encode())
    fake.set_status(batch.id, "Completed")
    with pytest.raises(cloudauto.CloudautoError, match="in.csv: cloudauto reads 7 rows in it and the batch answered 6") as raised:
        batch.wait(poll=0.05)
    assert raised.value.exit_code == 4 and not out.exists()
    with pytest.raises(cloudauto.CloudautoError, match="no column 'nope' to keep"):
        job.predict_batch(tmp_path / "in.csv", out, keep_columns=["nope"])
    with pytest.raises(cloudauto.CloudautoError, match="azureml://datastores/d/paths/in.csv is read by the Azure ML"):
        job.predict_batch("azureml://datastores/d/paths/in.csv", out, keep_columns=KEEP)


def test_a_lost_mini_batch_is_refused_rather_than_misaligned_and_bad_calls_say_why(workspace, tmp_path):
    fake, _ = workspace
    job, _ = _job(workspace, tmp_path)
    rows(6).to_csv(tmp_path / "in.csv", index=False)
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=3)
    lines = [json.dumps({"file": 0, "row": r, "prediction": 0}) for r in (0, 1, 2)]  # the second chunk's rows are missing
    fake.put_blob(batch.record["result_uri"], "\n".join(lines).encode())
    fake.set_status(batch.id, "Completed")
    with pytest.raises(cloudauto.CloudautoError, match="answered 3 rows for 6; the output would be misaligned"):
        batch.wait(poll=0.05)
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(cloudauto.CloudautoError, match="takes no workers"):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", workers=2)
    with pytest.raises(cloudauto.CloudautoError, match="the output is a .csv or .parquet file"):
        job.predict_batch(tmp_path / "in.csv", tmp_path / "out.json")


@pytest.mark.parametrize("keep", [[], ["id"]])
def test_a_header_only_input_gives_the_answer_header_the_local_batch_writes(workspace, tmp_path, iris_model, keep):
    """No rows in: the output is the local backend's header (kept columns, prediction), zero rows."""
    from cloudauto_local.batch import plan_for, start

    fake, _ = workspace
    job, _ = _job(workspace, tmp_path)
    source = tmp_path / "in.csv"
    source.write_text(",".join(["id", *FEATURES]) + "\n")
    plan = plan_for(
        "empty-local", 0, str(iris_model / "model"), source, tmp_path / "local.csv", probabilities=False,
        chunk_rows=4, workers=1, keep_columns=keep,
    )  # fmt: skip
    assert start(plan).wait(progress=False) is JobStatus.COMPLETED
    expected = (tmp_path / "local.csv").read_bytes()
    assert expected.decode().splitlines() == [",".join([*keep, "prediction"])]
    batch = job.predict_batch(source, tmp_path / "cloud.csv", chunk_rows=4, keep_columns=keep)
    score_staged(fake, batch, tmp_path, iris_model)
    assert batch.wait(poll=0.05) is JobStatus.COMPLETED
    assert (tmp_path / "cloud.csv").read_bytes() == expected
