"""Inputs with an ID to keep as users have them (Excel's byte-order mark, IDs with leading zeros, a name with a
quoted comma), and the local batch's output for them: what a cloud batch with --keep-columns must write too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
BOM = b"\xef\xbb\xbf"
KEEP = ["patient_id", "name"]


def kept_input(path: Path, n: int, seed: int = 0, *, bom: bool = True) -> Path:
    """A CSV with `patient_id` (000, 0001, 002, ...: text that a number reader would spoil) and `name` ("Doe, Jane":
    quoted) before iris features."""
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    features = np.round(rng.uniform(low, high, size=(n, 4)), 1)
    lines = [",".join(["patient_id", "name", *FEATURES])]
    for i, values in enumerate(features):
        name = f'"Doe, Jane {i}"' if i % 3 == 0 else f"P{i}"
        lines.append(",".join([f"{i:0{3 + i % 2}d}", name, *(str(v) for v in values)]))
    path.write_bytes((BOM if bom else b"") + ("\n".join(lines) + "\n").encode())
    return path


def kept_parquet(path: Path, n: int, seed: int = 0) -> Path:
    """The same shape as Parquet: its IDs are strings and stay so."""
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    frame = pd.DataFrame(np.round(rng.uniform(low, high, size=(n, 4)), 1), columns=FEATURES)
    frame.insert(0, "name", [f"Q, {i}" for i in range(n)])
    frame.insert(0, "patient_id", [f"{900 + i:05d}" for i in range(n)])
    frame.to_parquet(path, index=False)
    return path


def local_output(model_dir: Path, source: Path, out: Path, keep: list[str]) -> bytes:
    """What the local backend's `predict SOURCE -o OUT --keep-columns ...` writes with this model."""
    from cloudauto_local.batch import plan_for, start

    from cloudauto.backend import JobStatus

    plan = plan_for("keep-local", 0, str(model_dir), source, out, probabilities=False, chunk_rows=4, workers=1, keep_columns=keep)
    batch = start(plan)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    return out.read_bytes()
