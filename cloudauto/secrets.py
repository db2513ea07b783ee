"""Keep credentials out of what cloudauto writes: result files, summaries, printed logs, compiled jobs.

A CI job hands cloudauto its keys, tokens and role ARNs through the environment. Each of
those values, wherever it would be printed or written, becomes `<secret:NAME>`: the reader
learns which variable was there, never its value. What counts as a secret is decided by the
variable's name (KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL, ROLE, ARN, SAS, AUTH ...) and by the
value's shape (an IAM role ARN, whatever its variable is called).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional

SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|ROLE|ARN|CONNECTION_STRING|(^|_)SAS($|_)|(^|_)AUTH|COOKIE|SIGNATURE|PRIVATE)",
    re.I,
)
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::(?!000000000000)\d{12}:role/[\w+=,.@/-]+")  # 0...0: a placeholder
# names that match the pattern but hold no secret (paths, switches), and values too short to be one
NOT_SECRET_NAMES = frozenset({"KEYRING_BACKEND", "PYTHON_KEYRING_BACKEND", "SSH_AUTH_SOCK", "GPG_AGENT_INFO"})
MIN_LENGTH = 8
_PLAIN = frozenset({"true", "false", "yes", "no", "none", "null"})


def is_secret_name(name: str) -> bool:
    return name not in NOT_SECRET_NAMES and bool(SECRET_NAME.search(name))


def secrets_in(env: Mapping[str, str]) -> dict[str, str]:
    """value -> variable name, for every variable of `env` that holds a secret."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(value, str) or len(value) < MIN_LENGTH or value.lower() in _PLAIN:
            continue
        if is_secret_name(name) or ROLE_ARN.fullmatch(value.strip()):
            found.setdefault(value, name)
    return found


class Redactor:
    """Replaces every known secret value (the longest first) in text, and any role ARN."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, extra: Iterable[tuple[str, str]] = ()):
        self.values = secrets_in({**(os.environ if env is None else env), **dict(extra)})
        ordered = sorted(self.values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: f"<secret:{self.values[m.group(0)]}>", text)
        return ROLE_ARN.sub("<secret:role-arn>", text)

    def data(self, value: Any) -> Any:
        """The same for the strings inside JSON-like data (dicts, lists)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def redactor(spec: Any = None) -> Redactor:
    """A redactor for this process's environment and, when given, the secrets a spec took from it."""
    return Redactor(extra=getattr(spec, "_interpolated", {}).items() if spec is not None else ())


__all__ = ["ROLE_ARN", "Redactor", "is_secret_name", "redactor", "secrets_in"]
