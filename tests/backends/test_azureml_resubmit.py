"""Issue 27 item 2 on Azure ML: does a resubmit with changed data reuse a job or write over its inputs?

No: cloudauto sends no job name (Azure names each job), and the SDK uploads local inputs under
their content hash (`LocalUpload/<sha256>/train.csv`), so a second submit is a second job and
the first job's input still holds the first data. Checked through the real MLClient against the
recording workspace.
"""

from __future__ import annotations

import cloudauto

from .conftest import azure_iris_submit

_NAMED = ["backends.azureml.compute=cpu-cluster", "backends.azureml.environment=azureml:autogluon:1"]


def _train_uri(fake, job_id: str) -> str:
    (sent,) = fake.sent("PUT", f"/jobs/{job_id}")
    return sent["properties"]["inputs"]["train"]["uri"]


def test_a_resubmit_with_changed_data_is_a_new_job_and_the_first_keeps_its_input(workspace, tmp_path):
    fake, _ = workspace
    first = azure_iris_submit(tmp_path)
    train = tmp_path / "data" / "iris" / "train.csv"
    original = train.read_bytes()
    changed = original + original.strip().splitlines()[-1] + b"\n"
    train.write_bytes(changed)
    spec = cloudauto.JobSpec.from_file(tmp_path / "iris.yaml", overrides=_NAMED)
    second = cloudauto.submit(spec, backend="azureml")
    assert second.id != first.id
    first_uri, second_uri = _train_uri(fake, first.id), _train_uri(fake, second.id)
    assert first_uri != second_uri
    for uri, data in ((first_uri, original), (second_uri, changed)):
        assert uri.startswith("azureml://datastores/workspaceblobstore/paths/LocalUpload/")
        assert fake.blobs[f"/container/{uri.split('/paths/', 1)[1]}"] == data  # each job reads its own data
