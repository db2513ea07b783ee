"""Azure AutoML image jobs read MLTables over JSON Lines: compiled from every accepted form, loaded by Azure's mltable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.backend import CompileError

from ..conftest import ROOT

MLTABLE_PYTHON = Path(os.environ.get("CLOUDAUTO_MLTABLE_PYTHON", ROOT / ".venv-mltable" / "bin" / "python"))
_LOAD = """
import json, sys, mltable
frame = mltable.load(sys.argv[1]).to_pandas_dataframe()
plain = lambda o: o.tolist() if hasattr(o, "tolist") else o.item() if hasattr(o, "item") else str(o)
rows = [{"image_url": None if u is None else u.resource_identifier, "label": l} for u, l in zip(frame["image_url"], frame["label"])]
print(json.dumps(rows, default=plain))
"""


def load_with_mltable(folder: Path) -> list[dict]:
    if not MLTABLE_PYTHON.is_file():
        pytest.skip(f"Azure's mltable is not installed at {MLTABLE_PYTHON} (make test makes .venv-mltable)")
    done = subprocess.run([str(MLTABLE_PYTHON), "-c", _LOAD, str(folder)], capture_output=True, text=True, timeout=180, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _png(path: Path, shade: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 10), (shade, shade, shade)).save(path)
    return path


SPEC = """\
name: pics
task: {task}
engine: native
data: {{train: {train}, {extra}label: label}}
metric: {metric}
limits: {{max_trials: 1}}
backends: {{azureml: {{compute: gpu}}}}
"""


def compile_images(tmp_path: Path, train: str, *, task: str = "image_classification", extra: str = "") -> tuple:
    metric = "mean_average_precision" if task == "image_object_detection" else "accuracy"
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(task=task, train=train, extra=extra, metric=metric))
    spec = cloudauto.JobSpec.from_file(path)
    job = cloudauto.compile(spec, backend="azureml")
    out = tmp_path / "out"
    written = job.write(out)
    loaded = load_job(next(p for p in written if p.suffix == ".yml"))
    return spec, job, loaded, out


def test_the_digits_example_compiles_to_tables_mltable_loads(tmp_path):
    import pandas as pd

    from job_specs import make_data

    make_data.digits(tmp_path / "data")
    spec_text = (ROOT / "job_specs" / "digits_images.yaml").read_text()
    (tmp_path / "digits_images.yaml").write_text(spec_text)
    spec = cloudauto.JobSpec.from_file(tmp_path / "digits_images.yaml")
    job = cloudauto.compile(spec, backend="azureml")
    written = job.write(tmp_path / "out")
    loaded = load_job(next(p for p in written if p.suffix == ".yml"))
    assert loaded.training_data.type == "mltable"
    (warning,) = [spec.locate(w) for w in job.warnings if w.field == "data.test"]  # not sent, and said so at its line
    assert "take training and validation data only" in warning.message and warning.line == 11
    for role in ("train",):
        folder = (tmp_path / "out" / Path(getattr(loaded, f"{'training' if role == 'train' else role}_data").path)).resolve()
        rows = load_with_mltable(folder)
        expected = pd.read_csv(tmp_path / "data" / "digits" / f"{role}.csv")
        assert len(rows) == len(expected)
        assert [Path(r["image_url"]).name for r in rows] == [Path(p).name for p in expected["image"]]
        assert [r["label"] for r in rows] == [str(v) for v in expected["label"]]
        assert all(Path(r["image_url"]).is_file() for r in rows)


def test_an_image_folder_tree_is_one_class_per_folder(tmp_path):
    for name, shade in (("cat/a.png", 0), ("cat/b.jpg", 10), ("dog/c.png", 200)):
        _png(tmp_path / "tree" / name, shade)
    (tmp_path / "tree" / "notes.txt").write_text("not an image")
    _, job, loaded, out = compile_images(tmp_path, "./tree/")
    rows = load_with_mltable((out / loaded.training_data.path).resolve())
    assert sorted((Path(r["image_url"]).name, r["label"]) for r in rows) == [("a.png", "cat"), ("b.jpg", "cat"), ("c.png", "dog")]


def test_detection_from_coco_and_from_jsonl_carries_the_boxes(tmp_path):
    _png(tmp_path / "od" / "img" / "one.png")
    coco = {
        "images": [{"id": 7, "file_name": "img/one.png", "width": 20, "height": 10}],
        "annotations": [{"image_id": 7, "category_id": 1, "bbox": [2, 1, 10, 4], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "can"}],
    }
    (tmp_path / "od" / "coco.json").write_text(json.dumps(coco))
    _, _, loaded, out = compile_images(tmp_path, "./od/coco.json", task="image_object_detection")
    (row,) = load_with_mltable((out / loaded.training_data.path).resolve())
    assert row["label"] == [{"label": "can", "topX": 0.1, "topY": 0.1, "bottomX": 0.6, "bottomY": 0.5, "isCrowd": 0}]
    boxes = [{"label": "milk", "topX": 0.2, "topY": 0.2, "bottomX": 0.4, "bottomY": 0.9, "isCrowd": 0}]
    (tmp_path / "od" / "train.jsonl").write_text(json.dumps({"image_url": "img/one.png", "label": boxes}) + "\n")
    _, _, loaded, out = compile_images(tmp_path, "./od/train.jsonl", task="image_object_detection")
    (row,) = load_with_mltable((out / loaded.training_data.path).resolve())
    assert row["label"] == boxes and row["image_url"].endswith("/od/img/one.png")


def test_bad_image_data_is_a_compile_error_at_the_data_line(tmp_path):
    (tmp_path / "list.csv").write_text("image,label\nmissing.png,cat\n")
    with pytest.raises(CompileError, match=r"1 image file\(s\) not found: .*missing.png") as info:
        compile_images(tmp_path, "./list.csv")
    (issue,) = info.value.issues
    assert issue.path == ("data", "train")
    _png(tmp_path / "tree" / "only.png")
    with pytest.raises(CompileError, match="one sub-folder per class"):
        compile_images(tmp_path, "./tree/")
    with pytest.raises(CompileError, match="needs box annotations"):
        compile_images(tmp_path, "./tree/", task="image_object_detection")
