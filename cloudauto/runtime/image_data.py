"""Image data in the forms users have it, as one list of (image file, label) records.

Every backend takes the same image data: an ImageFolder tree (one folder per class), a CSV
with an image-path column and the label (paths relative to the CSV), and for object
detection also JSON Lines in Azure ML's schema (`image_url`, `label` as a list of boxes with
topX/topY/bottomX/bottomY as fractions of the image) or COCO annotations. Azure ML's AutoML
reads them as an MLTable over JSON Lines (`mltable_text`), which is how azureml-examples
prepare its image jobs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..spec.errors import CloudautoError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
IMAGE_COLUMNS = ("image", "image_path", "image_url", "path", "file", "filename", "file_name")


class ImageDataError(CloudautoError):
    exit_code = 2


@dataclass(frozen=True)
class ImageRecord:
    image: Path  # an absolute local path
    label: Any  # a class name, or for detection a list of Azure boxes


def _check_files(records: list[ImageRecord], source: Path) -> list[ImageRecord]:
    if not records:
        raise ImageDataError(f"{source}: no images found")
    missing = [str(r.image) for r in records if not r.image.is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ImageDataError(f"{source}: {len(missing)} image file(s) not found: {', '.join(missing[:3])}{more}")
    return records


def _image_folder(root: Path) -> list[ImageRecord]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ImageDataError(f"{root}: an image folder needs one sub-folder per class (ImageFolder layout)")
    return [
        ImageRecord(image.resolve(), folder.name)
        for folder in classes
        for image in sorted(folder.rglob("*"))
        if image.suffix.lower() in IMAGE_SUFFIXES
    ]


def _csv(path: Path, label: str) -> list[ImageRecord]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    columns = list(rows[0]) if rows else []
    if label not in columns:
        raise ImageDataError(f"{path}: no label column '{label}' (columns: {', '.join(columns) or 'none'})")
    image = next((c for c in IMAGE_COLUMNS if c in columns), None) or next((c for c in columns if c != label), None)
    if image is None:
        raise ImageDataError(f"{path}: no image-path column beside '{label}' (expected one of {', '.join(IMAGE_COLUMNS)})")
    return [ImageRecord((path.parent / row[image]).resolve(), row[label]) for row in rows]


def records_from_jsonl(text: str, base: Path, source: str = "<jsonl>") -> list[ImageRecord]:
    """Records from Azure's JSON Lines: image_url a path relative to `base`, or a file:// URL."""
    from urllib.parse import unquote, urlparse

    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            url = str(item["image_url"])
            label = item["label"]
        except (ValueError, KeyError, TypeError):
            raise ImageDataError(f"{source}:{number}: expected a JSON object with image_url and label") from None
        local = unquote(urlparse(url).path) if url.startswith("file://") else url
        records.append(ImageRecord((base / local).resolve(), label))
    return records


def _jsonl(path: Path) -> list[ImageRecord]:
    return records_from_jsonl(path.read_text(encoding="utf-8"), path.parent, str(path))


def _coco(path: Path, data: dict) -> list[ImageRecord]:
    try:
        names = {c["id"]: c["name"] for c in data["categories"]}
        images = {i["id"]: i for i in data["images"]}
        boxes: dict[Any, list[dict]] = {i: [] for i in images}
        for a in data["annotations"]:
            image = images[a["image_id"]]
            x, y, w, h = (float(v) for v in a["bbox"])
            width, height = float(image["width"]), float(image["height"])
            boxes[a["image_id"]].append(
                {
                    "label": names[a["category_id"]],
                    "topX": x / width,
                    "topY": y / height,
                    "bottomX": (x + w) / width,
                    "bottomY": (y + h) / height,
                    "isCrowd": int(a.get("iscrowd", 0)),
                }
            )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ImageDataError(f"{path}: not COCO annotations (images, annotations, categories): {exc!r}") from None
    return [ImageRecord((path.parent / images[i]["file_name"]).resolve(), boxes[i]) for i in images]


def image_records(location: str | Path, label: Optional[str], *, detection: bool = False) -> list[ImageRecord]:
    """The records of one data role, from any accepted form; an error names the file and what is wrong."""
    path = Path(location)
    if path.is_dir():
        if detection:
            raise ImageDataError(f"{path}: object detection needs box annotations: JSON Lines (Azure's schema) or COCO JSON")
        return _check_files(_image_folder(path), path)
    if not path.is_file():
        raise ImageDataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".csv" and not detection:
        return _check_files(_csv(path, label or "label"), path)
    if suffix in (".jsonl", ".ndjson"):
        return _check_files(_jsonl(path), path)
    if suffix == ".json" and detection:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ImageDataError(f"{path}: not JSON ({exc})") from None
        return _check_files(_coco(path, data), path)
    accepted = "JSON Lines or COCO JSON" if detection else "an image folder (one sub-folder per class), a CSV or JSON Lines"
    raise ImageDataError(f"{path}: image data must be {accepted}")


def jsonl_text(records: list[ImageRecord], url_of: Any) -> str:
    """Azure ML's image JSON Lines: one {image_url, label} per image (`url_of` maps a local file to its URL)."""
    return "".join(json.dumps({"image_url": url_of(r.image), "label": r.label}) + "\n" for r in records)


def mltable_text(jsonl_name: str) -> str:
    """The MLTable over one JSON Lines file, with image_url read as a stream (azureml-examples' prepare_data)."""
    return (
        "paths:\n"
        f"  - file: ./{jsonl_name}\n"
        "transformations:\n"
        "  - read_json_lines:\n"
        "      encoding: utf8\n"
        "      invalid_lines: error\n"
        "      include_path_column: false\n"
        "  - convert_column_types:\n"
        "      - columns: image_url\n"
        "        column_type: stream_info\n"
    )


__all__ = ["ImageDataError", "ImageRecord", "image_records", "jsonl_text", "mltable_text", "records_from_jsonl"]
