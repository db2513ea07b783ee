"""`cloudauto init DATA --label COLUMN`: a commented first spec from a table (the inference is cloudauto.init_spec)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import click

from .app import EXIT_OK, echo, main


@main.command()
@click.argument("table", type=click.Path(path_type=Path))
@click.option("--label", required=True, help="The column to predict.")
@click.option(
    "--task",
    type=click.Choice(
        ["tabular_classification", "tabular_regression", "time_series_forecasting", "classification", "regression", "forecasting"]
    ),
    help="Default: inferred from the label (classes or numbers) and a column of dates.",
)
@click.option("--timestamp", help="Forecasts: the column of dates (default: inferred).")
@click.option("--item-id", "item_id", help="Forecasts: the column naming each series (default: inferred).")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="The spec to write (default: <table name>.yaml here; - prints it)."
)
@click.option("--force", is_flag=True, help="Overwrite the -o file.")
def init(
    table: Path,
    label: str,
    task: Optional[str],
    timestamp: Optional[str],
    item_id: Optional[str],
    output: Optional[Path],
    force: bool,
) -> int:
    """Write a commented spec for a table: task, metric, sweep and limits inferred, each said with why."""
    from ..backend import DataCheckError
    from ..init_spec import InitError, data_reference, infer, read, render, slug
    from ..runtime.data_check import data_issues
    from ..spec.errors import SpecError
    from ..spec.loader import load_spec_text

    to_stdout = output is not None and str(output) == "-"
    target = None if to_stdout else output or Path(f"{slug(table.stem)}.yaml")
    if target is not None:
        if target.is_dir():
            raise click.UsageError(f"-o {target}: a folder; name the spec file to write")
        if not target.resolve().parent.is_dir():
            raise click.UsageError(f"-o {target}: there is no folder {target.resolve().parent}")
        if _same_file(target, table):
            raise click.UsageError(f"-o {target} is the table {table}: name another file for the spec (--force or not)")
        if target.exists() and not force:
            raise click.UsageError(f"{target} exists; give --force to overwrite it, or another -o")
    frame = read(table)
    found = infer(frame, label, shown=str(table), task=task, timestamp=timestamp, item_id=item_id)
    text = render(found, data_reference(table, target), slug(table.stem), str(table))
    where = target.resolve() if target is not None else Path.cwd() / "spec.yaml"
    try:  # what is written validates and fits its data, or nothing is written
        spec = load_spec_text(text, source=str(where))
        problems = data_issues(spec)
    except SpecError as exc:
        raise InitError(f"the spec inferred for {table} does not validate (a bug: please report it):\n{exc}") from None
    if problems:
        raise InitError(str(DataCheckError("local", problems)))
    for reason in found.reasons:
        echo(f"init: {reason}", err=True)
    if target is None:
        echo(text, nl=False)
        return EXIT_OK
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if not force and target.exists():  # another init wrote it meanwhile
            raise click.UsageError(f"{target} exists; give --force to overwrite it, or another -o")
        tmp.replace(target)
    except OSError as exc:
        raise InitError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    echo(f"wrote {target}: check it with cloudauto validate {target}, run it with cloudauto run {target}", err=True)
    return EXIT_OK


def _same_file(target: Path, table: Path) -> bool:
    """Whether writing `target` would overwrite `table`: one path resolved, or one file by a symlink or a hard link."""
    if target.resolve() == table.resolve():
        return True
    try:
        return os.path.samefile(target, table)
    except OSError:  # one of them does not exist: not one file
        return False
