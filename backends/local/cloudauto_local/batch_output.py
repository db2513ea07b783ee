"""A batch's CSV output, written part by part in input order as the parts are scored, so it is never read back at the end.

Each worker renders its part's rows as CSV lines (`parts/<index>.csv`, no header) beside the
part itself (`parts/<index>.parquet`, the record a resumed batch goes on from). The runner
appends the lines of part 0, 1, 2 ... to a temporary file (mode 0600, in the batch's folder; beside the
output where that folder is on another device) as soon as each is there, and renames it into place once the last
is in, with the mode the user's umask gives: the file is what writing all the
parts as one table would give, byte for byte (the columns in the order they first appear,
a column a part lacks left blank), whether the batch ran at one go or was resumed. A part
that brings a column the earlier ones lack (`error`, where a row first fails) makes the
lines written so far be written again from their parts, with that column blank.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any, Optional

from cloudauto.backend import BatchError
from cloudauto.runtime.batch_io import FAILURES_SUFFIX, open_private, private_file, put_in_place, temp_path

INTERNAL = ("_row", "_file", "_line")  # beside each part's answers: its rows' places in the input


def part_path(parts: Path, index: int, suffix: str = ".parquet") -> Path:
    return parts / f"{index:06d}{suffix}"


def render(frame: Any, columns: Optional[list[str]] = None) -> bytes:
    """A part's answers as CSV lines without a header (in `columns`, blank where the part has none)."""
    answers = frame.drop(columns=[c for c in INTERNAL if c in frame.columns])
    if columns is not None and list(answers.columns) != columns:
        answers = answers.reindex(columns=columns)
    return answers.to_csv(index=False, header=False).encode()


class StreamedCsv:
    """The output CSV, appended to in input order; `finish` puts it (and its failures file) in place."""

    def __init__(self, output: str | Path, parts: Path, private_dir: Optional[Path] = None):
        """The lines are written in `private_dir` (the batch's folder), where it is on the output's device."""
        self.out, self.parts, self.private = Path(output), parts, private_dir
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.out, private_dir)
        self.columns: Optional[list[str]] = None
        self.written = 0  # parts appended, from part 0 on
        self.rows = 0
        self.lines = False  # some part came from a CSV file: the failures name lines
        self.failing: list[int] = []  # the parts with failed rows
        self.fh: Optional[IO[bytes]] = os.fdopen(open_private(self.tmp), "wb")  # closed in finish/discard

    def advance(self, done: set[int]) -> None:
        """Append every part that is there and follows the ones appended already."""
        while self.written in done:
            self._append(self.written)

    def _append(self, index: int) -> None:
        import numpy as np
        import pyarrow.parquet as pq

        path = part_path(self.parts, index)
        names = pq.read_schema(path).names
        columns = [c for c in names if c not in INTERNAL]
        rows = pq.read_table(path, columns=["_row"]).column(0).to_numpy()
        if not np.array_equal(rows, np.arange(self.rows, self.rows + len(rows))):
            raise BatchError(
                f"chunk {index} holds rows {rows[:1].tolist()}... where row {self.rows} comes next; "
                "the output would be misaligned, so it is not written"
            )
        self.lines = self.lines or "_line" in names
        if "error" in columns:
            self.failing.append(index)
        assert self.fh is not None
        if self.columns is None:
            self.columns = columns
            self._header()
        new = [c for c in columns if c not in self.columns]
        if new:  # a column the parts before lack: their lines again, with it blank
            self.columns = self.columns + new
            self.fh.seek(0)
            self.fh.truncate()
            self._header()
            for earlier in range(index):
                self.fh.write(render(pq.read_table(part_path(self.parts, earlier)).to_pandas(), self.columns))
        body = part_path(self.parts, index, ".csv")
        if columns == self.columns and body.is_file():
            with body.open("rb") as fh:
                shutil.copyfileobj(fh, self.fh, 1 << 20)
        else:  # another set of columns, or a part written before its lines were
            self.fh.write(render(pq.read_table(path).to_pandas(), self.columns))
        self.rows += len(rows)
        self.written = index + 1

    def _header(self) -> None:
        import pandas as pd

        assert self.fh is not None and self.columns is not None
        self.fh.write(pd.DataFrame(columns=self.columns).to_csv(index=False).encode())

    def finish(self, total: int) -> tuple[int, int]:
        """The output and its failures in place, once every one of the `total` parts is in: (rows, failed rows)."""
        import pyarrow.parquet as pq

        if self.written != total:
            raise BatchError(f"chunks {self.written} to {total - 1} were not written")
        assert self.fh is not None
        self.fh.close()
        self.fh = None
        put_in_place(self.tmp, self.out)
        failures = Path(str(self.out) + FAILURES_SUFFIX)
        if not self.failing:
            failures.unlink(missing_ok=True)
            return self.rows, 0
        listed = ["_row", "_line", "_file", "error"] if self.lines else ["_row", "_file", "error"]
        tmp = temp_path(failures, self.private, "failures.tmp")
        failed = 0
        with private_file(tmp) as fh:
            for n, index in enumerate(self.failing):
                path = part_path(self.parts, index)
                names = pq.read_schema(path).names
                part = pq.read_table(path, columns=[c for c in listed if c in names]).to_pandas()
                part = part.reindex(columns=listed).dropna(subset=["error"])
                if self.lines:  # Parquet inputs beside CSV ones have no lines
                    part = part.assign(_line=part["_line"].astype("Int64"))
                part = part.rename(columns={"_row": "row", "_line": "line", "_file": "file", "error": "reason"})
                fh.write(part.to_csv(index=False, header=n == 0).encode())
                failed += len(part)
        put_in_place(tmp, failures)
        return self.rows, failed

    def discard(self) -> None:
        """Nothing half-written is left beside the output."""
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        self.tmp.unlink(missing_ok=True)


__all__ = ["INTERNAL", "StreamedCsv", "part_path", "render"]
