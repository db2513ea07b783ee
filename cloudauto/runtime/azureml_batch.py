"""Azure ML's batch scoring-script contract for cloudauto's models: `init()` once, `run(mini_batch)` per mini-batch.

A batch deployment hands `run` a list of file paths (the input folder's files, `mini_batch_size`
at a time) and, with `output_action: append_row`, appends each item it returns as one line of
the output file, in whatever order the mini-batches finish. So each input file is a chunk
named `<file index>-<first row>.csv`, and each line is one JSON record carrying its chunk and
its row: the reader puts them back in input order. A row that cannot be scored is a record
with its `error`, and the rest of the chunk is scored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from .inference import BATCH_PROBABILITIES_ENV, MODEL_INFO, Model

MANIFEST = "manifest.json"
_model: Optional[Model] = None


def chunk_name(file_index: int, first_row: int) -> str:
    return f"{file_index:04d}-{first_row:012d}.csv"


def parse_chunk_name(name: str) -> tuple[int, int]:
    file_index, first_row = Path(name).stem.split("-")
    return int(file_index), int(first_row)


def init() -> None:
    global _model
    root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    found = next(root.rglob(MODEL_INFO), None)
    _model = Model(found.parent if found else root)


def run(mini_batch: list[str]) -> list[str]:
    import pandas as pd

    assert _model is not None, "init() runs before run()"
    probabilities = os.environ.get(BATCH_PROBABILITIES_ENV) == "1"
    lines: list[str] = []
    for path in mini_batch:
        name = Path(path).name
        if not name.endswith(".csv"):  # the manifest travels in the same folder
            continue
        file_index, first = parse_chunk_name(name)
        frame = pd.read_csv(path)
        if frame.empty:  # a header-only input's one chunk: no row to answer (the output is the answer header)
            continue
        frame = _model.check(frame, numbers=False)  # a missing column fails this file, and the job
        scored = _model.score_rows(frame, probabilities)
        for offset, record in enumerate(json.loads(scored.to_json(orient="records"))):
            record = {k: v for k, v in record.items() if not (k == "error" and v is None)}
            lines.append(json.dumps({"file": file_index, "row": first + offset, **record}))
    return lines


def records(lines: list[str]) -> list[dict[str, Any]]:
    """The output file's lines, back in input order."""
    found = [json.loads(line) for line in lines if line.strip()]
    return sorted(found, key=lambda r: (r["file"], r["row"]))


__all__ = ["MANIFEST", "chunk_name", "init", "parse_chunk_name", "records", "run"]
