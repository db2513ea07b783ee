"""A batch's input and output, the same on every backend.

In: a CSV or Parquet file, or a folder of them in name order. Out: one row per input row, in
input order, written whole (a temporary file renamed into place); rows that failed keep their
place with no prediction and an `error`, and are listed in `OUTPUT.failures.csv` with their
row number (over the whole input, from 0), the line of a CSV file it starts on, file and reason. A backend hands `write_output` its scored
rows with `_row` (0..n-1) and `_file` beside the answers. A cloud batch's kept columns (`--keep-columns`) are
read from the local input on this machine once the answers are down (`join_kept`), never sent through the service.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional

from ..backend import BatchError, BatchJob, JobStatus, RowFailure

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
FAILURES_SUFFIX = ".failures.csv"


def input_files(source: str | Path) -> list[Path]:
    """A table, or every table in a folder (name order); an error says what was found instead."""
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if not files:
            raise BatchError(f"{path}: no CSV or Parquet files in this folder")
        return files
    if not path.is_file():
        raise BatchError(f"{path}: no such file or folder")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise BatchError(f"{path}: batch inference reads CSV or Parquet files (or a folder of them)")
    return [path]


def check_output(source: str | Path, output: Path, files: list[Path]) -> None:
    """Refuse an output that is an input, or that lies in the input folder (whose every table is an input: a rerun,
    or the next predict of the folder, would read the output and its failures file as input)."""
    if output in files:
        raise BatchError(f"{output} is also an input: name another output file, or the input would be overwritten")
    folder = Path(source).expanduser().resolve()
    if folder.is_dir() and output.parent == folder:
        raise BatchError(
            f"{output} is inside the input folder {folder}, whose every CSV or Parquet file is an input: "
            "write the output outside it (or in a subfolder)"
        )


def header_of(path: Path) -> list[str]:
    """A CSV or Parquet file's column names (a CSV file's first non-blank row, a BOM not part of it); BatchError
    naming the file where it cannot be read or has no header at all (0 bytes, a BOM alone, blank lines)."""
    import csv

    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
                reader = csv.reader(fh)
                header = next((row for row in reader if row), [])
                bad = _undecodable_field(header)
                if bad is not None:
                    raise BatchError(f"{path}:{reader.line_num}: {_header_not_utf8(bad[1])}")
        else:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(path).names)
    except BatchError:
        raise
    except Exception as exc:  # a file that is no table: said with its name, before a batch is made
        raise BatchError(f"{path}: cannot read its columns: {exc}") from None
    if not header:
        raise BatchError(f"{path}: no header (the file is empty): a batch input starts with a row of column names")
    return header


def check_columns(files: list[Path], keep: Sequence[str] = ()) -> None:
    """Refuse an input that names a column twice, before anything is scored, as the endpoint refuses such a body.

    pandas would rename the copy (`x.1`) and the model would score the first one without a word.
    A column to `keep` (pass through to the output) that a file lacks is refused too, and a file with no header.
    """
    for path in files:
        header = header_of(path)
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise BatchError(f"{path}: column {name!r} appears twice in the header; name each column once")
            seen.add(name)
        missing = [c for c in keep if c not in seen]
        if missing:
            shown = ", ".join(header[:30]) + (" ..." if len(header) > 30 else "")
            raise BatchError(f"{path}: no column {', '.join(map(repr, missing))} to keep; its columns: {shown}")


def csv_chunks(path: str | Path, chunk_rows: int, keep: Sequence[str] = (), digest: Any = None) -> Iterator[pd.DataFrame]:
    """A CSV file's rows, `chunk_rows` at a time, each chunk read by pandas as the endpoint reads a body.

    pandas alone would pad a short row with missing values and refuse the whole file for a
    long one: here a row of another width than the header keeps its place without values,
    and the chunk's `attrs["shape"]` ({position: reason}) says why, so that row fails alone
    (Model.score_rows). `attrs["lines"]` holds the file's line each row starts on (rows are
    counted from 0 after the header; blank lines and quoted line breaks make the two differ).
    Blank lines are skipped, as pandas skips them. Also what `score` reads a CSV file with.
    The columns to `keep` are read again as the file's text (`attrs["kept"]`): an ID 007 stays 007.
    `digest` (a hashlib object) takes every byte of the file as it is read, once, in order: the
    content these chunks came from, to compare with the one a batch was planned on.

    Lines without a quote (or a lone carriage return) are one row each: their widths are
    counted with NumPy over the bytes and pandas reads the chunk as it is, 15x faster than
    Python's csv module row by row. From the first quote on, the csv module reads the rest
    (a quoted field may hold a comma or a line break); both give the same chunks.
    """
    import csv

    with open(path, "rb") if digest is None else io.BufferedReader(HashedFile(path, digest), 1 << 16) as raw:
        start = len(BOM) if raw.peek(len(BOM))[: len(BOM)] == BOM else 0  # Excel's "CSV UTF-8": no part of the first name
        raw.read(start)
        line = 0
        for head in iter(raw.readline, b""):
            line += 1
            if head.rstrip(b"\r\n"):
                break
        else:
            return  # no header
        if not _plain(head):  # a quoted header: the csv module reads the file
            raw.seek(start)
            yield from _csv_module_chunks(raw, chunk_rows, 1, None, keep, path)
            return
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BatchError(f"{path}:{line}: {_header_not_utf8(head[exc.start])}") from None
        header = next(csv.reader([text.rstrip("\r\n")]))
        header_line = head.rstrip(b"\r\n") + b"\n"
        offset = raw.tell()
        pending, pending_line = b"", line + 1  # whole lines not yet in a chunk, and the first one's number
        while True:
            block = raw.read(1 << 22)
            data = pending + block
            if not block and data and not data.endswith(b"\n"):
                data += b"\n"  # the last line, without its line break
            cut = data.rfind(b"\n") + 1
            whole, rest = data[:cut], data[cut:]
            if whole and not _plain(whole):  # the csv module from here (a line start outside any quote)
                raw.seek(offset)
                yield from _csv_module_chunks(raw, chunk_rows, pending_line, header, keep, path)
                return
            starts, ends, lines, widths = _line_rows(whole, pending_line)
            taken = 0
            while len(starts) - taken >= chunk_rows or (not block and taken < len(starts)):
                upto = min(taken + chunk_rows, len(starts))
                yield _plain_chunk(
                    header, header_line, whole, starts[taken:upto], ends[taken:upto], lines[taken:upto], widths[taken:upto], keep
                )
                taken = upto
            used = int(ends[taken - 1]) if taken else 0
            pending_line += whole.count(b"\n", 0, used)
            offset += used
            pending = whole[used:] + rest
            if not block:
                return


class HashedFile(io.RawIOBase):
    """A file read for its bytes that feeds each byte to `digest` the first time it is read (a seek back reads again
    without hashing again): the digest of what was read, with no second read of the file."""

    def __init__(self, path: str | Path, digest: Any):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with this object
        self._digest, self._pos, self.hashed = digest, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.readinto(buffer) or 0
        end = self._pos + n
        if self._pos <= self.hashed < end:
            self._digest.update(memoryview(buffer)[self.hashed - self._pos : n])
            self.hashed = end
        self._pos = end
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._file.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._file.close()
        super().close()


def _plain(data: bytes) -> bool:
    """Whether every line of `data` is one row split at its commas: no quote, no carriage return but before a line feed."""
    return b'"' not in data and data.count(b"\r") == data.count(b"\r\n")


def _line_rows(data: bytes, first_line: int) -> tuple[Any, Any, Any, Any]:
    """The rows of whole plain lines: each one's start and end (past its line break), file line and field count."""
    import numpy as np

    if not data:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    array = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(array == 10)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    carriage = (ends > starts) & (array[ends - 1] == 13)
    kept = (ends - starts - carriage) > 0  # blank lines are no rows
    commas = np.flatnonzero(array == 44)
    widths = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    lines = np.arange(first_line, first_line + len(ends))
    return starts[kept], ends[kept] + 1, lines[kept], widths[kept]


def _plain_chunk(
    header: list[str], header_line: bytes, data: bytes, starts: Any, ends: Any, lines: Any, widths: Any, keep: Sequence[str] = ()
) -> pd.DataFrame:
    import io

    import pandas as pd

    width = len(header)
    wrong = (widths != width).nonzero()[0]
    shape = {int(i): f"has {int(widths[i])} field{'' if widths[i] == 1 else 's'}; the header has {width}" for i in wrong}
    first, last = int(starts[0]), int(ends[-1])
    undecodable = _undecodable_rows(data, starts, ends)
    if undecodable:  # such a row fails alone, as a row of another width does
        shape.update({i: _row_not_utf8(byte, header, field) for i, (byte, field) in undecodable.items()})
        wrong = sorted(shape)
    if len(wrong):  # such a row keeps its place, without values (as the csv module writes it: '""' for one column)
        blank = b"," * (width - 1) + b"\n" if width > 1 else b'""\n'
        pieces, at = [header_line], first
        for i in wrong:
            pieces += [data[at : int(starts[i])], blank]
            at = int(ends[i])
        pieces.append(data[at:last])
        body = b"".join(pieces)
    else:
        body = header_line + data[first:last]
    frame = pd.read_csv(io.BytesIO(body))
    frame.attrs["shape"] = shape
    frame.attrs["lines"] = lines.copy()
    if undecodable and keep:
        import csv

        fields = {i: next(csv.reader([data[int(starts[i]) : int(ends[i])].decode("utf-8", "replace").rstrip("\r\n")]))
                  for i in undecodable}
        return _kept_of_undecodable(_with_kept(frame, body, keep), fields, header, keep)
    return _with_kept(frame, body, keep)


def _kept_of_undecodable(frame: pd.DataFrame, rows: dict[int, list[str]], header: Sequence[str], keep: Sequence[str]) -> pd.DataFrame:
    """A row failed for a byte that is not UTF-8 keeps its kept columns' text (so it joins back by its id): each
    field decoded alone, a bad byte in a kept column itself written as U+FFFD and said in the row's reason."""
    kept, shape = frame.attrs["kept"], frame.attrs["shape"]
    for i, fields in rows.items():
        if len(fields) != len(header):  # a row of another width: which field is which is not known
            continue
        for column in keep:
            value = fields[list(header).index(column)]
            kept.iat[i, list(kept.columns).index(column)] = value
            if "\ufffd" in value:
                shape[i] += f"; its kept column {column!r} is written with U+FFFD for the bytes that are not UTF-8"
    return frame


def _with_kept(frame: pd.DataFrame, body: Any, keep: Sequence[str]) -> pd.DataFrame:
    """The kept columns as the file's text beside the chunk (`attrs["kept"]`), whatever pandas makes of them as values."""
    import io

    import pandas as pd

    if keep:
        source = io.BytesIO(body) if isinstance(body, bytes) else io.StringIO(body)
        kept = pd.read_csv(source, usecols=list(keep), dtype=str, keep_default_na=False)
        frame.attrs["kept"] = kept[list(keep)]
    return frame


def _csv_module_chunks(
    raw: Any, chunk_rows: int, first_line: int, header: Optional[list[str]], keep: Sequence[str] = (), path: Any = ""
) -> Iterator[pd.DataFrame]:
    """Python's csv module from the binary file's position on (line `first_line`), with the header read before or not.

    Bytes that are not UTF-8 are read as lone surrogates (surrogateescape): their row fails alone, the header's file."""
    import csv
    import io
    import itertools

    import numpy as np
    import pandas as pd

    text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        reader = csv.reader(text)
        rows_of = _numbered(reader, first_line)
        if header is None:
            line, header = next(rows_of, (0, None))
            bad = _undecodable_field(header or [])
            if bad is not None:
                raise BatchError(f"{path}:{line}: {_header_not_utf8(bad[1])}")
        if header is None:
            return
        width = len(header)
        while True:
            numbered = list(itertools.islice(rows_of, chunk_rows))
            if not numbered:
                return
            rows = [row for _, row in numbered]
            shape = {
                i: f"has {len(row)} field{'' if len(row) == 1 else 's'}; the header has {width}"
                for i, row in enumerate(rows)
                if len(row) != width
            }
            for i, row in enumerate(rows):
                bad = _undecodable_field(row)
                if bad is not None:
                    shape[i] = _row_not_utf8(bad[1], header, bad[0])
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([""] * width if i in shape else row for i, row in enumerate(rows))
            frame = pd.read_csv(io.StringIO(out.getvalue()))
            frame.attrs["shape"] = shape
            frame.attrs["lines"] = np.array([line for line, _ in numbered])
            frame = _with_kept(frame, out.getvalue(), keep)
            bad = {
                i: [v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for v in row]
                for i, row in enumerate(rows)
                if keep and i in shape and _undecodable_field(row) is not None
            }
            yield _kept_of_undecodable(frame, bad, header, keep) if bad else frame
    finally:
        text.detach()  # the binary file is its opener's to close


BOM = b"\xef\xbb\xbf"
_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape reads it


def _undecodable_rows(data: bytes, starts: Any, ends: Any) -> dict[int, tuple[int, int]]:
    """The rows (by position) holding bytes that are not UTF-8: {row: (its first such byte, the field it is in)}.

    One decode of the chunk's bytes when they are all UTF-8 (the common case); line by line from the first bad byte on."""
    import numpy as np

    first, last = int(starts[0]), int(ends[-1])
    body = data[first:last]
    if body.isascii():
        return {}
    try:
        body.decode("utf-8")
        return {}
    except UnicodeDecodeError as exc:
        at = first + exc.start
    bad = {}
    for i in range(int(np.searchsorted(ends, at, side="right")), len(starts)):
        line = data[int(starts[i]) : int(ends[i])]
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[i] = (line[exc.start], line.count(b",", 0, exc.start))
    return bad


def _undecodable_field(row: Sequence[str]) -> Optional[tuple[int, int]]:
    """(the field, the byte) of the first byte that is not UTF-8 in a row the csv module read with surrogateescape."""
    for field, value in enumerate(row):
        found = _ESCAPED.search(value)
        if found:
            return field, ord(found.group()) - 0xDC00
    return None


def _row_not_utf8(byte: int, header: Sequence[str], field: int) -> str:
    where = f"column {header[field]!r}" if field < len(header) else f"field {field + 1}"
    return f"is not UTF-8 text (byte 0x{byte:02x} in {where}): save the file as UTF-8"


def _header_not_utf8(byte: int) -> str:
    return f"the header is not UTF-8 text (byte 0x{byte:02x}): save the file as UTF-8"


def _numbered(reader: Any, first_line: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(the line a row starts on, the row) for each row that is not blank."""
    line = first_line
    base = first_line - 1
    for row in reader:
        start, line = line, base + reader.line_num + 1
        if row:
            yield start, row


def row_where(row: int, lines: Any = None) -> str:
    """'row 1 (line 3)': a row as counted from 0 after the header, and the file's line where it has one."""
    if lines is not None and 0 <= row < len(lines):
        return f"row {row} (line {int(lines[row])})"
    return f"row {row}"


def output_path(output: str | Path) -> Path:
    out = Path(output).expanduser().resolve()
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise BatchError(f"{out}: the output is a .csv or .parquet file")
    return out


def fingerprint(path: str | Path) -> Optional[dict[str, object]]:
    """A file's size and SHA-256 (None when it is not there): what a finished batch wrote, to know it again."""
    target = Path(path)
    if not target.is_file():
        return None
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"size": target.stat().st_size, "sha256": digest.hexdigest()}


def written_files(output: str | Path) -> dict[str, Optional[dict[str, object]]]:
    """The fingerprints of a batch's output and of its failures file (None where there is none)."""
    return {"output": fingerprint(output), "failures": fingerprint(str(output) + FAILURES_SUFFIX)}


def same_device(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def temp_path(output: str | Path, private_dir: Optional[Path] = None, name: str = "output.tmp") -> Path:
    """Where a file is written before it is renamed into place as `output`: `name` in the batch's private folder, or,
    where that folder is on another device (a rename across devices is no rename), hidden beside the output."""
    out = Path(output)
    if private_dir is not None and same_device(Path(private_dir), out.parent):
        return Path(private_dir) / name
    return out.with_name(f".{out.name}.tmp")


def stale_temps(output: str | Path) -> list[Path]:
    """The temporary files a batch writing `output` may have left beside it (killed, on another device)."""
    out = Path(output)
    return [out.with_name(f".{out.name}.tmp"), out.with_name(f".{out.name}{FAILURES_SUFFIX}.tmp")]


def open_private(path: str | Path) -> int:
    """A file to write from its start, readable by its owner alone while it is half-written (one left by a kill too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # made before, with another mode
    return fd


@contextmanager
def private_file(path: str | Path) -> Iterator[IO[bytes]]:
    with os.fdopen(open_private(path), "wb") as fh:
        yield fh


def put_in_place(tmp: Path, target: Path) -> None:
    """The whole file renamed into place, with the mode the user's umask gives their new files."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, target)


def write_output(scored: pd.DataFrame, output: str | Path, expected_rows: int, temp_dir: Optional[Path] = None) -> tuple[int, int]:
    """The scored rows as the output file, and their failures beside it: (rows, failed rows).

    Refused, with nothing written, when the rows are not exactly the input's in order: a
    misaligned output is worse than none. Each file is written in `temp_dir` (private, on the
    output's device; else beside the output) and renamed into place whole.
    """
    rows = list(scored["_row"]) if len(scored) else []
    if len(rows) != expected_rows or rows != list(range(expected_rows)):
        raise BatchError(
            f"the answers hold {len(rows)} rows for the input's {expected_rows}"
            + ("" if len(rows) != expected_rows else ", not in input order")
            + "; the output would be misaligned, so it is not written"
        )
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = scored.drop(columns=["_row", "_file", "_line"], errors="ignore")
    tmp = temp_path(out, temp_dir)
    with private_file(tmp) as fh:
        if out.suffix.lower() == ".csv":
            fh.write(result.to_csv(index=False).encode())
        else:
            result.to_parquet(fh, index=False)
    put_in_place(tmp, out)
    listed = [c for c in ("_row", "_line", "_file", "error") if c in scored]  # _line: where the input was CSV
    failed = scored[listed].dropna(subset=["error"]) if "error" in scored else scored.iloc[0:0]
    failures = Path(str(out) + FAILURES_SUFFIX)
    if len(failed):
        if "_line" in failed:  # Parquet inputs beside CSV ones have no lines
            failed = failed.assign(_line=failed["_line"].astype("Int64"))
        listing = failed.rename(columns={"_row": "row", "_line": "line", "_file": "file", "error": "reason"})
        tmp = temp_path(failures, temp_dir, "failures.tmp")
        with private_file(tmp) as fh:
            fh.write(listing.to_csv(index=False).encode())
        put_in_place(tmp, failures)
    elif failures.exists():
        failures.unlink()
    return len(result), len(failed)


def read_failures(output: str | Path) -> list[RowFailure]:
    """The rows listed in OUTPUT.failures.csv (none when the file is not there)."""
    import pandas as pd

    path = Path(str(output) + FAILURES_SUFFIX)
    if not path.is_file():
        return []
    listed = pd.read_csv(path)
    lines = listed["line"] if "line" in listed else pd.Series([None] * len(listed), dtype="object")
    return [
        RowFailure(int(r.row), str(r.reason), str(r.file), None if pd.isna(line) else int(line))
        for r, line in zip(listed.itertuples(), lines, strict=True)
    ]


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # s3://, azureml://, https://; click's Path makes s3:// into s3:/


def is_uri(source: str | Path) -> bool:
    """Whether a batch input is a service's URI (read there alone), not a path on this machine."""
    return bool(_URI.match(str(source)))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


KEPT_CHUNK_ROWS = 100_000


def _kept_of(file: str, keep: Sequence[str], sha256: Optional[str]) -> pd.DataFrame:
    """One input's columns to keep, as the local batch reads them (a CSV's as its text: 007 stays 007, a BOM is no part
    of a name, a quoted comma is one field); the bytes read checked against the SHA-256 taken when it was uploaded."""
    import pandas as pd

    digest = hashlib.sha256()
    if file.lower().endswith(".csv"):
        pieces = [f.attrs["kept"] for f in csv_chunks(file, KEPT_CHUNK_ROWS, keep, digest)]
    else:
        import pyarrow.parquet as pq

        pieces = [pq.read_table(file, columns=list(keep)).to_pandas()]
    if sha256 and (digest.hexdigest() if file.lower().endswith(".csv") else file_sha256(file)) != sha256:
        raise BatchError(
            f"{file} changed since it was uploaded for this batch: its kept columns may not be the rows that were scored, "
            "so the output is not written; run the same command again to score the file as it is now"
        )
    if not pieces:  # a header and no rows
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in keep})
    return pd.concat(pieces, ignore_index=True)[list(keep)]


def join_kept(answers: pd.DataFrame, inputs: Sequence[dict[str, Any]], keep: Sequence[str]) -> pd.DataFrame:
    """The answers of a cloud batch with the columns to `keep` of its local inputs ({file, sha256}) in front, as the
    local batch writes them; refused, with nothing written, where a file's rows and its answers differ in number."""
    import pandas as pd

    files = list(answers["_file"]) if "_file" in answers else []
    kept, at = [], 0
    for item in inputs:
        frame = _kept_of(str(item["file"]), keep, item.get("sha256"))
        answered = 0
        while at + answered < len(files) and files[at + answered] == item["file"]:
            answered += 1
        if answered != len(frame):
            raise BatchError(
                f"{item['file']}: cloudauto reads {len(frame)} rows in it and the batch answered {answered}: the kept "
                f"columns ({', '.join(keep)}) would not line up with the answers, so the output is not written (the "
                "service's CSV reader skips a line of blanks alone, which cloudauto counts as a row: remove such lines, "
                "or run without --keep-columns and join by row number)"
            )
        kept.append(frame)
        at += answered
    if at != len(files):
        raise BatchError(f"the batch answered {len(files) - at} rows for no input file; the output would be misaligned")
    front = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(keep))
    rest = answers.drop(columns=[c for c in keep if c in answers.columns]).reset_index(drop=True)
    return pd.concat([front.reset_index(drop=True), rest], axis=1)


class ServiceBatchJob(BatchJob):
    """A batch a cloud service scores: once it has completed, its answers are read back and written here.

    A backend gives `answers()` (the scored rows in input order, `_row` and `_file` beside them)
    and `expected_rows()`, and `kept()` where the input's columns are to be copied in front; waiting writes the
    output file, and the failures are read from it.
    """

    def answers(self) -> pd.DataFrame:
        raise NotImplementedError

    def expected_rows(self) -> int:
        raise NotImplementedError

    def kept(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The input columns to copy in front of the answers, and the local inputs ({file, sha256}) they are read from."""
        return [], []

    def wait(self, *, poll: float = 15.0, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        status = super().wait(poll=poll, timeout=timeout, progress=progress)
        if status is JobStatus.COMPLETED:
            self.write()
        return status

    def answer_columns(self) -> list[str]:
        """The header of an output of no rows, as the local batch writes it (Model.answer_columns): the service was
        sent no row to answer, so its class labels are not known here and no proba_ column is named."""
        return ["prediction"]

    def write(self) -> Path:
        """The answers as the output file (and OUTPUT.failures.csv where rows failed)."""
        answers = self.answers()
        if not len(answers):  # every input had a header and no row: the local batch's header, not a bare one
            answers = answers.reindex(columns=[*answers.columns, *(c for c in self.answer_columns() if c not in answers)])
        keep, inputs = self.kept()
        if keep:  # read here, from the input this machine uploaded, once the answers are down
            answers = join_kept(answers, inputs, keep)
        write_output(answers, self.output, self.expected_rows())
        return Path(self.output)

    def failures(self) -> list[RowFailure]:
        if self.status() is not JobStatus.COMPLETED:
            return []
        if not Path(self.output).is_file():
            self.write()
        return read_failures(self.output)


__all__ = [
    "FAILURES_SUFFIX",
    "HashedFile",
    "ServiceBatchJob",
    "TABLE_SUFFIXES",
    "check_columns",
    "header_of",
    "check_output",
    "csv_chunks",
    "file_sha256",
    "fingerprint",
    "input_files",
    "is_uri",
    "join_kept",
    "open_private",
    "output_path",
    "private_file",
    "put_in_place",
    "read_failures",
    "same_device",
    "stale_temps",
    "temp_path",
    "row_where",
    "write_output",
    "written_files",
]
