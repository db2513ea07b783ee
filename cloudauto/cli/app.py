"""The `cloudauto` group, its exit codes and the options and helpers every noun's commands share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

import click

from ..spec.errors import CloudautoError, SpecIssue

EXIT_OK, EXIT_INVALID, EXIT_BACKEND, EXIT_NOT_INSTALLED, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3, 4, 64, 70


EXIT_STILL_RUNNING = 6  # --timeout passed: cloudauto stopped waiting, the job goes on


_secrets_seen: dict[str, str] = {}  # ${NAME} values of the specs this command loaded


_redact_cache: list[Any] = []


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """click.echo, with every secret of the environment (and of the specs read) replaced: nothing printed leaks a key."""
    from ..secrets import Redactor, remembered

    seen = {**remembered(), **_secrets_seen}  # also the ${NAME} values of a job's stored spec, read again
    if not _redact_cache or _redact_cache[0] != len(seen):
        _redact_cache[:] = [len(seen), Redactor(extra=seen.items())]
    click.echo(_redact_cache[1](str(message)), err=err, nl=nl)


@contextmanager
def pydantic_plugins_off() -> Iterator[None]:
    """Load specs without looking for pydantic plugins: the lookup reads every installed distribution's entry
    points (5 ms core-only, 17-27 ms in a full install), for plugins that would only watch cloudauto's own models.
    Only the CLI does this, and only around its own loading: `import cloudauto` leaves a library user's plugins
    alone, a value the user set is kept, and the variable is gone again before anything can start a child process
    (a trial's script may use pydantic with its plugins)."""
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ:
        yield
        return
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)


def _remember_secrets(spec: Any) -> Any:
    _secrets_seen.update(getattr(spec, "_interpolated", {}))
    return spec


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a field, e.g. --set limits.max_trials=5 (repeatable).",
)


# command -> the module of this package that defines it: a command's module is imported when it is run, so
# `validate` and `compile` do not build the other 27 commands (tests/test_cli.py checks the table is whole)
COMMANDS = {
    **dict.fromkeys(("backends", "compile", "schema", "validate"), "specs"),
    **dict.fromkeys(
        ("best", "cancel", "leaderboard", "logs", "mlflow", "report", "resume", "run", "runs", "status", "submit", "trials"),
        "jobs",
    ),
    **dict.fromkeys(("delete-endpoint", "deploy", "endpoints", "score"), "endpoints"),
    **dict.fromkeys(("delete", "prune"), "housekeeping"),
    **dict.fromkeys(("cost", "prices"), "prices"),
    **dict.fromkeys(("setup", "teardown"), "setup"),
    "doctor": "doctor",
    "init": "init",
    "predict": "batch",
}


class _Commands(dict):
    """The group's commands, each module imported on first use; listing them (help, docs) imports them all."""

    def _load(self, name: Optional[str] = None) -> None:
        import importlib

        for command, module in COMMANDS.items():
            if (name is None or command == name) and not dict.__contains__(self, command):
                importlib.import_module(f"{__package__}.{module}")

    def get(self, name: str, default: Any = None) -> Any:
        self._load(name)
        return dict.get(self, name, default)

    def __getitem__(self, name: str) -> Any:
        self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._load(name)
        return dict.__contains__(self, name)

    def __iter__(self) -> Any:
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._load()
        return dict.keys(self)

    def values(self) -> Any:
        self._load()
        return dict.values(self)

    def items(self) -> Any:
        self._load()
        return dict.items(self)


CONSOLE = False  # whether this process is the `cloudauto` command (it exits when the command returns)


class _Group(click.Group):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D401
        global CONSOLE
        CONSOLE = not args and "args" not in kwargs  # the `cloudauto` process itself, not a caller's (CliRunner)
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:  # also "no arguments": show() prints the help
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            echo("aborted", err=True)
            sys.exit(130)
        except CloudautoError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # a bug, not a user mistake
            if os.environ.get("CLOUDAUTO_DEBUG"):
                raise
            echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "this is a bug in cloudauto; rerun with CLOUDAUTO_DEBUG=1 for the traceback",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudauto", message="cloudauto %(version)s")
def main() -> None:
    """cloudauto: one AutoML job spec for local, SageMaker and Azure ML."""


changed_since_option = click.option(
    "--changed-since",
    metavar="REF",
    help="Only specs changed since this git ref (committed, uncommitted or untracked), e.g. origin/main.",
)


files_argument = click.argument("files", nargs=-1, required=True)


backend_option = click.option(
    "-b",
    "--backend",
    default="local",
    show_default=True,
    envvar="CLOUDAUTO_BACKEND",
    help="The job's backend (or CLOUDAUTO_BACKEND).",
)


submit_backend_option = click.option(
    "-b",
    "--backend",
    default=None,
    envvar="CLOUDAUTO_BACKEND",
    help="The job's backend; default CLOUDAUTO_BACKEND, else the spec's backend:, else local.",
)


def chosen_backend(given: Optional[str], spec: Any) -> str:
    """--backend (or CLOUDAUTO_BACKEND, which click reads into it) > the spec's `backend:` > local."""
    return given or getattr(spec, "backend", None) or "local"


def _job(backend: str, job_id: str):
    """The job JOB names, for every command that takes one (cloudauto.attach reads it: an id, a unique start of one,
    `latest` or `NAME@latest`)."""
    from ..api import LATEST, attach

    job = attach(job_id, backend)
    if job_id == LATEST or job_id.endswith("@" + LATEST):
        # latest is the newest job of the home, another shell's perhaps: say which one this command acts on
        click.echo(f"{job_id} is job {job.id}", err=True)
    return job


def _duration(option: str, text: Optional[str], *, zero_ok: bool = False) -> Optional[float]:
    from ..spec.types import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, zero_ok=zero_ok)
    except ValueError as exc:
        raise click.UsageError(f"{option} {text}: {exc}") from None


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _print_issues(issues: list[SpecIssue], fmt: str, out: Callable[[str], None]) -> None:
    for issue in issues:
        out(issue.github() if fmt == "github" else str(issue))
