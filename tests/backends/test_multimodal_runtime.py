"""The parts of a MultiModalPredictor trial that need no fit: its data, its checkpoints, its parameters."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

import cloudauto
from cloudauto.runtime.autogluon_multimodal import fetch_checkpoint, hyperparameters_of, multimodal_frame


def spec(task: str, label: str = "label") -> cloudauto.JobSpec:
    return cloudauto.JobSpec.from_dict(
        {"name": "mm", "task": task, "data": {"train": "train.csv", "label": label}, "metric": "accuracy"}
    )


def test_image_data_becomes_absolute_paths_from_a_csv_or_a_folder_tree(tmp_path):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "dog").mkdir()
    for name in ("cat/a.png", "dog/b.jpg", "dog/c.png"):
        (tmp_path / "imgs" / name).write_bytes(b"x")
    (tmp_path / "train.csv").write_text("image,label\nimgs/cat/a.png,cat\nimgs/dog/b.jpg,dog\n")
    frame = multimodal_frame(spec("image_classification"), "train.csv", str(tmp_path))
    assert list(frame.columns) == ["image", "label"]
    assert frame["image"].tolist() == [str(tmp_path / "imgs/cat/a.png"), str(tmp_path / "imgs/dog/b.jpg")]
    tree = multimodal_frame(spec("image_classification"), "imgs", str(tmp_path))
    assert tree["label"].tolist() == ["cat", "dog", "dog"]


def test_text_data_is_the_table_as_it_is(tmp_path):
    (tmp_path / "train.csv").write_text("review,stars,sentiment\ngood,5,positive\nbad,1,negative\n")
    frame = multimodal_frame(spec("text_classification", "sentiment"), "train.csv", str(tmp_path))
    assert list(frame.columns) == ["review", "stars", "sentiment"] and len(frame) == 2


def test_checkpoints_are_folders_relative_to_the_spec_hub_names_or_s3(tmp_path, aws):
    folder = tmp_path / "ckpt" / "resnet10t"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert fetch_checkpoint("ckpt/resnet10t", str(tmp_path), tmp_path) == str(folder)
    assert fetch_checkpoint("resnet18", str(tmp_path), tmp_path) == "resnet18"  # timm's hub name
    assert fetch_checkpoint("google/electra-small-discriminator", str(tmp_path), tmp_path).startswith("google/")
    with pytest.raises(FileNotFoundError, match="checkpoint ./nowhere: no such folder"):
        fetch_checkpoint("./nowhere", str(tmp_path), tmp_path)

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="weights")
    s3.put_object(Bucket="weights", Key="team/bert/config.json", Body=b'{"a": 1}')
    s3.put_object(Bucket="weights", Key="team/bert/tokenizer/vocab.txt", Body=b"[PAD]\n")
    local = Path(fetch_checkpoint("s3://weights/team/bert", None, tmp_path / "trial"))
    assert (local / "config.json").read_bytes() == b'{"a": 1}' and (local / "tokenizer" / "vocab.txt").is_file()
    with pytest.raises(FileNotFoundError, match="no files under that prefix"):
        fetch_checkpoint("s3://weights/none/", None, tmp_path / "trial")


def test_only_automms_groups_become_hyperparameters(tmp_path):
    (tmp_path / "ck").mkdir()
    params = {"model.timm_image.checkpoint_name": "ck", "optim.lr": 0.01, "time_limit": 60, "presets": "medium_quality"}
    assert hyperparameters_of(params, str(tmp_path), tmp_path) == {
        "model.timm_image.checkpoint_name": str(tmp_path / "ck"),
        "optim.lr": 0.01,
    }
    assert hyperparameters_of({"optim.lr": 0.01}, None, tmp_path, gpus=2) == {"env.num_gpus": 2, "optim.lr": 0.01}
    assert hyperparameters_of({"env.num_gpus": 1}, None, tmp_path, gpus=2) == {"env.num_gpus": 1}  # the space wins
