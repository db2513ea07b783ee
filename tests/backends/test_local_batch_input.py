"""Local batch inputs as users have them: a byte-order mark, a stray byte that is not UTF-8, a header and no rows; and
what a batch leaves behind (its temporary output, its working folder) once it is done, killed or old."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from cloudauto.backend import JobStatus

from .conftest import finished_iris_job
from .test_local_batch import FEATURES, _batch_folders, _cli, in_process, rows

BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def iris_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch_input")
    with finished_iris_job(root) as job:
        yield job, root


def _with_ids(n: int, seed: int = 0) -> bytes:
    lines = rows(n, seed).to_csv(index=False).splitlines()
    return ("\n".join(["id," + lines[0]] + [f"00{i},{line}" for i, line in enumerate(lines[1:])]) + "\n").encode()


@pytest.mark.parametrize("quoted", [False, True])
def test_a_byte_order_mark_is_no_part_of_the_first_column_name(iris_job, tmp_path, quoted):
    """Excel's 'CSV UTF-8' starts with a BOM: `--keep-columns id` said there was no column 'id' (its name was '\\ufeffid')."""
    job, _ = iris_job
    body = _with_ids(7)
    if quoted:  # a quoted header is read by the csv module, not the fast path
        head, rest = body.split(b"\n", 1)
        body = b",".join(b'"' + name + b'"' for name in head.split(b",")) + b"\n" + rest
    (tmp_path / "in.csv").write_bytes(BOM + body)
    out = tmp_path / "out.csv"
    done = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(out), "--keep-columns", "id", "--chunk-rows", "3")
    assert done.exit_code == 0, done.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,prediction"  # no BOM in the output's header either
    assert [line.split(",")[0] for line in lines[1:]] == [f"00{i}" for i in range(7)]
    assert [line.split(",")[1] for line in lines[1:]] == [str(c) for c in in_process(job, rows(7))["prediction"]]


def test_a_byte_order_mark_before_the_features_scores_as_without_it(iris_job, tmp_path):
    """The first feature's name carried the BOM: 'missing columns: sepal length (cm)' for the whole batch."""
    job, _ = iris_job
    (tmp_path / "in.csv").write_bytes(BOM + rows(5, 3).to_csv(index=False).encode())
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv")
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == in_process(job, rows(5, 3))["prediction"].tolist()


@pytest.mark.parametrize("quoted", [False, True])
def test_a_byte_that_is_not_utf8_fails_its_row_alone_with_its_line(iris_job, tmp_path, quoted):
    """One Latin-1 'é' in a comment column failed the whole batch (UnicodeDecodeError); now its row fails, as a bad number does."""
    job, _ = iris_job
    frame = rows(9, 5).assign(note="ok")
    lines = frame.to_csv(index=False).encode().splitlines()
    lines[5] = lines[5].replace(b",ok", b",caf\xe9")  # row 4, line 6
    if quoted:
        lines[2] = lines[2].replace(b",ok", b',"o,k"')  # a quote from row 1 on: the csv module reads the rest
    (tmp_path / "in.csv").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.csv"
    done = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(out), "--chunk-rows", "4", "--keep-columns", "note")
    assert done.exit_code == 4, done.output  # README: a batch with failed rows
    assert "Traceback" not in done.output and "UnicodeDecodeError" not in done.output
    reason = (
        "the row is not UTF-8 text (byte 0xe9 in column 'note'): save the file as UTF-8; "
        "its kept column 'note' is written with U+FFFD for the bytes that are not UTF-8"
    )
    assert f"row 4 (line 6 of in.csv): {reason}" in done.output
    failures = pd.read_csv(f"{out}.failures.csv")
    assert failures[["row", "line", "reason"]].values.tolist() == [[4, 6, reason]]
    result = pd.read_csv(out, keep_default_na=False)
    assert len(result) == 9 and result["prediction"].eq("").tolist() == [i == 4 for i in range(9)]
    assert result["note"][4] == "caf\ufffd"  # the kept column's text, its bad byte replaced (was blank)
    good = [i for i in range(9) if i != 4]
    assert result["prediction"].iloc[good].astype(int).tolist() == in_process(job, rows(9, 5).iloc[good])["prediction"].tolist()


def test_a_header_that_is_not_utf8_refuses_the_batch_naming_the_line(iris_job, tmp_path):
    job, root = iris_job
    body = rows(3).to_csv(index=False).encode().replace(b"sepal width", b"s\xe9pal width", 1)
    (tmp_path / "in.csv").write_bytes(body)
    before = _batch_folders(root)
    done = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"))
    assert done.exit_code == 4, done.output
    assert f"{tmp_path / 'in.csv'}:1: the header is not UTF-8 text (byte 0xe9)" in done.output
    assert "Traceback" not in done.output and _batch_folders(root) == before


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_a_header_only_input_gives_the_answer_header_and_no_rows(iris_job, tmp_path, name):
    """The output was an empty file: a reader of it (pandas, a join) found no columns at all."""
    job, _ = iris_job
    (tmp_path / "in.csv").write_text("id," + ",".join(FEATURES) + "\n")
    out = tmp_path / name
    done = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(out), "--keep-columns", "id", "--probabilities")
    assert done.exit_code == 0, done.output
    assert "0 rows scored" in done.output
    expected = ["id", *in_process(job, rows(3), probabilities=True).columns]  # prediction, proba_0, proba_1, proba_2
    if name.endswith(".csv"):
        assert out.read_text() == ",".join(expected) + "\n"
    else:
        table = pd.read_parquet(out)
        assert list(table.columns) == expected and len(table) == 0
    assert not Path(f"{out}.failures.csv").exists()


@pytest.mark.slow
def test_a_killed_batch_keeps_its_partial_output_private_and_the_rerun_puts_it_in_place(iris_job, tmp_path):
    """kill -9 left the CSV written so far as `.out.csv.tmp` beside the output (mode 0644) until the rerun."""
    import subprocess

    from .test_local_batch import EXE, kill_midway

    job, root = iris_job
    rows(40_000, 4).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    env = {**os.environ, "CLOUDAUTO_HOME": str(root / "home")}
    argv = [EXE, "predict", job.id, str(tmp_path / "in.csv"), "-o", str(out), "--chunk-rows", "1000"]
    folder = kill_midway(argv, env, root, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # nothing beside the output
    partial = folder / "output.tmp"
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600  # the rows so far, private (still in its buffer or not)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"] and not partial.exists()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # the user's file, made as their other files are
    assert len(pd.read_csv(out)) == 40_000


def test_a_temporary_output_on_another_device_falls_back_beside_the_output(tmp_path, monkeypatch):
    """A rename across devices is a copy: there the temporary file is beside the output (hidden, 0600) instead."""
    from cloudauto.runtime import batch_io

    private, out = tmp_path / "batch", tmp_path / "o" / "out.csv"
    private.mkdir()
    out.parent.mkdir()
    assert batch_io.temp_path(out, private) == private / "output.tmp"
    monkeypatch.setattr(batch_io, "same_device", lambda a, b: False)
    beside = batch_io.temp_path(out, private)
    assert beside == out.with_name(".out.csv.tmp")
    out.with_name(".out.csv.tmp").write_text("stale")
    os.chmod(beside, 0o644)
    with batch_io.private_file(beside) as fh:
        fh.write(b"x")
    assert stat.S_IMODE(beside.stat().st_mode) == 0o600 and beside.read_bytes() == b"x"


def test_a_completed_batch_keeps_no_working_state_and_prune_removes_ended_batches(iris_job, tmp_path):
    """`batches/` only grew (every chunk twice, as Parquet and CSV) until the job was deleted."""
    from cloudauto_local.batch import LocalBatchJob, batches_dir

    job, _ = iris_job
    rows(30, 6).to_csv(tmp_path / "in.csv", index=False)
    done = job.predict_batch(tmp_path / "in.csv", tmp_path / "done.csv", chunk_rows=10)
    assert done.wait(progress=False) is JobStatus.COMPLETED, done.logs()
    assert not (done.dir / "parts").exists()  # the output is in place: its parts went
    written = (tmp_path / "done.csv").read_bytes()
    again = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "done.csv"), "--chunk-rows", "10")
    assert again.exit_code == 0 and (tmp_path / "done.csv").read_bytes() == written  # still found: left as it is
    (tmp_path / "done.csv").write_text("edited\n")
    again = _cli("predict", job.id, str(tmp_path / "in.csv"), "-o", str(tmp_path / "done.csv"), "--chunk-rows", "10")
    assert again.exit_code == 0 and (tmp_path / "done.csv").read_bytes() == written  # scored again

    # an interrupted batch: its runner gone, a temporary output left beside its output (a home on another device)
    cut = job.predict_batch(tmp_path / "in.csv", tmp_path / "cut.csv", chunk_rows=10, workers=1)
    assert cut.wait(progress=False) is JobStatus.COMPLETED
    (cut.dir / "state.json").write_text(json.dumps({"status": "running"}))
    (cut.dir / "pid.json").write_text(json.dumps({"pid": 2**22 + 7, "start": 1}))
    left = tmp_path / ".cut.csv.tmp"
    left.write_text("sepal")
    assert LocalBatchJob(cut.dir).status() is JobStatus.INTERRUPTED

    listed = _cli("prune", "--older-than", "1h", "--keep-best")
    assert listed.exit_code == 0 and "batch " not in listed.output and done.dir.exists() and left.exists()
    dry = _cli("prune", "--older-than", "0s", "--keep-best", "--dry-run")
    assert f"would remove batch {done.id} (completed, {tmp_path / 'done.csv'})" in dry.output
    assert f"would remove batch {cut.id} (interrupted, {tmp_path / 'cut.csv'})" in dry.output
    assert done.dir.exists() and cut.dir.exists() and left.exists()
    pruned = _cli("prune", "--older-than", "0s", "--keep-best")
    assert pruned.exit_code == 0, pruned.output
    assert f"removed batch {done.id}" in pruned.output and f"removed batch {cut.id}" in pruned.output
    assert not done.dir.exists() and not cut.dir.exists() and not left.exists()
    assert (tmp_path / "done.csv").read_bytes() == written  # the outputs stay
    assert {p.name for p in batches_dir().iterdir()}.isdisjoint({done.id, cut.id})


def test_prune_leaves_a_running_batch_alone(iris_job, tmp_path):
    job, _ = iris_job
    rows(200_000, 2).to_csv(tmp_path / "in.csv", index=False)
    batch = job.predict_batch(tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=20_000, workers=1)
    pruned = _cli("prune", "--older-than", "0s", "--keep-best")
    assert pruned.exit_code == 0 and batch.id not in pruned.output
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert len(pd.read_csv(tmp_path / "out.csv")) == 200_000


def test_init_and_the_data_check_read_a_byte_order_mark_as_the_batch_does(tmp_path):
    """The same table as Excel saves it: init finds its first column by name, validate checks it, a twice-named first
    column is caught whether a BOM is before it or not."""
    from ..test_cli import run

    frame = rows(40, 8).assign(kind=["a", "b"] * 20)[["kind", *FEATURES]]
    (tmp_path / "bom.csv").write_bytes(BOM + frame.to_csv(index=False).encode())
    made = run("init", str(tmp_path / "bom.csv"), "--label", "kind", "-o", str(tmp_path / "spec.yaml"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert 'label: "kind"' in (tmp_path / "spec.yaml").read_text() or "label: kind" in (tmp_path / "spec.yaml").read_text()
    checked = run("validate", str(tmp_path / "spec.yaml"), cwd=tmp_path)
    assert checked.returncode == 0 and "\ufeff" not in checked.stderr, checked.stderr
    twice = frame.rename(columns={FEATURES[0]: "kind"})
    (tmp_path / "twice.csv").write_bytes(BOM + twice.to_csv(index=False).encode())
    refused = run("init", str(tmp_path / "twice.csv"), "--label", "kind", "-o", str(tmp_path / "t.yaml"), cwd=tmp_path)
    assert refused.returncode != 0 and "kind" in refused.stderr and "twice" in refused.stderr, refused.stderr


def test_chunks_read_while_the_model_loads_come_in_order_and_leave_no_thread_before_the_fork(tmp_path):
    """The runner reads its first chunks in a thread while it loads the model: the chunks come in input order, the
    ones already written are skipped without being held, an error met reading ahead comes where its chunk would,
    and once joined no thread of it is left to make forking the workers unsafe."""
    import threading

    from cloudauto_local import batch

    source = tmp_path / "rows.csv"
    rows(10).to_csv(source, index=False)
    expected = [(i, name, first, len(frame)) for i, (name, first, frame) in enumerate(batch.chunks([str(source)], 3))]
    before = (threading.active_count(), batch._fork_refused())  # what this test process runs anyway
    ahead = batch._Prefetch(enumerate(batch.chunks([str(source)], 3)), {0, 2}, 1)
    ahead.join()
    assert (threading.active_count(), batch._fork_refused()) == before
    assert [i for i, _ in ahead.ready] == [0, 1]  # read ahead up to the first chunk to score, no further
    got = list(ahead)
    assert [(i, name, first, None if frame is None else len(frame)) for i, (name, first, frame) in got] == [
        (i, name, first, None if i == 0 else n) for i, name, first, n in expected  # a written chunk is not held
    ]

    def failing():
        yield 0, (str(source), 0, rows(1))
        raise batch.InputChanged(str(source))

    ahead = batch._Prefetch(failing(), set(), 4)
    ahead.join()
    seen = []
    with pytest.raises(batch.InputChanged):
        for index, _ in ahead:
            seen.append(index)
    assert seen == [0]

    ahead = batch._Prefetch(enumerate(batch.chunks([str(source)], 3)), set(), 0)  # nothing read ahead: no thread
    ahead.join()
    assert ahead.thread.ident is None and len(list(ahead)) == 4


def test_a_parquet_input_is_not_read_ahead_so_its_workers_are_still_forked(iris_job, tmp_path):
    """Reading Parquet starts Arrow's thread pool: read ahead while the model loads, it made the runner spawn its
    workers (each loading the model) instead of forking them."""
    job, _ = iris_job
    rows(3000, 3).to_parquet(tmp_path / "in.parquet", index=False)
    batch = job.predict_batch(tmp_path / "in.parquet", tmp_path / "out.csv", chunk_rows=1000, workers=2)
    assert batch.wait(progress=False) is JobStatus.COMPLETED, batch.logs()
    assert "workers: forked from the model loaded once" in batch.logs()
    assert len(pd.read_csv(tmp_path / "out.csv")) == 3000
