"""`cloudauto predict`: a batch scored with a job's model, without an endpoint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import click

from .app import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    _job,
    _plural,
    backend_option,
    echo,
    main,
)


def _check_batch_paths(source: Path, output: Path) -> None:
    """predict's input and -o as a usage question (64), before any job is read or batch started."""
    from ..backend import BatchError
    from ..runtime.batch_io import check_output, input_files, output_path

    if output.is_dir():
        raise click.UsageError(f"-o {output}: is a folder; name the output file (a .csv or .parquet file)")
    if not output.resolve().parent.is_dir():
        raise click.UsageError(f"-o {output}: there is no folder {output.resolve().parent}")
    try:
        out = output_path(output)
        files = input_files(source)
    except BatchError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        check_output(source, out, files)
    except BatchError as exc:
        raise click.UsageError(f"-o {exc}") from None


@main.command()
@click.argument("job_id")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The output file (.csv or .parquet).")
@backend_option
@click.option("--trial", "trial", type=click.IntRange(min=0), help="Score with this trial's model (default: the best).")
@click.option("--probabilities", is_flag=True, help="Each class's probability too (proba_<class> columns).")
@click.option("--chunk-rows", type=click.IntRange(min=1), help="Local and Azure ML: rows per chunk (default 100000).")
@click.option("--workers", type=click.IntRange(min=1), help="Local backend: worker processes (default 2, or 1 on one core).")
@click.option("--instance-type", help="Cloud backends: the instance type that scores (default: CPU).")
@click.option(
    "--keep-columns",
    "keep",
    multiple=True,
    help="Input columns copied into the output in front of the predictions (an ID, to join rows back); comma-separated or repeated.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the batch to its end.")
def predict(
    job_id: str,
    input: Path,
    output: Path,
    backend: str,
    trial: Optional[int],
    probabilities: bool,
    chunk_rows: Optional[int],
    workers: Optional[int],
    instance_type: Optional[str],
    keep: tuple[str, ...],
    wait: bool,
) -> int:
    """Score a file (CSV, Parquet, or a folder of them) with a job's model, without an endpoint.

    Running the same command again after an interruption carries on from the chunks written.
    """
    if backend != "local" and workers:
        raise click.UsageError(f"--workers does not apply to the {backend} backend")
    if backend == "sagemaker" and chunk_rows:
        raise click.UsageError("--chunk-rows does not apply to SageMaker (it splits the input into lines itself)")
    if backend != "sagemaker" and instance_type:
        raise click.UsageError(f"--instance-type does not apply to the {backend} backend")
    if backend == "azureml" and not wait:  # the reader's manifest lives in this process: nothing could pick it up later
        raise click.UsageError("--no-wait: an Azure ML batch is read back by the command that started it; let it wait")
    keep_columns = [c.strip() for item in keep for c in item.split(",") if c.strip()]
    if keep_columns:
        from ..runtime.batch_io import is_uri

        if backend != "local" and is_uri(input):  # click's Path made s3://b/k into s3:/b/k: the user's spelling, back
            from ..backend import keep_columns_refusal

            source = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+):/+", r"\1://", str(input))
            raise click.UsageError("--keep-columns: " + keep_columns_refusal(backend, source, job_id, keep_columns))
        from ..scoring import kept_problem

        problem = kept_problem(keep_columns)
        if problem:
            raise click.UsageError(f"--keep-columns: {problem}")
    _check_batch_paths(input, output)  # before a batch is started, not after
    job = _job(backend, job_id)
    job.refuse_forecasting_batch()
    chosen = {
        "trial": trial,
        "chunk_rows": chunk_rows,
        "workers": workers,
        "instance_type": instance_type,
        "keep_columns": keep_columns or None,
    }
    options = {k: v for k, v in chosen.items() if v is not None}
    batch = job.predict_batch(input, output, probabilities=probabilities, **options)
    echo(f"batch {batch.id}: {batch.status().value} -> {batch.output}", err=True)
    if not wait:
        echo(batch.id)
        return EXIT_OK
    status = batch.wait()
    failures = batch.failures()
    for failure in failures[:10]:
        echo(f"{failure.where}: {failure.reason}", err=True)
    if len(failures) > 10:
        echo(f"... and {_plural(len(failures) - 10, 'more row')}", err=True)
    reason = _batch_summary(batch, status.value, len(failures))
    echo(f"batch {batch.id}: {status.value}" + (f" ({reason})" if reason else ""), err=True)
    return EXIT_OK if status.value == "completed" and not failures else EXIT_JOB_FAILED


def _batch_summary(batch: Any, status: str, failed: int) -> str:
    """The batch's own reason; for a service's completed batch (whose status says nothing of rows) the counts of the file written."""
    reason = batch.status_reason() or ""
    if reason or status != "completed":
        return reason
    from ..runtime.batch_io import FAILURES_SUFFIX

    rows = batch.expected_rows() if hasattr(batch, "expected_rows") else None
    scored = f"{_plural(rows - failed, 'row')} scored into {batch.output}" if rows is not None else f"written to {batch.output}"
    return scored + (f"; {_plural(failed, 'row')} failed (see {batch.output}{FAILURES_SUFFIX})" if failed else "")
