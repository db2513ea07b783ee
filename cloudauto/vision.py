"""Drawing an object-detection endpoint's answer over its image (the Azure tutorial's visualisation).

Accepts the shapes endpoints return: Azure AutoML's `{"boxes": [{"box": {"topX", "topY",
"bottomX", "bottomY"}, "label", "score"}]}` with coordinates as fractions of the image, or a
list of `{"box": [x0, y0, x1, y1], "label", "score"}` in pixels or fractions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .spec.errors import CloudautoError

_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]


def _corners(box: Any) -> tuple[float, float, float, float]:
    if isinstance(box, Mapping):
        try:
            return float(box["topX"]), float(box["topY"]), float(box["bottomX"]), float(box["bottomY"])
        except KeyError as exc:
            raise CloudautoError(f"a box needs topX, topY, bottomX and bottomY; this one lacks {exc}") from None
    if isinstance(box, Sequence) and len(box) == 4:
        x0, y0, x1, y1 = (float(v) for v in box)
        return x0, y0, x1, y1
    raise CloudautoError(f"cannot read a box from {box!r}")


def detections_of(result: Any) -> list[dict[str, Any]]:
    """[{corners, label, score}] from any of the accepted shapes."""
    if isinstance(result, Mapping) and "boxes" in result:
        result = result["boxes"]
    if not isinstance(result, Sequence) or isinstance(result, (str, bytes)):
        raise CloudautoError("expected detections: {'boxes': [...]} or a list of {'box', 'label', 'score'}")
    found = []
    for item in result:
        if not isinstance(item, Mapping) or "box" not in item:
            raise CloudautoError(f"a detection needs a 'box': {item!r}")
        found.append({"corners": _corners(item["box"]), "label": str(item.get("label", "")), "score": item.get("score")})
    return found


def draw_boxes(image: str | Path, result: Any, out: str | Path, *, min_score: float = 0.0) -> Path:
    """The image with each detection at or above `min_score` drawn and labelled, saved as PNG."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise CloudautoError("drawing boxes needs Pillow: pip install pillow") from None

    detections = [d for d in detections_of(result) if d["score"] is None or float(d["score"]) >= min_score]
    with Image.open(image) as opened:
        canvas = opened.convert("RGB")
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas)
    labels = sorted({d["label"] for d in detections})
    line = max(2, round(min(width, height) / 200))
    for d in detections:
        x0, y0, x1, y1 = d["corners"]
        if max(x0, y0, x1, y1) <= 1.0:  # fractions of the image, as Azure AutoML returns them
            x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
        colour = _COLOURS[labels.index(d["label"]) % len(_COLOURS)]
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        caption = d["label"] + (f" {float(d['score']):.2f}" if d["score"] is not None else "")
        left, top, right, bottom = draw.textbbox((x0, y0), caption)
        lift = bottom - top + 2 * line
        draw.rectangle([x0, y0 - lift, x0 + right - left + 2 * line, y0], fill=colour)
        draw.text((x0 + line, y0 - lift + line), caption, fill="white")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(target, format="PNG")
    return target


__all__ = ["detections_of", "draw_boxes"]
