"""Filling `${{sweep.<param>}}` placeholders of `command.run` for one trial.

Locally the command is split like a shell would split it and then run without a shell,
each value landing inside its argument verbatim, so no value can add an argument or run
anything. For backends that run the line in a shell (SageMaker, Azure ML) `command_line`
quotes every value.
"""

from __future__ import annotations

import shlex
from typing import Any

from .spec.rules import PLACEHOLDER


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def _fill(token: str, params: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda match: _text(params[match.group(1).split(".", 1)[1]]), token)


def command_argv(run: str, params: dict[str, Any]) -> list[str]:
    """argv for one trial; placeholders are filled inside the tokens after splitting."""
    return [_fill(token, params) for token in shlex.split(run)]


def command_line(run: str, params: dict[str, Any]) -> str:
    """The same command as one shell-safe line (every filled value quoted)."""
    return shlex.join(command_argv(run, params))


__all__ = ["command_argv", "command_line"]
