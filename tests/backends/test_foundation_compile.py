"""Foundation models at compile, offline: a refusal points at the line that gives the weights (`<FAMILY>.model_path`
in the space, or `model_path` in the autogluon block), at `models` only when no weights are given, and names the fix."""

from __future__ import annotations

import os
import signal
import struct
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.runtime.foundation import MADE_FOLDERS

HEAD = """\
name: fm-bike
task: time_series_forecasting
data: {train: ./train.csv, label: count, timestamp: timestamp, item_id: station, prediction_length: 48, freq: h}
metric: MASE
"""
IN_SPACE = """\
sweep:
  sampling: grid
  space:
    - models: Chronos2
      Chronos2.model_path: autogluon/chronos-2-small
      Chronos2.fine_tune: {choice: [false, true]}
    - models: {choice: [SeasonalNaive, Theta]}
"""
IN_BLOCK = """\
autogluon:
  hyperparameters:
    Chronos2:
      model_path: autogluon/chronos-2-small
sweep:
  sampling: grid
  space:
    models: {choice: [Chronos2, Theta]}
"""
# where `python job_specs/make_data.py foundation` writes its folders (--out job_specs/data, then checkpoints/): the
# offline refusals name them, by their full path from a spec outside job_specs/
MADE = Path(__file__).resolve().parents[2] / "job_specs" / "data" / "checkpoints"
NONE = """\
sweep:
  sampling: grid
  space:
    models: {choice: [Chronos2, Theta]}
"""


def refusals(tmp_path, monkeypatch, body: str) -> tuple[str, list]:
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    text = HEAD + body
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    return text, [spec.locate(i) for i in info.value.issues if "Chronos2" in i.message]


@pytest.mark.parametrize(
    ("body", "line", "fix"),
    [
        (IN_SPACE, "      Chronos2.model_path: autogluon/chronos-2-small", f"`Chronos2.model_path: {MADE / 'chronos2-tiny'}`"),
        (IN_BLOCK, "      model_path: autogluon/chronos-2-small", f"`model_path: {MADE / 'chronos2-tiny'}`"),
    ],
)
def test_a_hub_name_offline_is_refused_at_its_model_path_line(tmp_path, monkeypatch, body, line, fix):
    text, found = refusals(tmp_path, monkeypatch, body)
    (issue,) = found  # once, though every sub-space fits Chronos2 and the block names it too
    assert issue.line == text.splitlines().index(line) + 1, (issue.field, issue.line)
    assert issue.field.endswith("model_path")
    assert "hub name 'autogluon/chronos-2-small'" in issue.message and fix in issue.message
    assert "CLOUDAUTO_ALLOW_HUB=1" in issue.message


def test_no_weights_at_all_is_refused_at_the_models_line(tmp_path, monkeypatch):
    text, found = refusals(tmp_path, monkeypatch, NONE)
    (issue,) = found
    assert issue.line == text.splitlines().index("    models: {choice: [Chronos2, Theta]}") + 1
    assert "Chronos2 has no weights" in issue.message and f"`Chronos2.model_path: {MADE / 'chronos2-tiny'}`" in issue.message
    assert "CLOUDAUTO_ALLOW_HUB=1" in issue.message


# --- where the weights are: a folder relative to the spec file, a hub name (org/name), a file; what travels ---


CHRONOS2_CONFIG = '{"architectures": ["Chronos2Model"], "chronos_config": {}, "chronos_pipeline_class": "Chronos2Pipeline"}'
BOLT_CONFIG = '{"architectures": ["ChronosBoltModelForForecasting"], "chronos_config": {}, "chronos_pipeline_class": "ChronosBoltPipeline"}'


# a .safetensors file with no tensors (8 bytes of header length, the header `{}`): compile reads a file's header
# and its size, so this passes as weights; a torch checkpoint as compile sees it: a zip archive (torch.save's)
NO_TENSORS = struct.pack("<Q", 2) + b"{}"


def torch_ckpt(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    return path


def fake_weights(folder: Path) -> Path:
    """A folder that looks like Chronos-2 weights to compile (compile reads their headers, not the weights)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(CHRONOS2_CONFIG)
    (folder / "model.safetensors").write_bytes(NO_TENSORS)
    return folder


def spec_with(tmp_path: Path, weights: str, models: str = "{choice: [Chronos2, SeasonalNaive]}", more: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        HEAD + f"sweep:\n  sampling: grid\n  space:\n    models: {models}\n    Chronos2.model_path: {weights}\n{more}"
        "backends:\n  sagemaker: {bucket: fm-bucket}\n  azureml: {compute: gpu-cluster}\n"
    )
    return path


def local_refusal(path: Path, monkeypatch) -> str:
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    spec = cloudauto.JobSpec.from_file(path)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    (issue,) = [spec.locate(i) for i in info.value.issues if i.field.endswith("model_path")]
    lines = path.read_text().splitlines()
    assert issue.line == next(n for n, line in enumerate(lines, 1) if line.startswith("    Chronos2.model_path:"))
    return issue.message


def test_a_relative_folder_without_dot_slash_is_a_folder_everywhere(tmp_path, monkeypatch):
    """F3: `data/checkpoints/chronos2-tiny` exists next to the spec: a folder, not a hub name (a hub id has one slash)."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    fake_weights(tmp_path / "data" / "checkpoints" / "chronos2-tiny")
    spec = cloudauto.JobSpec.from_file(spec_with(tmp_path, "data/checkpoints/chronos2-tiny"))
    cloudauto.compile(spec, backend="local")  # not refused as a hub name offline

    sagemaker = cloudauto.compile(spec, backend="sagemaker")
    channels = {c["ChannelName"] for c in sagemaker.native["TrainingJobDefinition"]["InputDataConfig"]}
    assert "checkpoint_0" in channels
    assert not any("Hugging Face hub" in n for n in sagemaker.notes), sagemaker.notes
    azure = cloudauto.compile(spec, backend="azureml")
    assert not any("Hugging Face hub" in n for n in azure.notes), azure.notes


def test_a_missing_relative_path_with_two_slashes_is_no_hub_name(tmp_path, monkeypatch):
    path = spec_with(tmp_path, "data/checkpoints/nowhere")
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker"):
        monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if "nowhere" in i.message]
        assert issue.line == path.read_text().splitlines().index("    Chronos2.model_path: data/checkpoints/nowhere") + 1
        assert f"no such folder ({tmp_path / 'data' / 'checkpoints' / 'nowhere'})" in issue.message
        assert "a hub name has exactly one slash" in issue.message


def test_a_file_is_not_a_weights_folder(tmp_path, monkeypatch):
    """M6: the path exists, it is a file."""
    (tmp_path / "afile").write_text("x")
    message = local_refusal(spec_with(tmp_path, "./afile"), monkeypatch)
    assert f"is a file, not a folder ({tmp_path / 'afile'})" in message and "no such folder" not in message


def test_the_example_folder_before_make_data_ran_names_the_command_and_no_hub_name_offline(tmp_path, monkeypatch):
    """newuser §4: locally, hub names are refused: the message offers CLOUDAUTO_ALLOW_HUB=1, not 'a hub name'."""
    message = local_refusal(spec_with(tmp_path, "./data/checkpoints/chronos2-tiny"), monkeypatch)
    assert "no such folder" in message and "python job_specs/make_data.py foundation" in message
    assert "CLOUDAUTO_ALLOW_HUB=1" in message and "a hub name, a folder" not in message


def test_a_weights_folder_holding_a_link_out_of_it_is_refused_at_its_line(tmp_path, monkeypatch):
    """F2: the folder travels whole (a SageMaker channel, an Azure ML input, docker mode): a link to a file outside it
    would carry that file along. A Hugging Face cache snapshot's links into its own blobs/ are the weights: allowed."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET=hunter2")
    weights = fake_weights(tmp_path / "w")
    (weights / "notes.txt").symlink_to(secret)
    path = spec_with(tmp_path, "./w")
    for backend in ("local", "sagemaker", "azureml"):
        monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
        spec = cloudauto.JobSpec.from_file(path)
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if "notes.txt" in i.message]
        assert issue.line == path.read_text().splitlines().index("    Chronos2.model_path: ./w") + 1
        assert f"notes.txt is a link to {secret}, outside the folder" in issue.message

    cache = tmp_path / "hub" / "models--autogluon--chronos-2-small"
    (cache / "blobs").mkdir(parents=True)
    snapshot = cache / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name, content in (("config.json", CHRONOS2_CONFIG.encode()), ("model.safetensors", NO_TENSORS)):
        (cache / "blobs" / name.upper()).write_bytes(content)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", name.upper()))
    cloudauto.compile(cloudauto.JobSpec.from_file(spec_with(tmp_path, str(snapshot))), backend="local")


def mitra_folder(folder: Path, task: str) -> Path:
    """A folder that looks like make_data.py's Tab2D weights: compile reads only config.json's task."""
    folder.mkdir(parents=True)
    outputs = 1 if task == "REGRESSION" else 10
    (folder / "config.json").write_text(f'{{"dim": 32, "dim_output": {outputs}, "n_layers": 2, "n_heads": 4, "task": "{task}"}}')
    (folder / "model.safetensors").write_bytes(NO_TENSORS)
    return folder


@pytest.mark.parametrize(
    ("task", "folder", "held", "needed", "other"),
    [
        ("tabular_regression", "mitra-tiny", "CLASSIFICATION", "REGRESSION", "mitra-tiny-regressor"),
        ("tabular_classification", "mitra-tiny-regressor", "REGRESSION", "CLASSIFICATION", "mitra-tiny"),
    ],
)
@pytest.mark.parametrize("where", ["space", "block"])
def test_a_mitra_folder_of_the_other_task_is_refused_at_its_hf_model_line(
    tmp_path, monkeypatch, task, folder, held, needed, other, where
):
    """newuser2 §2: a classifier's folder on a regression spec fit and failed in the trial (1!=10 outputs)."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    mitra_folder(tmp_path / "data" / "checkpoints" / "mitra-tiny", "CLASSIFICATION")
    mitra_folder(tmp_path / "data" / "checkpoints" / "mitra-tiny-regressor", "REGRESSION")
    metric = "rmse" if task == "tabular_regression" else "accuracy"
    head = f"name: m\ntask: {task}\ndata: {{train: ./train.csv, label: y}}\nmetric: {metric}\n"
    line = f"MITRA.hf_model: data/checkpoints/{folder}"
    space = "sweep:\n  sampling: grid\n  space:\n    models: {choice: [MITRA, GBM]}\n"
    body = f"{space}    {line}\n" if where == "space" else f"autogluon:\n  hyperparameters:\n    MITRA:\n      hf_model: data/checkpoints/{folder}\n{space}"
    path = tmp_path / "spec.yaml"
    path.write_text(head + body)
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker", "azureml"):
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if "Mitra" in i.message]
        wanted = line if where == "space" else line.removeprefix("MITRA.")
        assert issue.line == next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == wanted)
        assert f"task {held}" in issue.message and f"task {needed}" in issue.message
        assert other in issue.message and task in issue.message
    path.write_text(path.read_text().replace(f"checkpoints/{folder}", f"checkpoints/{other}"))
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker", "azureml"):
        cloudauto.compile(spec, backend=backend)


MITRA_ALIAS_SPEC = """\
name: m
task: {task}
data: {{train: ./train.csv, label: y}}
metric: {metric}
{body}backends:
  sagemaker: {{bucket: fm-bucket}}
  azureml: {{compute: gpu-cluster}}
"""


def mitra_alias_spec(tmp_path: Path, task: str, param: str, folder: str, where: str) -> Path:
    mitra_folder(tmp_path / "data" / "checkpoints" / "mitra-tiny", "CLASSIFICATION")
    mitra_folder(tmp_path / "data" / "checkpoints" / "mitra-tiny-regressor", "REGRESSION")
    space = "sweep:\n  sampling: grid\n  space:\n    models: {choice: [MITRA, GBM]}\n"
    value = f"data/checkpoints/{folder}"
    body = f"{space}    MITRA.{param}: {value}\n" if where == "space" else (
        f"autogluon:\n  hyperparameters:\n    MITRA:\n      {param}: {value}\n{space}"
    )
    metric = "rmse" if task == "tabular_regression" else "accuracy"
    path = tmp_path / "spec.yaml"
    path.write_text(MITRA_ALIAS_SPEC.format(task=task, metric=metric, body=body))
    return path


@pytest.mark.parametrize(
    ("task", "param", "folder"),
    [("tabular_classification", "hf_cls_model", "mitra-tiny"), ("tabular_regression", "hf_reg_model", "mitra-tiny-regressor")],
)
@pytest.mark.parametrize("where", ["space", "block"])
def test_mitras_per_task_weights_settings_are_weights_that_travel(tmp_path, monkeypatch, task, param, folder, where):
    """atk7 F2: AutoGluon's Mitra reads hf_cls_model / hf_reg_model ahead of hf_model: a folder there travels as the
    checkpoint input (SageMaker channel, Azure ML uri_folder) and is no hub name offline, as hf_model's is."""
    from azure.ai.ml import load_job

    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    spec = cloudauto.JobSpec.from_file(mitra_alias_spec(tmp_path, task, param, folder, where))
    cloudauto.compile(spec, backend="local")  # not refused as "MITRA has no weights"
    sagemaker = cloudauto.compile(spec, backend="sagemaker")
    channels = {c["ChannelName"] for c in sagemaker.native["TrainingJobDefinition"]["InputDataConfig"]}
    assert "checkpoint_0" in channels
    assert not any("Hugging Face hub" in n for n in sagemaker.notes), sagemaker.notes
    azure = cloudauto.compile(spec, backend="azureml")
    assert not any("Hugging Face hub" in n for n in azure.notes), azure.notes
    loaded = load_job(azure.write(tmp_path / "out")[0])
    assert loaded.inputs["checkpoint_0"].type == "uri_folder"
    assert Path(loaded.inputs["checkpoint_0"].path) == tmp_path / "data" / "checkpoints" / folder


@pytest.mark.parametrize(
    ("task", "param", "read", "folder"),
    [
        ("tabular_regression", "hf_cls_model", "hf_reg_model", "mitra-tiny-regressor"),
        ("tabular_classification", "hf_reg_model", "hf_cls_model", "mitra-tiny"),
    ],
)
@pytest.mark.parametrize("where", ["space", "block"])
def test_mitras_weights_setting_of_the_other_task_is_refused_at_its_line(tmp_path, monkeypatch, task, param, read, folder, where):
    """AutoGluon ignores hf_cls_model on a regression task (and hf_reg_model on a classification one): every trial
    would fit the hub's default. Refused at its line, naming the setting AutoGluon reads for the task."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    path = mitra_alias_spec(tmp_path, task, param, folder, where)
    spec = cloudauto.JobSpec.from_file(path)
    wanted = f"MITRA.{param}: data/checkpoints/{folder}" if where == "space" else f"{param}: data/checkpoints/{folder}"
    for backend in ("local", "sagemaker", "azureml"):
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if param in i.message]
        assert issue.line == next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == wanted)
        assert read in issue.message and task in issue.message


def test_a_mitra_folder_of_the_other_task_in_hf_reg_model_is_refused_at_its_line(tmp_path, monkeypatch):
    """The per-task settings are judged as hf_model is: a classifier's folder in hf_reg_model does not fit."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    path = mitra_alias_spec(tmp_path, "tabular_regression", "hf_reg_model", "mitra-tiny", "space")
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker", "azureml"):
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if "Mitra" in i.message]
        assert issue.field.endswith("MITRA.hf_reg_model") and "task CLASSIFICATION" in issue.message


def test_the_trial_reads_mitras_per_task_weights_from_the_folder_that_arrived(tmp_path):
    """The trial rewrites hf_cls_model to the input's folder (a sweep value and the autogluon block's), and the fit
    hands AutoGluon an absolute folder."""
    import json

    from cloudauto.runtime.foundation import tabular_fit
    from cloudauto.runtime.trial_inputs import spec_with_checkpoints, with_checkpoints

    (tmp_path / "checkpoints.json").write_text(json.dumps({"./w": "checkpoint_0"}))
    arrived = tmp_path / "mnt" / "checkpoint_0"
    folder_of = {"checkpoint_0": arrived}.get
    assert with_checkpoints({"MITRA.hf_cls_model": "./w"}, folder_of, tmp_path) == {"MITRA.hf_cls_model": str(arrived)}
    data = {"autogluon": {"hyperparameters": {"MITRA": {"hf_reg_model": "./w"}}}}
    assert spec_with_checkpoints(data, folder_of, tmp_path)["autogluon"]["hyperparameters"]["MITRA"] == {"hf_reg_model": str(arrived)}
    (tmp_path / "w").mkdir()
    kwargs = tabular_fit({"hyperparameters": {"MITRA": {"hf_cls_model": "w"}}}, str(tmp_path), tmp_path / "scratch")
    assert kwargs["hyperparameters"]["MITRA"] == {"hf_cls_model": str(tmp_path / "w")}


@pytest.mark.parametrize("where", ["space", "block"])
def test_tabdpt_turbos_weights_path_is_refused_on_every_backend_at_its_line(tmp_path, monkeypatch, where):
    """atk7: AutoGluon's TabDPT-Turbo overwrites model_weight_path with its pinned checkpoint: a folder given there
    would be shipped and never read. Refused at its line on the clouds too, as the local backend refuses it."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    folder = tmp_path / "data" / "checkpoints" / "tabdpt-tiny"
    folder.mkdir(parents=True)
    (folder / "tabdpt-tiny.safetensors").write_bytes(NO_TENSORS)
    space = "sweep:\n  space:\n    models: TABDPT-TURBO\n"
    line = "model_weight_path: data/checkpoints/tabdpt-tiny"
    body = f"{space}    TABDPT-TURBO.{line}\n" if where == "space" else f"autogluon:\n  hyperparameters:\n    TABDPT-TURBO:\n      {line}\n{space}"
    path = tmp_path / "spec.yaml"
    path.write_text(MITRA_ALIAS_SPEC.format(task="tabular_classification", metric="accuracy", body=body))
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker", "azureml"):
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if i.field.endswith("model_weight_path")]
        assert issue.line == next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().endswith(line))
        assert "tabdpt1_2.safetensors" in issue.message and "TABDPT.model_weight_path" in issue.message


def test_two_chronos_folders_of_one_name_keep_their_own_weights(tmp_path):
    """Two weights folders named alike (`x1/weights`, `x2/weights`, or one named like AutoGluon's `bolt_small`):
    each config reads its own folder, under a name without the user's path."""
    pytest.importorskip("autogluon.timeseries")
    from autogluon.timeseries.models.chronos.model import MODEL_ALIASES

    from cloudauto.runtime.foundation import stable_names

    first, second, own = tmp_path / "x1" / "weights", tmp_path / "x2" / "weights", tmp_path / "bolt_small"
    for folder in (first, second, own):
        folder.mkdir(parents=True)
    configs = [{"model_path": str(first)}, {"model_path": str(second)}, {"model_path": str(own)}]
    stable_names({"Chronos": configs})
    names = [c["model_path"] for c in configs]
    assert [MODEL_ALIASES[n] for n in names] == [str(first), str(second), str(own)]
    assert len(set(names)) == 3 and all(str(tmp_path) not in n for n in names)
    assert MODEL_ALIASES["bolt_small"] == "autogluon/chronos-bolt-small"
    again = [{"model_path": str(second)}]  # the next trial in this process: the same name for the same folder
    stable_names({"Chronos": again})
    assert again[0]["model_path"] == names[1]


PRESET_ONLY = """\
sweep:
  space:
    presets: {preset}
    time_limit: 60
backends:
  sagemaker: {{bucket: cloudauto-fm-preset}}
"""


@pytest.mark.parametrize(("preset", "family"), [("chronos2", "Chronos2"), ("bolt_tiny", "Chronos"), ("experimental_quality", "Chronos2")])
def test_a_preset_of_foundation_models_only_without_weights_is_refused_offline_at_its_presets_line(
    tmp_path, monkeypatch, preset, family
):
    """F4: `presets: chronos2` with no weights given trains nothing offline (AutoGluon's IndexError in every trial):
    refused at the presets line, naming the fix."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    text = HEAD + PRESET_ONLY.format(preset=preset)
    (tmp_path / "spec.yaml").write_text(text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    found = [spec.locate(i) for i in info.value.issues if family in i.message]
    assert found, [i.message for i in info.value.issues]
    assert found[0].line == text.splitlines().index(f"    presets: {preset}") + 1
    assert f"{family} has no weights" in found[0].message and f"`{family}.model_path: {MADE / MADE_FOLDERS[family]}`" in found[0].message


def test_a_preset_of_foundation_models_only_downloads_them_on_the_clouds(tmp_path, monkeypatch):
    """F4: the cloud trial lets the preset fetch its models from the hub (not excluded), on a GPU instance, said in a note."""
    from cloudauto.runtime.autogluon_timeseries import timeseries_fit_arguments
    from cloudauto.runtime.foundation import uses_foundation

    text = HEAD + PRESET_ONLY.format(preset="chronos2")
    (tmp_path / "spec.yaml").write_text(text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    assert uses_foundation(spec) and uses_foundation(spec, {"presets": "chronos2"})
    assert not uses_foundation(spec, {"presets": "medium_quality"})  # the preset's others train; its Chronos2 left out
    assert "Chronos2" not in timeseries_fit_arguments({"presets": "chronos2"})["excluded_model_types"]
    assert "Chronos2" in timeseries_fit_arguments({"presets": "medium_quality"})["excluded_model_types"]
    job = cloudauto.compile(spec, backend="sagemaker")
    assert job.native["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert any("Chronos2: weights from the Hugging Face hub" in n for n in job.notes)


def test_a_fit_with_no_model_to_train_fails_with_the_reason_not_autogluons_index_error():
    """F4: AutoGluon's trainer raises IndexError after logging "Models that will be trained: []"."""
    import logging

    from cloudauto.runtime.fit_log import NoModelTrained, watching

    with pytest.raises(NoModelTrained, match="no model to train"), watching() as log:
        logging.getLogger("autogluon.timeseries.trainer").warning("Models that will be trained: []")
        with log.no_model_raised():
            raise IndexError("list index out of range")
    with pytest.raises(IndexError), watching() as log:  # any other IndexError stays itself
        with log.no_model_raised():
            raise IndexError("list index out of range")


WEIGHTS_AT = HEAD + """\
sweep:
  space:
    models: Chronos
    Chronos.model_path: PATH
"""


def weights_refusal(tmp_path, monkeypatch, path: str, backend: str = "local") -> str:
    """The message of the refusal at the `Chronos.model_path` line (exit 2), not an internal error."""
    text = WEIGHTS_AT.replace("PATH", path)
    (tmp_path / "spec.yaml").write_text(text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend=backend)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("    Chronos.model_path:"))
    (issue,) = [spec.locate(i) for i in info.value.issues if spec.locate(i).line == line]
    return issue.message


def weights_folder(where: Path) -> Path:
    where.mkdir(parents=True)
    (where / "config.json").write_text(BOLT_CONFIG)
    (where / "model.safetensors").write_bytes(NO_TENSORS)
    return where


@pytest.mark.parametrize("backend", ["local", "sagemaker"])
def test_weights_paths_that_break_path_handling_are_refused_at_their_line(tmp_path, monkeypatch, backend):
    """F1, F2, F13: `~nosuchuser/x`, a folder holding a link loop, `/` and a home folder: exit 2 at the line."""
    assert "no such user" in weights_refusal(tmp_path, monkeypatch, "'~nosuchuser/x'", backend)
    loop = weights_folder(tmp_path / "loop")
    (loop / "a").symlink_to("b")
    (loop / "b").symlink_to("a")
    assert " is a link loop (it leads back to itself)" in weights_refusal(tmp_path, monkeypatch, "./loop", backend)
    assert "does not look like model weights" in weights_refusal(tmp_path, monkeypatch, "/", backend)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert "does not look like model weights" in weights_refusal(tmp_path, monkeypatch, "'~'", backend)
    (tmp_path / "empty").mkdir()
    assert "does not look like model weights" in weights_refusal(tmp_path, monkeypatch, "./empty", backend)


def test_a_link_to_a_folder_inside_the_weights_folder_is_refused(tmp_path, monkeypatch):
    """F3: `ln -s . self` (docker mode copies it without end) or `alias -> real` (the clouds' upload skips it)."""
    selfloop = weights_folder(tmp_path / "selfloop")
    (selfloop / "self").symlink_to(".")
    assert "self is a link to a folder" in weights_refusal(tmp_path, monkeypatch, "./selfloop", "sagemaker")
    nested = weights_folder(tmp_path / "nested")
    weights_folder(nested / "real")
    (nested / "alias").symlink_to("real")
    assert "alias is a link to a folder" in weights_refusal(tmp_path, monkeypatch, "./nested")


def test_a_big_weights_folder_says_its_size_in_the_upload_note(tmp_path, monkeypatch):
    """F13: over 1 GB, the upload note says how much travels."""
    from cloudauto.runtime import trial_inputs

    weights_folder(tmp_path / "w")
    monkeypatch.setattr(trial_inputs, "BIG_FOLDER_BYTES", 1)
    (tmp_path / "spec.yaml").write_text(WEIGHTS_AT.replace("PATH", "./w") + "backends:\n  sagemaker: {bucket: cloudauto-fm-big}\n")
    job = cloudauto.compile(cloudauto.JobSpec.from_file(tmp_path / "spec.yaml"), backend="sagemaker")
    assert any(n.startswith("upload on submit: ") and n.endswith("/w (0.0 GB) -> " + n.split(" -> ")[-1]) for n in job.notes), job.notes


def test_a_hub_name_that_is_a_folder_from_the_current_folder_says_so(tmp_path, monkeypatch):
    """F14: `model_path: w/planted` is a folder from where the command runs, not from the spec file: the value is a
    hub name (paths are relative to the spec file); the refusal (local) and the hub note (SageMaker) say which to write."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    weights_folder(tmp_path / "w" / "planted")
    (tmp_path / "specs").mkdir()
    text = WEIGHTS_AT.replace("PATH", "w/planted") + "backends:\n  sagemaker: {bucket: cloudauto-fm-rel}\n"
    (tmp_path / "specs" / "spec.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    spec = cloudauto.JobSpec.from_file(tmp_path / "specs" / "spec.yaml")
    hint = "a folder w/planted exists from the current folder"
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    (message,) = [i.message for i in info.value.issues if "w/planted" in i.message]
    assert hint in message and "`../w/planted`" in message
    notes = cloudauto.compile(spec, backend="sagemaker").notes
    assert any("weights from the Hugging Face hub" in n and hint in n and "`../w/planted`" in n for n in notes), notes


def tabicl_folder(folder: Path, *names: str) -> Path:
    """A folder that looks like make_data.py's TabICL weights: compile reads the checkpoint files' names and their
    first and last bytes (a zip archive, as torch.save writes)."""
    folder.mkdir(parents=True)
    for name in names:
        torch_ckpt(folder / name)
    return folder


TABICL_SPEC = """\
name: t
task: {task}
data: {{train: ./train.csv, label: y}}
metric: {metric}
sweep:
  sampling: grid
  space:
    models: {{choice: [TABICL, GBM]}}
    TABICL.model_path: {weights}
"""


def tabicl_spec(tmp_path: Path, weights: str, task: str = "tabular_regression") -> tuple[Path, int]:
    path = tmp_path / f"tabicl-{abs(hash((weights, task)))}.yaml"
    metric = "rmse" if task == "tabular_regression" else "accuracy"
    path.write_text(TABICL_SPEC.format(task=task, metric=metric, weights=weights))
    return path, 9  # the TABICL.model_path line


def test_a_tabicl_folder_travels_and_one_of_the_other_task_or_a_hub_name_is_refused_at_its_model_path_line(
    tmp_path, monkeypatch
):
    """TabICL reads a checkpoint file (model_path): the spec names the folder that holds it (it travels as a
    checkpoint channel / uri_folder); a classifier's checkpoint on a regression spec, and a hub name (no file to
    read; tabicl would download into that path), are refused on every backend."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    checkpoints = tmp_path / "checkpoints"
    tabicl_folder(checkpoints / "tabicl-tiny", "tabicl-classifier-tiny.ckpt")
    tabicl_folder(checkpoints / "both", "tabicl-classifier-tiny.ckpt", "tabicl-regressor-tiny.ckpt")
    for weights, task, words in [
        ("./checkpoints/tabicl-tiny", "tabular_regression", ["only tabicl-classifier-tiny.ckpt", "tabicl-tiny-regressor"]),
        ("jingang/TabICL", "tabular_classification", ["not a hub name", "leave TABICL.model_path out"]),
    ]:
        path, line = tabicl_spec(tmp_path, weights, task)
        for backend in ("local", "sagemaker", "azureml"):
            with pytest.raises(CompileError) as info:
                cloudauto.compile(cloudauto.JobSpec.from_file(path), backend=backend)
            spec = cloudauto.JobSpec.from_file(path)
            (issue,) = [spec.locate(i) for i in info.value.issues if weights in i.message]
            assert issue.line == line and all(w in issue.message for w in words), (backend, issue.message)
    for task in ("tabular_regression", "tabular_classification"):
        path, _ = tabicl_spec(tmp_path, "./checkpoints/both", task)
        job = cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="sagemaker")
        channels = [c["ChannelName"] for c in job.native["TrainingJobDefinition"]["InputDataConfig"]]
        assert "checkpoint_0" in channels
    path, _ = tabicl_spec(tmp_path, "./checkpoints/tabicl-tiny", "tabular_classification")
    cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")

    path.write_text(path.read_text().replace("    TABICL.model_path: ./checkpoints/tabicl-tiny\n", ""))
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
    (refused,) = [i.message for i in info.value.issues if "TABICL" in i.message]
    assert "TABICL has no weights" in refused and f"TABICL.model_path: {MADE / 'tabicl-tiny'}`" in refused


def safetensors_file(path: Path, metadata: dict) -> Path:
    """A .safetensors file as its header says it (8 bytes of length, the JSON header): compile reads only the header."""
    import json
    import struct

    header = json.dumps({"__metadata__": metadata}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def tabdpt_folder(folder: Path) -> Path:
    """A folder that looks like make_data.py's TabDPT weights: one .safetensors file with TabDPT's cfg in its metadata."""
    folder.mkdir(parents=True)
    safetensors_file(folder / "tabdpt-tiny.safetensors", {"cfg": "{}"})
    return folder


def test_the_runtime_hands_tabicl_the_checkpoint_file_of_the_task(tmp_path):
    from cloudauto.runtime.foundation import tabular_fit

    folder = tabicl_folder(tmp_path / "both", "tabicl-classifier-tiny.ckpt", "tabicl-regressor-tiny.ckpt")
    for regression, name in ((False, "tabicl-classifier-tiny.ckpt"), (True, "tabicl-regressor-tiny.ckpt")):
        kwargs = {"hyperparameters": {"TABICL": {"model_path": "./both"}, "GBM": {}}}
        tabular_fit(kwargs, str(tmp_path), tmp_path, regression=regression)
        assert kwargs["hyperparameters"]["TABICL"]["model_path"] == str(folder / name)


def test_a_tabdpt_folder_serves_both_tasks_and_a_hub_name_or_a_folder_without_its_file_is_refused(tmp_path, monkeypatch):
    """TabDPT reads one .safetensors file for classification and regression (`TABDPT.model_weight_path`)."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    tabdpt_folder(tmp_path / "checkpoints" / "tabdpt-tiny")
    tabicl_folder(tmp_path / "checkpoints" / "other", "model.bin")
    text = TABICL_SPEC.replace("TABICL", "TABDPT").replace("model_path", "model_weight_path")
    for weights, words in [("./checkpoints/other", "holds no TABDPT checkpoint (it holds model.bin)"), ("Layer6/TabDPT", "not a hub name")]:
        path = tmp_path / "dpt.yaml"
        path.write_text(text.format(task="tabular_regression", metric="rmse", weights=weights))
        for backend in ("local", "sagemaker"):
            with pytest.raises(CompileError) as info:
                cloudauto.compile(cloudauto.JobSpec.from_file(path), backend=backend)
            spec = cloudauto.JobSpec.from_file(path)
            (issue,) = [spec.locate(i) for i in info.value.issues if weights in i.message]
            assert issue.line == 9 and words in issue.message, (backend, issue.message)
    for task, metric in (("tabular_regression", "rmse"), ("tabular_classification", "accuracy")):
        path.write_text(text.format(task=task, metric=metric, weights="./checkpoints/tabdpt-tiny"))
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")


@pytest.mark.parametrize(("family", "words"), [("TABPFN-2.6", "licence-gated"), ("REALTABPFN-V2", "custom_model_dir")])
def test_a_tabpfn_family_offline_is_refused_with_its_exact_reason(tmp_path, monkeypatch, family, words):
    """tabpfn 8.2.0 loads a local checkpoint without the network, but its v2.5/v2.6/v3 downloads need Prior Labs'
    licence accepted, and cloudauto does not carry AutoGluon's custom_model_dir for TabPFN yet."""
    pytest.importorskip("tabpfn")
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    path = tmp_path / "pfn.yaml"
    path.write_text(TABICL_SPEC.replace("TABICL, GBM", f"{family}, GBM").replace("    TABICL.model_path: {weights}\n", "").format(
        task="tabular_classification", metric="accuracy"
    ))
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
    (message,) = [i.message for i in info.value.issues if family in i.message]
    assert words in message and "CLOUDAUTO_ALLOW_HUB=1" in message and "takes no folder" not in message, message
    monkeypatch.setenv("CLOUDAUTO_ALLOW_HUB", "1")
    cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")


PRESET_TABULAR = """\
name: tp
task: tabular_classification
data: {{train: ./train.csv, label: y}}
metric: accuracy
sweep:
  space:
    presets: {preset}
    time_limit: 30
{more}"""


@pytest.mark.parametrize(
    ("preset", "no_weights", "hub_only"),
    [
        ("extreme_quality", ["TABICL"], ["TABDPT-TURBO"]),
        ("eq", ["TABICL"], ["TABDPT-TURBO"]),
        ("tabarena", ["MITRA", "TABICL"], ["REALTABPFN-V2"]),
        ("noncommercial", ["TABICL"], ["TABDPT-TURBO", "TABPFN-3"]),
    ],
)
def test_a_tabular_preset_holding_foundation_models_is_refused_offline_at_its_presets_line(
    tmp_path, monkeypatch, preset, no_weights, hub_only
):
    """atk5 F2: `presets: extreme_quality` validated and compiled offline, and every trial then failed on the hub (past
    its time limit): refused at the presets line, naming each family's fix (a folder, or hub only)."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    text = PRESET_TABULAR.format(preset=preset, more="")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    found = [spec.locate(i) for i in info.value.issues]
    line = text.splitlines().index(f"    presets: {preset}") + 1
    for fam in no_weights:
        (issue,) = [i for i in found if i.message.startswith(f"local: {fam} has no weights")]
        assert issue.line == line and f"presets {preset}" in issue.message, issue.message
    for fam in hub_only:
        (issue,) = [i for i in found if f"{fam} downloads its weights" in i.message or f"{fam} needs" in i.message]
        assert issue.line == line, issue.message
    monkeypatch.setenv("CLOUDAUTO_ALLOW_HUB", "1")
    if not any(" needs " in i.message for i in found):
        cloudauto.compile(spec, backend="local")


def test_a_tabular_preset_with_weights_given_fits_only_the_families_given(tmp_path, monkeypatch):
    """A trial that gives a family's settings hands AutoGluon `hyperparameters`, which replace the preset's portfolio:
    `presets: extreme_quality` with `TABICL.model_path` fits TabICL alone (bagged as the preset says), offline."""
    from cloudauto.runtime.autogluon_trial import fit_arguments
    from cloudauto.runtime.foundation import trial_families

    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    tabicl_folder(tmp_path / "checkpoints" / "tabicl-tiny", "tabicl-classifier-tiny.ckpt")
    path = tmp_path / "spec.yaml"
    path.write_text(PRESET_TABULAR.format(preset="extreme_quality", more="    TABICL.model_path: ./checkpoints/tabicl-tiny\n"))
    spec = cloudauto.JobSpec.from_file(path)
    cloudauto.compile(spec, backend="local")
    params = {"presets": "extreme_quality", "TABICL.model_path": "./checkpoints/tabicl-tiny"}
    assert list(fit_arguments(params)["hyperparameters"]) == ["TABICL"]
    assert trial_families(spec, params) == ["TABICL"]


@pytest.mark.parametrize(
    ("task", "family", "param", "folder", "words"),
    [
        ("tabular_classification", "TABDPT", "model_weight_path", "mitra", "holds no TABDPT checkpoint (it holds config.json, model.safetensors)"),
        ("tabular_regression", "MITRA", "hf_model", "tabicl", "holds no Mitra weights (it holds tabicl-regressor-tiny.ckpt)"),
        ("tabular_classification", "TABICL", "model_path", "dirckpt", "tabicl-classifier-x.ckpt in it is a folder, not a checkpoint file"),
        ("tabular_classification", "MITRA", "hf_model", "chronos2", "holds a Chronos model (Chronos2Pipeline"),
        ("time_series_forecasting", "Chronos2", "model_path", "mitra", "holds no Chronos config"),
        ("time_series_forecasting", "Chronos2", "model_path", "bolt", "holds a ChronosBoltPipeline model"),
        ("time_series_forecasting", "Chronos", "model_path", "chronos2", "holds a Chronos-2 model"),
    ],
)
def test_a_weights_folder_of_another_family_is_refused_at_its_line(tmp_path, monkeypatch, task, family, param, folder, words):
    """atk5 F1: a Mitra folder as TabDPT's, a TabICL one as Mitra's, a `*.ckpt` folder as TabICL's compiled, and every
    trial failed (exit 4): refused at the field's line (exit 2) by the family's own layout, on every backend."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    w = tmp_path / "w"
    mitra_folder(w / "mitra", "CLASSIFICATION")
    tabicl_folder(w / "tabicl", "tabicl-regressor-tiny.ckpt")
    (w / "dirckpt" / "tabicl-classifier-x.ckpt").mkdir(parents=True)
    fake_weights(w / "chronos2")
    weights_folder(w / "bolt")
    if task == "time_series_forecasting":
        text = HEAD + f"sweep:\n  space:\n    models: {family}\n    {family}.{param}: ./w/{folder}\n"
    else:
        metric = "rmse" if task == "tabular_regression" else "accuracy"
        text = f"name: t\ntask: {task}\ndata: {{train: ./train.csv, label: y}}\nmetric: {metric}\n"
        text += f"sweep:\n  space:\n    models: {family}\n    {family}.{param}: ./w/{folder}\n"
    path = tmp_path / "spec.yaml"
    path.write_text(text + "backends:\n  sagemaker: {bucket: fm-bucket}\n  azureml: {compute: gpu-cluster}\n")
    spec = cloudauto.JobSpec.from_file(path)
    for backend in ("local", "sagemaker", "azureml"):
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend=backend)
        (issue,) = [spec.locate(i) for i in info.value.issues if f"./w/{folder}" in i.message]
        assert issue.line == text.splitlines().index(f"    {family}.{param}: ./w/{folder}") + 1
        assert words in issue.message, (backend, issue.message)


@pytest.mark.parametrize(("family", "param", "made"), [("TABICL", "model_path", "tabicl"), ("TABDPT", "model_weight_path", "tabdpt")])
def test_a_tabicl_or_tabdpt_folder_named_from_the_current_folder_says_what_to_write(tmp_path, monkeypatch, family, param, made):
    """atk5 F5: `TABICL.model_path: w/tabicl-tiny` in specs/spec.yaml, run from the folder holding w/: the value is a
    hub name (paths are relative to the spec file); the refusal says `../w/...` as Mitra's does."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    if made == "tabicl":
        tabicl_folder(tmp_path / "w" / "x", "tabicl-classifier-tiny.ckpt")
    else:
        tabdpt_folder(tmp_path / "w" / "x")
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "spec.yaml"
    path.write_text(TABICL_SPEC.replace("TABICL", family).replace("model_path", param).format(
        task="tabular_classification", metric="accuracy", weights="w/x"
    ))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
    (message,) = [i.message for i in info.value.issues if "w/x" in i.message]
    assert "a folder w/x exists from the current folder" in message and "`../w/x`" in message, message


def test_weights_messages_name_ckpt_files_and_escape_a_newline(tmp_path, monkeypatch):
    """atk5 F5: the "does not look like model weights" message lists *.ckpt (TabICL's one file); TabDPT's wrong-folder
    message asks for no classifier's checkpoint (one file serves both tasks); a value holding a newline is shown
    escaped, so the file:line message stays on one line."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    (tmp_path / "readme").mkdir()
    (tmp_path / "readme" / "README.md").write_text("x")
    path, line = tabicl_spec(tmp_path, "./readme", "tabular_classification")
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
    (message,) = [i.message for i in info.value.issues if "./readme" in i.message]
    assert "does not look like model weights" in message and "*.ckpt" in message

    tabicl_folder(tmp_path / "other", "model.bin")
    path.write_text(TABICL_SPEC.replace("TABICL", "TABDPT").replace("model_path", "model_weight_path").format(
        task="tabular_classification", metric="accuracy", weights="./other"
    ))
    with pytest.raises(CompileError) as info:
        cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
    (message,) = [i.message for i in info.value.issues if "./other" in i.message]
    assert "classifier" not in message and "for both tasks" in message, message

    path.write_text(TABICL_SPEC.format(task="tabular_classification", metric="accuracy", weights='"./w/tabicl-tiny\\n"'))
    from cloudauto.runtime.trial_inputs import missing_weights

    spec = cloudauto.JobSpec.from_file(path)
    (issue,) = [spec.locate(i) for i in missing_weights(spec) if "tabicl-tiny" in i.message]  # validate's refusal, exit 1
    assert issue.line == line and "\n" not in str(issue) and "'./w/tabicl-tiny\\n'" in str(issue), str(issue)


def test_a_preset_trial_that_leaves_out_the_presets_foundation_models_says_so_at_its_presets_line(example_images, tmp_path):
    """The seed's `presets: medium_quality` trial gives Chronos2 weights, not Toto2's (AutoGluon 1.6.3's medium_quality
    holds both): the trial fits the preset without Toto2, which compile said nowhere."""
    seed = Path(__file__).resolve().parents[2] / "job_specs" / "bike_forecast_chronos2.yaml"
    spec = cloudauto.JobSpec.from_file(seed)
    job = cloudauto.compile(spec, backend="local")
    found = [spec.locate(w) for w in job.warnings if "left out" in w.message]
    (issue,) = found
    lines = seed.read_text().splitlines()
    assert lines[issue.line - 1].strip().startswith("- presets: medium_quality"), issue.line
    assert "medium_quality's Toto2 is left out: no weights given" in issue.message
    assert "`Toto2.model_path`" in issue.message and "CLOUDAUTO_ALLOW_HUB=1" in issue.message
    assert "Chronos2" not in issue.message.split(":")[1]  # its weights are given: it is fitted
    from cloudauto.runtime.autogluon_timeseries import preset_left_out

    assert preset_left_out("medium_quality", []) == ["Chronos2", "Toto2"]
    assert preset_left_out("medium_quality", ["Chronos2", "Toto2"]) == []
    assert preset_left_out("chronos2", []) == []  # a preset of foundation models alone fetches them (refused offline)
    # a sub-space naming models fits them, not the preset's table: nothing to say
    path = tmp_path / "models.yaml"
    path.write_text(seed.read_text().replace("- presets: medium_quality", "- presets: medium_quality\n      models: ETS"))
    path.parent.joinpath("data").symlink_to(seed.parent / "data")
    assert not [w for w in cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local").warnings if "left out" in w.message]


def _deep_safetensors(folder: Path, inside_metadata: bool) -> None:
    import struct

    folder.mkdir(parents=True)
    deep = b"[" * 200_000 + b"]" * 200_000
    header = b'{"__metadata__": {"cfg": ' + deep + b"}}" if inside_metadata else deep
    (folder / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def _mitra_with_config(folder: Path, write) -> None:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(NO_TENSORS)
    write(folder / "config.json")


def _huge(path: Path) -> None:
    with path.open("wb") as f:  # sparse: 3 GB of zeros after a JSON object's start, made without writing them
        f.write(b'{"task": "CLASSIFICATION", "pad": "')
        f.truncate(3 << 30)


UNREAD_CONFIG = "holds no Mitra weights (it holds config.json, model.safetensors); its config.json is not a regular file"


@pytest.mark.parametrize(
    ("family", "param", "make", "words"),
    [
        ("TABDPT", "model_weight_path", lambda f: _deep_safetensors(f, False), "holds no TABDPT checkpoint (it holds m.safetensors)"),
        ("TABDPT", "model_weight_path", lambda f: _deep_safetensors(f, True), "holds no TABDPT checkpoint (it holds m.safetensors)"),
        (
            "MITRA",
            "hf_model",
            lambda f: _mitra_with_config(f, lambda p: p.write_text("[" * 200_000 + "]" * 200_000)),
            UNREAD_CONFIG,
        ),
        ("MITRA", "hf_model", lambda f: _mitra_with_config(f, lambda p: os.mkfifo(p)), UNREAD_CONFIG),
        ("MITRA", "hf_model", lambda f: _mitra_with_config(f, _huge), UNREAD_CONFIG),
    ],
    ids=["deep-header", "deep-metadata", "deep-config", "fifo-config", "huge-config"],
)
def test_a_crafted_weights_file_is_refused_at_its_line_not_an_internal_error_or_a_hang(
    tmp_path, monkeypatch, family, param, make, words
):
    """atk6 R2/R3: a .safetensors header or a Mitra config.json nested 200,000 deep was a RecursionError (exit 70), a
    named pipe as config.json hung compile, a 3 GB config.json was read whole: each is no weights, at the line."""
    import signal

    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    make(tmp_path / "w" / "x")
    text = "name: t\ntask: tabular_classification\ndata: {train: ./train.csv, label: y}\nmetric: accuracy\n"
    text += f"sweep:\n  space:\n    models: {family}\n    {family}.{param}: ./w/x\n"
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("compile hung on the weights folder"))
    signal.alarm(20)
    try:
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend="local")
    finally:
        signal.alarm(0)
    (issue,) = [spec.locate(i) for i in info.value.issues if "./w/x" in i.message]
    assert issue.line == 8 and words in issue.message, issue.message


# --- a weights file that passes the layout check but holds wrong bytes: every trial failed loading it (exit 4) ---


def safetensors_bytes(tensors: dict[str, int], metadata: Optional[dict] = None, pad: int = 0) -> tuple[bytes, int]:
    """A .safetensors file's header (tensors of F32 of the given element counts, packed one after another) and the
    bytes its tensors need after it: the file as the safetensors library writes it, its data left to the caller."""
    import json

    header: dict = {"__metadata__": metadata} if metadata else {}
    at = 0
    for name, count in tensors.items():
        header[name] = {"dtype": "F32", "shape": [count], "data_offsets": [at, at + 4 * count]}
        at += 4 * count
    text = json.dumps(header).encode() + b" " * pad  # the library pads its header with spaces
    return struct.pack("<Q", len(text)) + text, at


def whole(tensors: dict[str, int], metadata: Optional[dict] = None, pad: int = 0) -> bytes:
    head, need = safetensors_bytes(tensors, metadata, pad)
    return head + b"\x01" * need


def cut(data: bytes, keep: int) -> bytes:
    return data[:keep]


def _chronos2(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(CHRONOS2_CONFIG)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _tabicl(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)


def _cut_ckpt(folder: Path) -> None:
    """A torch.save zip archive cut short, as a download stopped half-way leaves it (its central directory is gone)."""
    folder.mkdir(parents=True)
    full = torch_ckpt(folder / "tabicl-classifier-tiny.ckpt").read_bytes()
    (folder / "tabicl-classifier-tiny.ckpt").write_bytes(full[: len(full) // 2])


def _tabdpt(folder: Path, data: bytes) -> None:
    folder.mkdir(parents=True)
    (folder / "tabdpt.safetensors").write_bytes(data)


def _hf_cache(folder: Path, blob: bytes, dangling: bool = False) -> None:
    """A Hugging Face cache folder (models--org--name): snapshots/<rev>/ files link into blobs/."""
    snapshot = folder / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir()
    (folder / "blobs" / "c0").write_text(CHRONOS2_CONFIG)
    (snapshot / "config.json").symlink_to("../../blobs/c0")
    if not dangling:
        (folder / "blobs" / "w1").write_bytes(blob)
    (snapshot / "model.safetensors").symlink_to("../../blobs/w1")


def _sharded(folder: Path, shards: dict[str, bytes], index: str) -> None:
    _chronos2(folder, shards)
    (folder / "model.safetensors.index.json").write_text(index)


S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
TWO_SHARDS = f'{{"metadata": {{"total_size": 20}}, "weight_map": {{"a": "{S1}", "b": "{S2}"}}}}'
GOOD = whole({"a": 3, "b": 2}, pad=5)
TS = ("time_series_forecasting", "Chronos2", "model_path")
TICL = ("tabular_classification", "TABICL", "model_path")


def _model(folder: Path, data: bytes) -> None:
    _chronos2(folder, {"model.safetensors": data})

BAD_BYTES = {
    "text-safetensors": (
        ("tabular_classification", "MITRA", "hf_model"),
        lambda f: _mitra_with_config(f, lambda p: p.write_text('{"task": "CLASSIFICATION"}'))
        or (f / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\n"),
        ["model.safetensors is not a safetensors file: its first 8 bytes give a header of", "it starts with b'version https://"],
    ),
    "safetensors-cut-short": (
        TS,
        lambda f: _chronos2(f, {"model.safetensors": cut(GOOD, len(GOOD) - 7)}),
        ["model.safetensors is cut short: its tensors need 20 bytes after its header, the file holds 13 (a download cut short?)"],
    ),
    "safetensors-header-cut": (
        TS,
        lambda f: _model(f, cut(GOOD, 40)),
        ["model.safetensors is not a safetensors file: its first 8 bytes give a header of"],
    ),
    "safetensors-longer": (TS, lambda f: _model(f, GOOD + b"\0"), ["model.safetensors holds 1 bytes more than its tensors take"]),
    "safetensors-header-not-json": (TS, lambda f: _model(f, struct.pack("<Q", 4) + b"{no}"), ["its header is not JSON"]),
    "text-ckpt": (
        TICL,
        lambda f: _tabicl(f, "tabicl-classifier-tiny.ckpt", b"<html>404 Not Found</html>"),
        ["tabicl-classifier-tiny.ckpt is not a torch checkpoint: it starts with b'<html>404 Not Fo'"],
    ),
    "ckpt-cut-short": (TICL, _cut_ckpt, ["tabicl-classifier-tiny.ckpt is cut short: a zip archive"]),
    "tabdpt-cut-short": (
        ("tabular_regression", "TABDPT", "model_weight_path"),
        lambda f: _tabdpt(f, cut(whole({"w": 8}, {"cfg": "{}"}), -3)),
        ["tabdpt.safetensors is cut short: its tensors need 32 bytes after its header, the file holds 29"],
    ),
    "tabdpt-text": (
        ("tabular_regression", "TABDPT", "model_weight_path"),
        lambda f: _tabdpt(f, b"not weights at all"),
        ["holds no TABDPT checkpoint (it holds tabdpt.safetensors); tabdpt.safetensors is not a safetensors file"],
    ),
    "config-not-json": (
        ("tabular_classification", "TABPFNMIX", "model_path"),
        lambda f: _chronos2(f, {"model.safetensors": GOOD}) or (f / "config.json").write_text("n_layers: 2\n"),
        ["config.json is not JSON (Expecting value, line 1 column 1"],
    ),
    "chronos-config-not-json": (
        TS,
        lambda f: _chronos2(f, {"model.safetensors": GOOD}) or (f / "config.json").write_text('{"chronos_config": {}'),
        ["holds no Chronos config", "its config.json is not JSON (Expecting ',' delimiter, line 1 column 22"],
    ),
    "config-a-list": (
        ("tabular_classification", "TABPFNMIX", "model_path"),
        lambda f: _chronos2(f, {"model.safetensors": GOOD}) or (f / "config.json").write_text("[1, 2]"),
        ["config.json holds a JSON list, not an object"],
    ),
    "shard-missing": (
        TS,
        lambda f: _sharded(f, {S1: whole({"a": 3})}, TWO_SHARDS),
        [f"model.safetensors.index.json names the shard '{S2}', which the folder does not hold"],
    ),
    "shard-cut-short": (
        TS,
        lambda f: _sharded(f, {S1: whole({"a": 3}), S2: cut(whole({"b": 2}), -1)}, TWO_SHARDS),
        [f"{S2} is cut short"],
    ),
    "fifo-safetensors": (TS, lambda f: _chronos2(f, {}) or os.mkfifo(f / "model.safetensors"), ["model.safetensors is not a regular file"]),
    "hf-cache-cut-short": (TS, lambda f: _hf_cache(f, cut(GOOD, -1)), ["snapshots/abc123/model.safetensors is cut short"]),
    "hf-cache-blob-gone": (
        TS,
        lambda f: _hf_cache(f, GOOD, dangling=True),
        ["snapshots/abc123/model.safetensors is a link to ../../blobs/w1, which is not there"],
    ),
}


def bytes_spec(tmp_path: Path, task: str, family: str, param: str) -> tuple[Path, str]:
    if task == "time_series_forecasting":
        text = HEAD
    else:
        metric = "rmse" if task == "tabular_regression" else "accuracy"
        text = f"name: t\ntask: {task}\ndata: {{train: ./train.csv, label: y}}\nmetric: {metric}\n"
    line = f"    {family}.{param}: ./w/x"
    text += f"sweep:\n  space:\n    models: {family}\n{line}\n"
    path = tmp_path / "spec.yaml"
    path.write_text(text + "backends:\n  sagemaker: {bucket: fm-bucket}\n  azureml: {compute: gpu-cluster}\n")
    return path, line


@pytest.mark.parametrize("case", list(BAD_BYTES))
def test_a_weights_file_holding_wrong_bytes_is_refused_at_its_line_on_every_backend(tmp_path, monkeypatch, case):
    """A text file named model.safetensors (a git-lfs pointer), a download cut short, a .ckpt that is an error page, a
    config.json that is no JSON object, a shard the index names but the folder lacks: each passed the layout check,
    compiled, and every trial failed loading it (exit 4; on the clouds, paid trials). Refused at the line (exit 2),
    naming the file and what is wrong with it, from its header and size alone."""
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    (task, family, param), make, words = BAD_BYTES[case]
    make(tmp_path / "w" / "x")
    path, line = bytes_spec(tmp_path, task, family, param)
    spec = cloudauto.JobSpec.from_file(path)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("compile hung on the weights folder"))
    for backend in ("local", "sagemaker", "azureml"):
        signal.alarm(20)
        try:
            with pytest.raises(CompileError) as info:
                cloudauto.compile(spec, backend=backend)
        finally:
            signal.alarm(0)
        (issue,) = [spec.locate(i) for i in info.value.issues if "./w/x" in i.message]
        assert issue.line == path.read_text().splitlines().index(line) + 1
        assert all(w in issue.message for w in words), (backend, issue.message)
        assert "\n" not in issue.message


@pytest.mark.parametrize(
    "make",
    [
        lambda f: _sharded(f, {S1: whole({"a": 3}), S2: whole({"b": 2})}, TWO_SHARDS),
        lambda f: _hf_cache(f, GOOD),
        lambda f: _chronos2(f, {"model.safetensors": GOOD, "pytorch_model.bin": torch_ckpt(f.parent / "t.bin").read_bytes()}),
    ],
    ids=["sharded", "hf-cache", "safetensors-and-bin"],
)
def test_a_sharded_or_cached_weights_folder_whose_files_are_whole_compiles(tmp_path, monkeypatch, make):
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    (tmp_path / "w").mkdir()
    make(tmp_path / "w" / "x")
    path, _ = bytes_spec(tmp_path, *TS)
    cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")


def test_a_big_weights_file_is_judged_by_its_header_and_size_not_read_whole(tmp_path, monkeypatch):
    """A 6 GB safetensors file (sparse: made without writing it): compile reads its header and its size."""
    import time

    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    head, _ = safetensors_bytes({"big": (6 << 30) // 4})
    folder = tmp_path / "w" / "x"
    _chronos2(folder, {"model.safetensors": head})
    path, _ = bytes_spec(tmp_path, *TS)
    for size, ok in ((len(head) + (6 << 30), True), (len(head) + (3 << 30), False)):
        with (folder / "model.safetensors").open("r+b") as f:
            f.truncate(size)
        started = time.monotonic()
        if ok:
            cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
        else:
            with pytest.raises(CompileError, match="the file holds 3221225472 .a download cut short"):
                cloudauto.compile(cloudauto.JobSpec.from_file(path), backend="local")
        assert time.monotonic() - started < 10


def test_make_datas_real_folders_pass_the_bytes_checks(foundation_data, tmp_path):
    """The tiny folders make_data.py writes with the libraries' own save functions (safetensors, torch.save) are
    whole: their checks pass for each family and task that reads them."""
    import importlib.util

    from cloudauto.runtime.foundation import TABULAR_PACKAGES, task_problem
    from cloudauto.spec.metrics import Task

    checkpoints = foundation_data / "data" / "checkpoints"
    cases = [
        ("Chronos2", Task.TIME_SERIES_FORECASTING, "chronos2-tiny"),
        ("Chronos", Task.TIME_SERIES_FORECASTING, "chronos-bolt-tiny"),
        ("TABPFNMIX", Task.TABULAR_CLASSIFICATION, "tabpfnmix-tiny"),
    ]
    for fam, names in [("MITRA", "mitra"), ("TABICL", "tabicl"), ("TABDPT", "tabdpt")]:
        cases += [(fam, Task.TABULAR_CLASSIFICATION, f"{names}-tiny"), (fam, Task.TABULAR_REGRESSION, f"{names}-tiny")]
    for fam, task, name in cases:
        name = f"{name}-regressor" if fam in ("MITRA", "TABICL") and task is Task.TABULAR_REGRESSION else name
        folder = checkpoints / name
        packages = TABULAR_PACKAGES.get(fam, ((),))[0]
        if not folder.is_dir() and any(importlib.util.find_spec(p) is None for p in packages):
            continue  # the family's package is not installed: make_data skipped it
        assert task_problem(fam, task, f"./{name}", folder) is None, (fam, task)


def _tiny_answers(checkpoints: Path, name: str) -> Optional[np.ndarray]:
    """What make_data.py's folder `name` answers, loaded with its own package, on 30 iris rows (a regressor: 30
    diabetes rows; Chronos: the median forecast of series of one mean and scale but another shape); None where the
    family's package is not installed (make_data skipped it)."""
    import importlib.util
    import warnings

    from sklearn.datasets import load_diabetes, load_iris

    warnings.filterwarnings("ignore")
    package = {"tabicl": "tabicl", "tabdpt": "tabdpt", "mitra": "einx"}.get(name.split("-")[0])
    if package and importlib.util.find_spec(package) is None:
        return None
    folder = checkpoints / name
    x, y = load_iris(return_X_y=True)
    if name.endswith("regressor") or name == "tabdpt-tiny-regression":
        x, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))[:130]
    x, y, query = x[order[:100]], y[order[:100]], x[order[100:]]
    if name.startswith("tabicl"):
        from tabicl import TabICLClassifier, TabICLRegressor

        kind = TabICLRegressor if name.endswith("regressor") else TabICLClassifier
        model = kind(n_estimators=2, model_path=next(folder.glob("*.ckpt")), allow_auto_download=False, device="cpu")
        model.fit(x, y)
        return model.predict(query) if name.endswith("regressor") else model.predict_proba(query)
    if name.startswith("mitra"):
        from autogluon.tabular.models.mitra.sklearn_interface import MitraClassifier, MitraRegressor

        kind = MitraRegressor if name.endswith("regressor") else MitraClassifier
        model = kind(hf_model=str(folder), fine_tune=False, verbose=False).fit(x, y)
        return model.predict(query) if name.endswith("regressor") else model.predict_proba(query)
    if name.startswith("tabdpt"):
        from tabdpt import TabDPTClassifier, TabDPTRegressor

        weights = str(checkpoints / "tabdpt-tiny" / "tabdpt-tiny.safetensors")
        kind = TabDPTRegressor if name.endswith("regression") else TabDPTClassifier
        model = kind(model_weight_path=weights, device="cpu", use_flash=False, compile=False, verbose=False)
        model.fit(x, y)  # returns None
        return model.predict(query, n_ensembles=1) if name.endswith("regression") else model.predict_proba(query)
    if name == "tabpfnmix-tiny":
        import torch
        from autogluon.tabular.models.tabpfnmix._internal.models.foundation.foundation_transformer import (
            FoundationTransformer,
        )

        model = FoundationTransformer.from_pretrained(str(folder)).eval()
        pad = lambda a: torch.nn.functional.pad(torch.tensor(a, dtype=torch.float32), (0, 100 - a.shape[1]))[None]  # noqa: E731
        with torch.no_grad():
            return model(pad(x), torch.tensor(y)[None], pad(query))[0].numpy()
    import torch
    from chronos import BaseChronosPipeline

    t = torch.arange(128, dtype=torch.float32)
    shapes = [torch.sin(t / 4), torch.sign(torch.sin(t / 9)), torch.linspace(-1, 1, 128), torch.cos(t / 2)]
    series = [(s - s.mean()) / s.std() for s in shapes]  # one mean and scale: what is left to read is the shape
    pipeline = BaseChronosPipeline.from_pretrained(str(folder), device_map="cpu")
    _, mean = pipeline.predict_quantiles(series, prediction_length=8, quantile_levels=[0.5])
    return np.stack([np.asarray(m, dtype=float).reshape(-1) for m in mean])


@pytest.mark.parametrize(
    "name",
    [
        "tabicl-tiny",
        "tabicl-tiny-regressor",
        "tabdpt-tiny",
        "tabdpt-tiny-regression",
        "mitra-tiny",
        "mitra-tiny-regressor",
        "tabpfnmix-tiny",
        "chronos2-tiny",
        "chronos-bolt-tiny",
    ],
)
def test_make_datas_tiny_folders_answer_by_their_input(foundation_data, name):
    """tabicl-tiny held 34 all-zero tensors (TabICL zero-initialises its out-projections) and answered 0.5/0.5 on every
    row whatever the input: a test that its predictions survive deleting the folder could never fail. Each tiny
    folder's model, loaded with its own package, answers differently for different rows."""
    answers = _tiny_answers(foundation_data / "data" / "checkpoints", name)
    if answers is None:
        pytest.skip(f"{name}'s package is not installed (make_data skipped it)")
    answers = np.asarray(answers, dtype=float)
    assert np.isfinite(answers).all()
    assert answers.std(axis=0).max() > 1e-5, f"{name} answers the same whatever the row: {answers[:3]}"  # tabicl-tiny: 0.0


def test_the_no_weights_hint_names_the_folder_make_data_writes(tmp_path, monkeypatch):
    """The offline refusal said `Chronos2.model_path: ./checkpoints/<folder>` while make_data.py writes
    job_specs/data/checkpoints/<folder> (its --out default, then checkpoints/): the hint names make_data's folder for
    the family, from the spec's folder (a spec beside the examples: ./data/checkpoints/...; elsewhere: its full path)."""
    from job_specs import make_data

    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    made = make_data.HERE / "data" / "checkpoints"  # where `python job_specs/make_data.py foundation` writes

    def refused(text: str, where: Path, family: str) -> str:
        spec = cloudauto.JobSpec.from_yaml(text, source=str(where / "fm.yaml"))
        with pytest.raises(CompileError) as info:
            cloudauto.compile(spec, backend="local")
        return next(i.message for i in info.value.issues if f"{family} has" in i.message)

    assert "`Chronos2.model_path: ./data/checkpoints/chronos2-tiny`" in refused(HEAD + NONE, make_data.HERE, "Chronos2")
    assert f"`Chronos2.model_path: {made / 'chronos2-tiny'}`" in refused(HEAD + NONE, tmp_path, "Chronos2")
    block = refused(HEAD + IN_BLOCK, make_data.HERE, "Chronos2")
    assert "`model_path: ./data/checkpoints/chronos2-tiny` in autogluon.hyperparameters.Chronos2" in block
    tabular = "name: t\ntask: {task}\ndata: {{train: ./train.csv, label: y}}\nmetric: {metric}\nsweep:\n  space:\n    models: TABICL\n"
    pytest.importorskip("tabicl", reason="an uninstalled TabICL is refused for its package, not its weights")
    text = tabular.format(task="tabular_regression", metric="rmse")
    assert "`TABICL.model_path: ./data/checkpoints/tabicl-tiny-regressor`" in refused(text, make_data.HERE, "TABICL")
