"""Batch inference on this machine: the input in chunks over worker processes that load the model once.

A batch lives in `<home>/batches/<id>/`: `batch.json` (what to score, with what), `state.json`
(what the runner last wrote: its pid and start time, its status and why), one part per chunk
under `parts/` (working state, removed once the output is in place; `prune` removes the folders of batches
that ended long enough ago) and `batch.log`. The id is a digest of the job, the trial, the input files
(their sizes and content digests), the output and the options, so running the same command
again finds the same batch, and an input changed in place (even with its size and time kept)
makes another. A finished batch is left as it is only while its output (and failures file)
is byte for byte what it wrote (sizes and SHA-256 kept in `state.json`); an output written
over by another batch or edited by hand is scored again. An interrupted
batch goes on from the chunks already written (each part is written whole or not at all).

Workers each hold the model and `cores // workers` OpenMP threads, as the endpoint's pool
does: on Linux they are forked from the runner once it has loaded the model (one AutoGluon
import and load, not one per worker); elsewhere, or where a thread that is not fork-safe runs,
they are spawned and load it each. A row that cannot be scored (a value that is no number in a
number column, a model error on that row) fails alone: its output row holds no prediction, and
`failures` lists it with its row number and reason. A CSV output is written part by part in
input order as the parts come in (batch_output); a Parquet one is assembled from the parts at
the end, its row count checked against the input's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from cloudauto.backend import BatchError, BatchJob, JobStatus, RowFailure
from cloudauto.runtime.batch_io import (
    FAILURES_SUFFIX,
    check_columns,
    check_output,
    csv_chunks,
    input_files,
    output_path,
    read_failures,
    stale_temps,
    write_output,
    written_files,
)
from cloudauto.scoring import kept_problem

from .batch_output import StreamedCsv, part_path, render
from .paths import PRIVATE_UMASK, home, private

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Plan:
    id: str
    job_id: str
    trial: int
    model_dir: str
    inputs: list[str]
    output: str
    probabilities: bool
    chunk_rows: int
    workers: int
    estimate: Optional[int] = None  # chunks in all, counted while the input was hashed (for the progress bar)
    keep_columns: list[str] = field(default_factory=list)  # input columns passed through to the output (an ID)
    digests: list[str] = field(default_factory=list)  # each input's SHA-256 when planned: the runner checks what it reads


def batches_dir() -> Path:
    return home() / "batches"


def plan_for(
    job_id: str,
    trial: int,
    model_dir: str,
    source: str | Path,
    output: str | Path,
    *,
    probabilities: bool,
    chunk_rows: int,
    workers: int,
    keep_columns: Optional[list[str]] = None,
) -> Plan:
    files = input_files(source)
    out = output_path(output)
    check_output(source, out, files)
    if chunk_rows < 1 or workers < 1:
        raise BatchError("chunk_rows and workers are at least 1")
    keep = list(keep_columns or [])
    problem = kept_problem(keep)
    if problem:
        raise BatchError(f"keep_columns: {problem}")
    check_columns(files, keep)
    read = [_digest(f) for f in files]  # one read of each input: its digest, and its lines for the estimate
    identity = {
        "job": job_id,
        "trial": trial,
        # the content, not the modification time: a file rewritten in place is another input
        "inputs": [[str(f), size, digest] for f, (size, digest, _) in zip(files, read, strict=True)],
        "output": str(out),
        "probabilities": probabilities,
        "chunk_rows": chunk_rows,
        **({"keep_columns": keep} if keep else {}),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return Plan(
        f"{job_id}-batch-{digest}",
        job_id,
        trial,
        model_dir,
        [str(f) for f in files],
        str(out),
        probabilities,
        chunk_rows,
        workers,
        _estimate([str(f) for f in files], chunk_rows, [lines for _, _, lines in read]),
        keep,
        [digest for _, digest, _ in read],
    )


def _digest(path: Path) -> tuple[int, str, Optional[int]]:
    """(size, SHA-256, line breaks for a CSV file) in one read."""
    digest, lines, size = hashlib.sha256(), 0, 0
    csv = path.suffix.lower() == ".csv"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            if csv:
                lines += block.count(b"\n")
    return size, digest.hexdigest(), lines if csv else None


class InputChanged(BatchError):
    """An input whose bytes, as the runner read them, are not the ones the batch was planned on."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"{path} changed while it was read (its content is not the one this batch was started on): the chunks "
            "read from it are discarded; run the command again once nothing writes to the file"
        )


def chunks(
    files: list[str], chunk_rows: int, keep: Optional[list[str]] = None, digests: Optional[list[str]] = None
) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """(file, the chunk's first row over the whole input, its rows), reading one chunk at a time.

    The columns to `keep` of a CSV file come as its text (attrs["kept"]); Parquet keeps its types.
    With `digests` (each file's SHA-256 when the batch was planned), the bytes read are hashed as they
    are read and a file that differs raises InputChanged once it has been read through."""

    first = 0
    for i, name in enumerate(files):
        digest = hashlib.sha256() if digests else None
        if name.lower().endswith(".csv"):
            # every column as read by the endpoint's parser: numbers stay numbers, text stays text
            # a row of another width than the header fails alone (its reason in frame.attrs)
            pieces: Iterator[pd.DataFrame] = csv_chunks(name, chunk_rows, keep or (), digest)
        else:
            pieces = _parquet_chunks(name, chunk_rows, digest)
        for frame in pieces:
            attrs = frame.attrs
            frame = frame.reset_index(drop=True)
            frame.attrs = attrs
            yield name, first, frame
            first += len(frame)
        if digests and digest is not None and digest.hexdigest() != digests[i]:
            raise InputChanged(name)


def _parquet_chunks(name: str, chunk_rows: int, digest: Any) -> Iterator[pd.DataFrame]:
    """A Parquet file's rows in chunks, from one open file (Parquet is read footer first, not in one pass).

    With `digest`, the same open file is hashed in a streaming pass once its rows are read, and a write to it
    meanwhile (its size or modification time moved) spoils the digest: memory stays one chunk, not the file."""
    import pyarrow.parquet as pq

    if digest is None:
        for b in pq.ParquetFile(name).iter_batches(batch_size=chunk_rows):
            yield b.to_pandas()
        return
    with open(name, "rb") as fh:
        before = os.fstat(fh.fileno())
        for b in pq.ParquetFile(fh).iter_batches(batch_size=chunk_rows):
            yield b.to_pandas()
        fh.seek(0)
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
        after = os.fstat(fh.fileno())
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            digest.update(b"written while it was read")


# ---- worker processes ------------------------------------------------------------------------------------
_model: Any = None


def _load(model_dir: str, threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # before LightGBM loads
    from cloudauto.runtime.inference import Model

    global _model
    _model = Model(model_dir)


def _forked(lock: Optional[int]) -> None:
    """A worker forked from the runner has its model already; the output's lock stays the runner's alone."""
    if lock is not None:
        os.close(lock)


def _check_features(model: Any, name: str, columns: Any) -> None:
    """Every row would fail alike without the model's columns: the batch stops with the reason."""
    missing = [c for c in model.features if c not in columns]
    if missing:
        raise BatchError(f"{name}: missing columns: {', '.join(map(str, missing))}; the model takes {', '.join(model.features)}")


def _check_files_without_rows(plan: Plan, read_from: dict[int, str]) -> None:
    """A file of a header alone gives no chunk to score: its header is checked as a chunk's columns would be."""
    empty = [name for name in plan.inputs if name not in set(read_from.values())]
    if not empty:
        return
    from cloudauto.runtime.batch_io import header_of
    from cloudauto.runtime.inference import Model

    model = _model if _model is not None else Model(plan.model_dir)
    for name in empty:
        _check_features(model, name, header_of(Path(name)))


def _score(
    index: int,
    name: str,
    first: int,
    frame: pd.DataFrame,
    probabilities: bool,
    parts: str,
    lines: bool = False,
    keep: Optional[list[str]] = None,
) -> tuple[int, int, int]:
    """Score one chunk into parts/<index>.parquet (whole or not at all): (index, rows, failed rows).

    With `lines`, its answers as CSV lines too (parts/<index>.csv, written first), for the output to append;
    `keep`: input columns passed through in front, so scored rows join back.
    """
    from cloudauto.runtime.inference import BadRequest

    model = _model
    if model.kind not in ("tabular", "multimodal"):
        raise BatchError(f"batch inference scores tabular and MultiModal models, not {model.kind} models")
    _check_features(model, name, frame.columns)
    text = frame.attrs.pop("kept", None)  # a CSV file's kept columns as its text
    kept = (text if text is not None else frame[keep]).reset_index(drop=True) if keep else None  # in front, so rows join back
    frame = frame[model.features] if model.features else frame
    if model.kind == "multimodal":  # image paths are relative to their table, as in training data
        base = Path(name).parent
        frame = frame.assign(**{c: [str(base / str(v)) for v in frame[c]] for c in getattr(model, "images", [])})
    try:
        scored = model.score_rows(frame, probabilities)
    except BadRequest as exc:  # no row of the chunk could be scored
        raise BatchError(f"{name}: rows {first}-{first + len(frame) - 1}: {exc}") from None
    if kept is not None:
        import pandas as pd

        scored = pd.concat([kept, scored.drop(columns=[c for c in keep if c in scored.columns]).reset_index(drop=True)], axis=1)
    failed = int(scored["error"].notna().sum()) if "error" in scored else 0
    import numpy as np

    scored = scored.assign(_row=np.arange(first, first + len(frame), dtype=np.int64), _file=name)
    if lines:
        body = Path(parts) / f"{index:06d}.csv"
        body.with_suffix(".csv.tmp").write_bytes(render(scored))
        os.replace(body.with_suffix(".csv.tmp"), body)
    target = Path(parts) / f"{index:06d}.parquet"
    tmp = target.with_suffix(".tmp")
    scored.to_parquet(tmp, index=False)
    os.replace(tmp, target)  # a part is there whole, or not at all
    return index, len(frame), failed


# ---- the runner (a process of its own) -------------------------------------------------------------------
def _write_state(folder: Path, **state: Any) -> None:
    path = folder / "state.json"
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(state)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current))
    os.replace(tmp, path)


def _log(folder: Path, line: str) -> None:
    with (folder / "batch.log").open("a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def run(folder: Path, lock: Optional[int] = None) -> int:
    """Score every chunk not written yet, then assemble the output. The process that `start` launches.

    `lock` is the output's lock (a descriptor `start` handed over): let go once the output is
    written and known, before the batch says it has completed, so the next batch into that
    file may start as soon as this one is seen to end.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    user_umask = os.umask(PRIVATE_UMASK)  # the parts, state and log in the home are the user's alone
    plan = Plan(**json.loads((folder / "batch.json").read_text()))
    if lock is not None:
        _write_holder(plan, os.getpid(), lock)  # the lock's file names its holder for a batch it refuses
    parts = folder / "parts"
    parts.mkdir(exist_ok=True)
    if lock is not None:  # this runner alone writes the output: what a killed one left beside it goes
        for stale in stale_temps(plan.output):
            stale.unlink(missing_ok=True)
    done = _readable_parts(folder, parts)
    _write_state(folder, status="running", reason=None, done=len(done))
    _log(folder, f"start: {len(plan.inputs)} input file(s), chunks of {plan.chunk_rows} rows, {plan.workers} worker(s)")
    if done:
        _log(folder, f"resumed: {len(done)} chunk(s) already written are skipped")
    threads = max(1, len(os.sched_getaffinity(0)) // plan.workers)
    stream: Optional[StreamedCsv] = None
    read_from: dict[int, str] = {}  # each chunk's file
    try:
        # the first chunks are read (and hashed) while the model loads, so the workers start with work ready; not
        # from Parquet, whose reader starts Arrow's thread pool, which would make forking the workers unsafe
        csv_only = all(name.lower().endswith(".csv") for name in plan.inputs)
        source = enumerate(chunks(plan.inputs, plan.chunk_rows, plan.keep_columns, plan.digests))
        ahead = _Prefetch(source, done, 2 * plan.workers if csv_only else 0)
        try:
            context, initializer, initargs = _workers(folder, plan, threads, lock, ahead)
        finally:
            ahead.join()
        if plan.output.lower().endswith(".csv"):
            with _umask(user_umask):  # the output is the user's file, made as their other files are
                stream = StreamedCsv(plan.output, parts, folder)
        with ProcessPoolExecutor(plan.workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
            pending: set[Any] = set()
            total = 0
            for index, (name, first, frame) in ahead:
                total = index + 1
                read_from[index] = name
                if index in done:
                    continue
                pending.add(
                    pool.submit(
                        _score, index, name, first, frame, plan.probabilities, str(parts), stream is not None, plan.keep_columns
                    )
                )
                if stream is not None:
                    stream.advance(done)  # the parts of an earlier run, and the ones just in
                if len(pending) >= 2 * plan.workers:  # bounded: the input is never all in memory
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    _collect(folder, finished, done)
            _write_state(folder, chunks=total)
            _check_files_without_rows(plan, read_from)
            while pending:  # each part into the output as soon as the ones before it are in
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                _collect(folder, finished, done)
                if stream is not None:
                    stream.advance(done)
        with _umask(user_umask):
            if stream is not None and total:
                stream.advance(done)
                rows, failed = stream.finish(total)
            else:
                if stream is not None:
                    stream.discard()
                rows, failed = assemble(plan, folder, total)
    except BatchError as exc:
        if stream is not None:
            stream.discard()
        if isinstance(exc, InputChanged):  # a rerun must not trust a part read from the changed content
            for index in (i for i, name in read_from.items() if name == exc.path):
                for suffix in (".parquet", ".csv"):
                    part_path(parts, index, suffix).unlink(missing_ok=True)
        _log(folder, f"failed: {exc}")
        if lock is not None:  # let go before saying so: the command run again right after may start at once
            os.close(lock)
        _write_state(folder, status="failed", reason=str(exc))
        return 1
    except Exception as exc:
        if stream is not None:
            stream.discard()
        _log(folder, "failed:\n" + traceback.format_exc())
        if lock is not None:
            os.close(lock)
        _write_state(folder, status="failed", reason=f"{type(exc).__name__}: {exc}")
        return 1
    import shutil

    shutil.rmtree(parts, ignore_errors=True)  # working state: the output is in place (a rerun into a changed one scores again)
    reason = summary(rows, failed, plan.output)
    written = written_files(plan.output)
    if lock is not None:
        os.close(lock)
    _log(folder, f"completed: {reason}")
    _write_state(folder, status="completed", reason=reason, rows=rows, failed=failed, written=written)
    return 0


def _readable_parts(folder: Path, parts: Path) -> set[int]:
    """The chunks an earlier run wrote that can be read back (their Parquet footer): a damaged one (a disk fault,
    a hand edit) is working state, so it is discarded and scored again rather than failing every rerun."""
    import pyarrow.parquet as pq

    done = set()
    for path in sorted(parts.glob("*.parquet")):
        try:
            index = int(path.stem)
            pq.ParquetFile(path).metadata  # noqa: B018 - reads the footer: a truncated file fails here
        except Exception as exc:  # noqa: BLE001 - whatever makes it unreadable, it is scored again
            for suffix in (".parquet", ".csv"):
                path.with_suffix(suffix).unlink(missing_ok=True)
            _log(folder, f"chunk {path.stem.lstrip('0') or '0'}: its saved part parts/{path.name} cannot be read "
                 f"({type(exc).__name__}: {exc}); discarded, scored again")
            continue
        done.add(index)
    return done


START_ENV = "CLOUDAUTO_BATCH_START"  # "spawn": workers that load the model each, as where fork is unsafe


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


class _Prefetch:
    """The first `limit` chunks still to score, read by a thread of their own while this one loads the model.

    Iterated once `join` has returned (the thread is gone before any worker is forked): the chunks read ahead,
    then the rest of `source` read here; an error met reading ahead is raised where its chunk would have come.
    Memory stays bounded: as many chunks as the runner keeps pending anyway."""

    def __init__(self, source: Iterator[tuple[int, tuple[str, int, pd.DataFrame]]], done: set[int], limit: int):
        import threading

        import pandas  # noqa: F401 - imported here, not in two threads at once with the model's imports

        self.source, self.done, self.limit = source, done, limit
        self.ready: list[tuple[int, tuple[str, int, Any]]] = []
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._read, name="cloudauto-batch-read", daemon=True)
        if limit > 0:  # else nothing is read ahead: every chunk is read by the thread that iterates
            self.thread.start()

    def _read(self) -> None:
        try:
            for index, (name, first, frame) in self.source:
                todo = index not in self.done
                self.ready.append((index, (name, first, frame if todo else None)))
                if todo and sum(1 for i, _ in self.ready if i not in self.done) >= self.limit:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again by the thread that iterates
            self.error = exc

    def join(self) -> None:
        if self.thread.ident is None:
            return
        self.thread.join()
        task = Path(f"/proc/self/task/{self.thread.native_id}")
        for _ in range(200):  # a joined thread's OS thread may take a moment more to exit
            if not task.exists():
                return
            time.sleep(0.005)

    def __iter__(self) -> Iterator[tuple[int, tuple[str, int, Any]]]:
        assert not self.thread.is_alive()  # joined (or never started)
        ready, self.ready = self.ready, []
        yield from ready
        if self.error is not None:
            raise self.error
        yield from self.source


def _workers(
    folder: Path, plan: Plan, threads: int, lock: Optional[int], reading: Optional[_Prefetch] = None
) -> tuple[Any, Any, tuple[Any, ...]]:
    """How the workers start: forked from this process once it has loaded the model (one load, no AutoGluon import
    per worker) where fork is safe, else spawned to load the model each. (context, initializer, its arguments).
    `reading`: the thread reading the first chunks meanwhile, let end before the fork is judged."""
    import multiprocessing

    global _model
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # before LightGBM loads, here and in every worker
    why = _fork_refused(reading)
    if why is None:
        _load(plan.model_dir, threads)
        if reading is not None:
            reading.join()
        why = _fork_refused()  # what loading started
        if why is None:
            _log(folder, "workers: forked from the model loaded once")
            return multiprocessing.get_context("fork"), _forked, (lock,)
        _model = None
    _log(folder, f"workers: spawned, each loads the model ({why})")
    return multiprocessing.get_context("spawn"), _load, (plan.model_dir, threads)


def _fork_refused(reading: Optional[_Prefetch] = None) -> Optional[str]:
    """Why workers may not be forked from this process (None: they may).

    A fork copies one thread: a lock another thread held stays held in the child. Forking is
    left to Linux, with no Python thread but this one and no native thread but the few known
    to be fork-safe (jemalloc's background thread, OpenBLAS's pool, which stops itself around
    a fork); an OpenMP or torch pool started here would hang the child's first prediction.
    """
    import multiprocessing
    import threading

    if os.environ.get(START_ENV, "").lower() == "spawn":
        return f"{START_ENV}=spawn"
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return f"no fork on {sys.platform}"
    ours = {reading.thread.native_id} if reading is not None and reading.thread.is_alive() else set()  # ends before the fork
    if threading.active_count() - len(ours) > 1:
        return f"{threading.active_count() - len(ours) - 1} Python thread(s) running"
    try:
        tasks = [t for t in os.listdir("/proc/self/task") if int(t) != threading.get_native_id() and int(t) not in ours]
        names = [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in tasks]
    except (OSError, ValueError):
        return "the process's threads cannot be listed"
    unknown = len([n for n in names if n != "jemalloc_bg_thd"]) - _openblas_threads()
    return f"{unknown} native thread(s) running" if unknown > 0 else None


def _openblas_threads() -> int:
    """The threads of the OpenBLAS pools loaded here (each pool starts `num_threads - 1` beside the caller's)."""
    if "numpy" not in sys.modules:
        return 0
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 0
    return sum(max(0, int(p.get("num_threads", 1)) - 1) for p in threadpool_info() if p.get("internal_api") == "openblas")


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def summary(rows: int, failed: int, output: str) -> str:
    """The batch's counts: the rows scored (the failed ones are not) and the rows failed, which add up to the input's."""
    return f"{_rows(rows - failed)} scored into {output}" + (
        f"; {_rows(failed)} failed (see {output}{FAILURES_SUFFIX})" if failed else ""
    )


def _collect(folder: Path, finished: set[Any], done: set[int]) -> None:
    for future in finished:
        index, rows, failed = future.result()  # a chunk's BatchError ends the batch here
        done.add(index)
        _log(folder, f"chunk {index}: {_rows(rows)}" + (f", {failed} failed" if failed else ""))
    _write_state(folder, done=len(done))


def assemble(plan: Plan, folder: Path, total: int) -> tuple[int, int]:
    """The parts, in input order, as one output file; the row count checked; the failures beside it."""
    import pandas as pd

    paths = [folder / "parts" / f"{i:06d}.parquet" for i in range(total)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise BatchError(f"chunks {', '.join(missing[:5])} were not written")
    frames = _same_dtypes([pd.read_parquet(p) for p in paths])
    frame = pd.concat(frames, ignore_index=True) if frames else _no_rows(plan)
    return write_output(frame, plan.output, len(frame), temp_dir=folder)


def _no_rows(plan: Plan) -> pd.DataFrame:
    """The answer of an input with a header and no rows: the kept columns and the model's answer columns, no row."""
    import pandas as pd

    from cloudauto.runtime.inference import Model

    model = _model if _model is not None else Model(plan.model_dir)
    columns = [*plan.keep_columns, *model.answer_columns(plan.probabilities), "_row", "_file"]
    dtypes = {c: "object" for c in columns} | {"_row": "int64"} | _answer_dtypes(model, plan.probabilities)
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns})


def _answer_dtypes(model: Any, probabilities: bool) -> dict[str, str]:
    """The dtypes the model's answers have when it scores rows (AutoGluon's float32 probabilities, the label's type):
    an output of no rows has them too, so a part of a Parquet dataset has the others' schema."""
    try:
        import pandas as pd

        features = getattr(model, "features", None) or []
        # one row of blanks (AutoGluon cannot score no rows): its answers' dtypes, not its values
        probe = model.predict(pd.DataFrame({c: [float("nan")] for c in features}), probabilities)
        return {str(c): str(probe[c].dtype) for c in probe.columns}
    except Exception:  # noqa: BLE001 - a model that cannot score blanks (an image model): probabilities are floats
        return {c: "float64" for c in model.answer_columns(probabilities) if c.startswith("proba_")}


def _same_dtypes(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Integer (or boolean) answers stay so in the output: where a part has blanks (failed rows, or a part that failed
    whole and holds floats), every part's column becomes pandas' nullable dtype before they are put together."""
    nullable = {"i": "Int64", "u": "UInt64", "b": "boolean"}
    for column in {c for f in frames for c in f.columns}:
        present = [f[column].dtype for f in frames if column in f.columns]
        filled = [f[column].dtype for f in frames if column in f.columns and f[column].notna().any()]
        if not filled or filled[0].kind not in nullable or all(d == filled[0] for d in present):
            continue
        target = nullable[filled[0].kind]
        frames = [f.astype({column: target}) if column in f.columns else f for f in frames]
    return frames


# ---- the handle ----------------------------------------------------------------------------------------------
class LocalBatchJob(BatchJob):
    backend = "local"

    def __init__(self, folder: Path):
        self.dir = folder
        self.plan = Plan(**json.loads((folder / "batch.json").read_text()))
        self.id, self.output = self.plan.id, self.plan.output

    def state(self) -> dict[str, Any]:
        path = self.dir / "state.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def status(self) -> JobStatus:
        from .handle import process_start

        status = JobStatus(self.state().get("status", "pending"))
        if status.is_final:
            return status
        pid_file = self.dir / "pid.json"
        runner = json.loads(pid_file.read_text()) if pid_file.is_file() else {}
        pid, started = runner.get("pid"), runner.get("start")
        if pid and (process_start(pid) is None or (started and process_start(pid) != started)):
            return JobStatus.INTERRUPTED
        return status

    def status_reason(self) -> Optional[str]:
        status = self.status()
        if status is JobStatus.INTERRUPTED:
            return "the batch process is gone: run the same predict command again to carry it on from the chunks written"
        state = self.state()
        reason = state.get("reason")
        if status is JobStatus.COMPLETED and reason and state.get("written") != written_files(self.output):
            # never claim rows the file does not hold
            return (
                f"{reason}; but {self.output} has changed since (written over by another batch or by hand): "
                "run the same predict command again to write it again"
            )
        return reason

    def progress(self) -> tuple[int, Optional[int]]:
        """(chunks written, chunks in all once the input has been read through; None before)."""
        state = self.state()
        return len(list((self.dir / "parts").glob("*.parquet"))), state.get("chunks") or self.plan_chunks()

    def plan_chunks(self) -> Optional[int]:
        counted = self.state().get("estimate")
        return int(counted) if counted else None

    def logs(self) -> str:
        path = self.dir / "batch.log"
        return path.read_text() if path.is_file() else ""

    def failures(self) -> list[RowFailure]:
        return read_failures(self.output) if self.status() is JobStatus.COMPLETED else []

    def wait(self, *, poll: float = 0.5, timeout: Optional[float] = None, progress: Optional[bool] = None) -> JobStatus:
        show = sys.stderr.isatty() if progress is None else progress
        if not show:
            return super().wait(poll=poll, timeout=timeout)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        ) as bar:
            task = bar.add_task(f"batch {self.id}", total=None)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                written, total = self.progress()
                bar.update(task, completed=written, total=total)
                status = self.status()
                if status.is_final or status is JobStatus.INTERRUPTED:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"batch {self.id} still {status.value} after {timeout}s")
                time.sleep(poll)
        return super().wait(poll=poll, timeout=0)


def _estimate(files: list[str], chunk_rows: int, counted: Optional[list[Optional[int]]] = None) -> Optional[int]:
    """Chunks in all, for the progress bar: CSV lines counted (quoted newlines make it an estimate), Parquet's metadata."""
    rows = 0
    for i, name in enumerate(files):
        if counted is not None and counted[i] is not None:
            rows += max(0, int(counted[i] or 0) - 1)
        elif name.lower().endswith(".csv"):
            with open(name, "rb") as fh:
                lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
            rows += max(0, lines - 1)
        else:
            import pyarrow.parquet as pq

            rows += pq.ParquetFile(name).metadata.num_rows
    return max(1, -(-rows // chunk_rows)) if rows else None


def _lock_file(output: str) -> Path:
    """The lock of one output file, by its resolved path: two batches never write one file at once."""
    return batches_dir() / "locks" / f"{hashlib.sha256(output.encode()).hexdigest()[:16]}.lock"


def _lock_output(plan: Plan) -> Optional[int]:
    """Take the output's lock (an open descriptor to hand the runner), None when this very batch holds it.

    An flock, not a file created and deleted: the kernel releases it when the runner ends,
    however it ends (a kill, a reboot), so no stale lock is ever left to judge. The file
    names the holder (batch, pid and start time) for the message of a batch refused.
    """
    import fcntl

    path = _lock_file(plan.output)
    with private():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = _holder(path)
        if holder.get("batch") == plan.id:
            return None
        raise BatchError(
            f"batch {holder.get('batch', '(starting)')} is writing {plan.output} (pid {holder.get('pid', '?')}): "
            "wait for it to end and run this command again, or name another output file"
        ) from None
    _write_holder(plan, os.getpid(), fd)
    return fd


def _holder(path: Path) -> dict[str, Any]:
    for _ in range(20):  # the holder writes its name right after taking the lock
        try:
            holder = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if holder:
            return holder
        time.sleep(0.05)
    return {}


def _write_holder(plan: Plan, pid: int, fd: Optional[int] = None) -> None:
    from .handle import process_start

    text = json.dumps({"batch": plan.id, "output": plan.output, "pid": pid, "start": process_start(pid)}).encode()
    target = fd if fd is not None else os.open(_lock_file(plan.output), os.O_WRONLY)
    try:
        os.ftruncate(target, 0)
        os.pwrite(target, text, 0)
    finally:
        if fd is None:
            os.close(target)


def start(plan: Plan) -> LocalBatchJob:
    """Start (or carry on) the batch in a process of its own; a finished batch is returned as it is.

    Refused, with nothing made, while another batch writes the same output file.
    """
    folder = batches_dir() / plan.id
    if (folder / "batch.json").is_file() and LocalBatchJob(folder).status() is JobStatus.RUNNING:
        return LocalBatchJob(folder)  # the same batch is being scored already
    lock = _lock_output(plan)
    _write_plan(folder, plan)
    job = LocalBatchJob(folder)
    if lock is None:
        return job  # the same batch, started by a command a moment ago
    try:
        if job.status() is JobStatus.COMPLETED:
            if job.state().get("written") == written_files(plan.output):
                return job  # the output is byte for byte what this batch wrote
            _log(folder, f"{plan.output} is not what this batch wrote (changed, replaced or removed since): scored again")
        _launch(folder, plan, lock)
    finally:
        os.close(lock)  # the runner has its own copy: the lock is its until it ends
    return job


def _write_plan(folder: Path, plan: Plan) -> None:
    with private():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "batch.json.tmp"
        tmp.write_text(json.dumps(asdict(plan), indent=2))
        os.replace(tmp, folder / "batch.json")  # a command that follows this batch never reads half of it


def _launch(folder: Path, plan: Plan, lock: int) -> None:
    import subprocess

    from .handle import process_start

    (folder / "pid.json").unlink(missing_ok=True)
    with private():
        _write_state(folder, status="pending", reason=None, estimate=plan.estimate or _estimate(plan.inputs, plan.chunk_rows))
        log = open(folder / "batch.log", "ab")  # noqa: SIM115 - handed to the child
    # the runner keeps the user's umask for the output it writes, and makes its own files in the home private
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloudauto_local.batch", str(folder), str(lock)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            pass_fds=(lock,),  # the runner holds the output's lock until it ends, however it ends
        )
    finally:
        log.close()
    # the runner never writes this file, so the two processes never write one file at once
    with private():
        (folder / "pid.json").write_text(json.dumps({"pid": proc.pid, "start": process_start(proc.pid)}))


__all__ = ["LocalBatchJob", "Plan", "assemble", "chunks", "plan_for", "run", "start"]


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
