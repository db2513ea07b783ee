"""Commands on endpoints: deploy, score, list and delete."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError
from .app import (
    EXIT_OK,
    _duration,
    _job,
    backend_option,
    echo,
    main,
)
from .outcome import (
    _planned,
    _step_outputs,
)


def _say_hourly(backend: str, name: str) -> None:
    """What the endpoint bills per hour, as `cloudauto endpoints` lists it (a lookup that fails is not the deploy's failure)."""
    from ..registry import get_backend

    try:
        info = next((i for i in get_backend(backend).list_endpoints() if i.name == name), None)
    except CloudautoError as exc:
        echo(f"note: the endpoint's hourly cost is not known: {exc}", err=True)
        return
    if info is None:
        return
    if info.usd_per_unit is None and info.instance_type and info.instance_type != "serverless":
        _refresh_hosting_price(info)
    if info.usd_per_unit:
        rates = ", ".join(f"${usd:g}/{unit}" for unit, usd in info.usd_per_unit.items())
        echo(f"note: serverless, billed per use: {rates} ({info.price_source})", err=True)
    elif info.usd_per_hour is None:
        echo(
            f"note: {info.instance_count} × {info.instance_type}: no price known "
            f"(cloudauto prices update reads it; or set a hosting price in a CLOUDAUTO_PRICES file); it bills until deleted"
            + ("" if info.expires else ": deploy --ttl sets an expiry"),
            err=True,
        )
    else:
        expiry = f"; expires {info.to_dict()['expires']}" if info.expires else "; no expiry (deploy --ttl sets one)"
        echo(f"note: ${info.usd_per_hour:g}/hour ({info.price_source}){expiry}", err=True)


def _refresh_hosting_price(info: Any) -> None:
    """deploy is online anyway: a missing or stale cached hosting price of its one instance type is read again, and said."""
    from ..cost import lookup
    from ..endpoints import priced
    from ..prices import refresh

    known = lookup(info.backend, "hosting", info.instance_type, info.region)
    if known is not None and not known.stale:
        return
    said = refresh(info.backend, "hosting", info.instance_type, info.region)
    if said:
        echo(said, err=True)
        priced(info, info.region)


@main.command()
@click.argument("job_id")
@backend_option
@click.option("--name", help="Endpoint name (default: the spec's name).")
@click.option("--trial", "trial", type=click.IntRange(min=0), help="Serve this trial's model (default: the best trial's).")
@click.option("--port", type=int, help="Local port (default: a free one).")
@click.option("--key", envvar="CLOUDAUTO_ENDPOINT_KEY", help="Require this bearer key (or CLOUDAUTO_ENDPOINT_KEY).")
@click.option(
    "--instance-type",
    help="Cloud backends: the serving instance type (default: CPU, or GPU for image and text tasks and for a served "
    "trial that fits a foundation model).",
)
@click.option("--serverless", is_flag=True, help="SageMaker: a serverless endpoint (billed per request, no instance).")
@click.option("--memory", "memory_mb", type=int, help="SageMaker serverless: memory in MB (1024-6144 in steps of 1024; 4096).")
@click.option("--max-concurrency", type=int, help="SageMaker serverless: requests served at once (1-200; default 5).")
@click.option("--mode", type=click.Choice(["process", "docker"]), help="Local backend: serve in a process or a container.")
@click.option("--image", help="Local docker mode: the serving image (default: the job's image).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Local backend: model copies in worker processes, each request to a free one (default 1).",
)
@click.option(
    "--result",
    "result",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add the endpoint to this result file (written by submit/run --result), or write one.",
)
@click.option(
    "--ttl", metavar="DURATION", help="Expire after this long (8h, 30m): tagged, and listed by cloudauto endpoints --expired."
)
def deploy(
    job_id: str,
    backend: str,
    name: Optional[str],
    trial: Optional[int],
    port: Optional[int],
    key: Optional[str],
    instance_type: Optional[str],
    serverless: bool,
    memory_mb: Optional[int],
    max_concurrency: Optional[int],
    mode: Optional[str],
    image: Optional[str],
    workers: Optional[int],
    result: Optional[Path],
    ttl: Optional[str],
) -> int:
    """Serve the best trial's model; print the endpoint's name and URL."""
    local_only = {"port": port, "key": key if backend == "local" else None, "mode": mode, "image": image, "workers": workers}
    cloud_only = {"instance_type": instance_type}
    serverless_options = {"serverless": serverless or None, "memory_mb": memory_mb, "max_concurrency": max_concurrency}
    given = [f"--{k.replace('_mb', '').replace('_', '-')}" for k, v in serverless_options.items() if v is not None]
    if given and backend != "sagemaker":
        raise click.UsageError(f"{', '.join(given)} is for SageMaker serverless endpoints, not the {backend} backend")
    cloud_only.update({k: v for k, v in serverless_options.items() if v is not None})
    wrong = [
        f"--{k.replace('_', '-')}"
        for k, v in (cloud_only if backend == "local" else {"port": port, "workers": workers}).items()
        if v is not None
    ]
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to the {backend} backend")
    if name is not None:
        _check_endpoint_name(backend, name)
    job = _job(backend, job_id)
    options = {
        k: v for k, v in {**local_only, **cloud_only, "trial": trial, "ttl": _duration("--ttl", ttl)}.items() if v is not None
    }
    if result is not None and not result.resolve().parent.is_dir():
        raise click.UsageError(f"--result {result}: there is no folder {result.resolve().parent}")
    endpoint = job.deploy(name=name, **options)
    echo(f"{endpoint.name}\t{getattr(endpoint, 'url', '')}")
    _say_hourly(backend, endpoint.name)
    _step_outputs(endpoint=endpoint.name)
    if result is not None:
        from .. import run_result

        earlier = run_result.read(result) if result.exists() else None
        if earlier is not None and earlier.job.id != job.id:
            raise CloudautoError(
                f"--result {result} is the result of job {earlier.job.id}, not {job.id}; the endpoint was deployed"
            )
        base = earlier or run_result.build(job, exit_code=EXIT_OK, planned=_planned(job))
        echo(f"wrote {run_result.write(run_result.with_endpoint(base, endpoint), result, spec=job.spec)}", err=True)
    return EXIT_OK


def _check_endpoint_name(backend: str, name: str) -> None:
    """`--name` as the backend's own rule takes it, before any job is read: a usage error (64), not an endpoint failure."""
    import importlib

    from ..registry import get_backend

    package = type(get_backend(backend)).__module__.rsplit(".", 1)[0]
    try:
        endpoint = importlib.import_module(f"{package}.endpoint")
    except ImportError:
        return
    checker = getattr(endpoint, "check_name", None)
    if checker is not None:
        try:
            checker(name)
        except CloudautoError as exc:
            raise click.UsageError(f"--name {exc}") from None
        return
    pattern = getattr(endpoint, "_NAME", None)
    if pattern is not None and not pattern.match(name):
        rule = _ENDPOINT_NAME_RULES.get(backend, "letters, digits and hyphens")
        raise click.UsageError(f"--name {name!r}: not an endpoint name; {rule}")


_ENDPOINT_NAME_RULES = {
    "sagemaker": "SageMaker takes 1-63 letters, digits and hyphens",
    "azureml": "Azure ML takes 3-32 letters, digits and hyphens, starting with a letter",
}


@main.command()
@click.argument("endpoint_name")
@click.argument("data", type=click.Path(path_type=Path))
@backend_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the predictions here: .parquet as Parquet, anything else as CSV (JSON for images).",
)
@click.option(
    "--draw",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Object detection: draw the returned boxes over the image as this PNG.",
)
@click.option("--min-score", type=float, default=0.0, show_default=True, help="With --draw: leave out boxes scored below this.")
@click.option(
    "--probabilities", is_flag=True, help="Classification: each class's probability too (proba_<class> columns beside the label)."
)
@click.option(
    "--keep-columns",
    "keep",
    multiple=True,
    help="Input columns copied in front of the predictions (an ID, to join rows back); comma-separated or repeated.",
)
def score(
    endpoint_name: str,
    data: Path,
    backend: str,
    output: Optional[Path],
    draw: Optional[Path],
    min_score: float,
    probabilities: bool,
    keep: tuple[str, ...],
) -> int:
    """Score a CSV, Parquet, JSON (records) or JSON-lines file (or an image, on image endpoints); print the predictions.

    A row with more or fewer fields than the header, or no values, is refused naming its row
    (from 0 after the header) and its line in the file; so is a file without rows (exit 5).
    """
    import json

    from ..registry import get_backend

    if not data.is_file():
        raise click.UsageError(f"{data}: no such file")
    for target, option in ((output, "--output"), (draw, "--draw")):  # before scoring, not after it
        if target is not None and not target.resolve().parent.is_dir():
            raise click.UsageError(f"{option} {target}: there is no folder {target.resolve().parent}")
    endpoint = get_backend(backend).endpoint(endpoint_name)
    if probabilities and "probabilities" not in inspect.signature(endpoint.score).parameters:
        raise click.UsageError(f"--probabilities: a {backend} endpoint returns the predicted labels only in this version")
    options: dict[str, Any] = {"probabilities": True} if probabilities else {}
    keep_columns = [c.strip() for item in keep for c in item.split(",") if c.strip()]
    if keep_columns:
        options["keep_columns"] = keep_columns
    predictions = endpoint.score(data, **options)
    parquet = output is not None and output.suffix.lower() in (".parquet", ".pq")
    if hasattr(predictions, "to_csv"):
        if draw:
            raise click.UsageError("--draw takes an image scored against an object-detection endpoint")
        text = predictions.to_csv(index=False)
        if parquet:
            return _write_parquet(predictions, output, text)
    else:
        text = json.dumps(predictions, indent=2) + "\n"
        if draw:
            from ..vision import draw_boxes

            echo(f"wrote {draw_boxes(data, predictions, draw, min_score=min_score)}", err=True)
    if output:
        try:
            output.write_text(text)
        except OSError as exc:  # the predictions are not lost: printed instead
            echo(text, nl=False)
            raise CloudautoError(f"cannot write {output} ({exc.strerror}); the predictions are printed above") from None
        echo(f"wrote the predictions to {output}", err=True)
    else:
        echo(text, nl=False)
    return EXIT_OK


def _write_parquet(predictions: Any, output: Path, text: str) -> int:
    """The predictions as a Parquet file, written whole (a temporary file renamed into place)."""
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        predictions.to_parquet(tmp, index=False)
        os.replace(tmp, output)
    except (OSError, ValueError) as exc:  # the predictions are not lost: printed instead
        tmp.unlink(missing_ok=True)
        echo(text, nl=False)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CloudautoError(f"cannot write {output} ({why}); the predictions are printed above") from None
    echo(f"wrote the predictions to {output} (Parquet)", err=True)
    return EXIT_OK


@main.command()
@click.option(
    "-b", "--backend", "backends_", multiple=True, help="Only these backends (repeatable; default: every installed one)."
)
@click.option("--expired", is_flag=True, help="Only the endpoints whose --ttl has passed.")
@click.option("--delete", is_flag=True, help="With --expired: delete them, and print what was removed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def endpoints(backends_: tuple[str, ...], expired: bool, delete: bool, fmt: str) -> int:
    """The live endpoints cloudauto deployed, on every installed backend: age, instances, hourly cost, expiry."""
    import time

    from ..backend import NotConfigured, NotSupportedError
    from ..endpoints import table
    from ..registry import available_backends, get_backend

    if delete and not expired:
        raise click.UsageError("--delete removes expired endpoints only: add --expired (delete-endpoint NAME removes one)")
    names = list(backends_) or sorted(available_backends())
    now, found, failed, skipped = time.time(), [], 0, []
    for name in names:
        try:
            found += get_backend(name).list_endpoints()
        except NotSupportedError:
            continue
        except NotConfigured as exc:  # a cloud with no account here: one line for all of them, below
            if backends_:
                raise
            parts = [p.strip() for p in str(exc).split(":")]
            skipped.append(f"{name} ({next((p for p in parts if p.startswith('no ')), parts[0])})")
        except CloudautoError as exc:  # one backend whose call failed does not hide the others
            if backends_:
                raise
            failed += 1
            echo(f"{name}: cannot list endpoints: {exc}", err=True)
    if skipped:
        echo(f"skipped, not configured here: {', '.join(skipped)}; cloudauto endpoints -b NAME says what to set", err=True)
    if expired:
        found = [info for info in found if info.expired(now)]
    if fmt == "json":
        echo(json.dumps([info.to_dict(now) for info in found], indent=2))
    elif found:
        echo(table(found, now))
    else:
        echo("no expired endpoints" if expired else "no endpoints", err=True)
    if delete:
        for info in found:
            endpoint = get_backend(info.backend).endpoint(info.name)
            if info.backend == "local":
                endpoint.delete(why="expired (deploy --ttl), removed by cloudauto endpoints --expired --delete")
            else:
                endpoint.delete()
            echo(f"deleted {info.name} ({info.backend}, expired at {info.to_dict(now)['expires']})", err=True)
    return EXIT_OK


@main.command(name="delete-endpoint")
@click.argument("endpoint_name")
@backend_option
def delete_endpoint(endpoint_name: str, backend: str) -> int:
    """Stop an endpoint and forget it."""
    from ..backend import EndpointGone
    from ..registry import get_backend

    try:
        endpoint = get_backend(backend).endpoint(endpoint_name)
    except EndpointGone as exc:  # deleted before: what was asked holds (exit 0)
        echo(f"endpoint '{endpoint_name}' was already deleted {exc.when}; nothing to do", err=True)
        return EXIT_OK
    endpoint.delete()
    echo(f"deleted {endpoint_name}")
    return EXIT_OK
