"""Keep credentials out of what cloudauto prints and keeps: output, logs, result files, the run store.

A CI job hands cloudauto its keys, tokens and role ARNs through the environment, and a spec
pulls values in with `${NAME}`. Printed or kept, each such value becomes `<secret:NAME>`: the
reader learns which variable was there, never its value. A value counts when it has at least
8 characters and either its variable's name holds a credential word (KEY, TOKEN, SECRET,
PASSWORD, PW, CREDENTIAL, SAS, AUTH, COOKIE, SIGNATURE, PRIVATE ...) or an identifier word
(ROLE, ARN), or the value has the shape of an IAM role ARN, or it came into the spec from a
`${NAME}` reference, whatever the name. Names are matched by their words (split on `_`,
non-alphanumerics and camelCase), so LEARNING_RATE or PYTHONWARNINGS hold no ARN.

A file written for a service to read (`compile -o`) is different: it must be submittable as
it is, so identifiers (role ARNs, bucket names from `${NAME}`) are written as they are, and
only credentials are replaced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional

CREDENTIAL_WORDS = frozenset(
    {
        "KEY", "KEYS", "APIKEY", "ACCESSKEY", "PRIVATEKEY", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD",
        "PASSWORDS", "PASSWD", "PASSPHRASE", "PASS", "PW", "PWD", "CREDENTIAL", "CREDENTIALS", "CREDS", "SAS",
        "AUTH", "COOKIE", "COOKIES", "SIGNATURE", "PRIVATE",
    }
)  # fmt: skip
IDENTIFIER_WORDS = frozenset({"ROLE", "ARN"})  # not credentials, but not every reader's business either
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::(?!000000000000)\d{12}:role/[\w+=,.@/-]+")  # 0...0: a placeholder
# names with a secret-looking word that hold no secret (paths, sockets, switches)
NOT_SECRET_NAMES = frozenset({"SSH_AUTH_SOCK", "GPG_AGENT_INFO", "PWD", "OLDPWD", "KEYRING_BACKEND", "PYTHON_KEYRING_BACKEND"})
MIN_LENGTH = 8
_PLAIN = frozenset({"true", "false", "yes", "no", "none", "null"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def name_words(name: str) -> set[str]:
    """The words of a variable's name, upper-cased: `hfApiToken` and `HF_API_TOKEN` both give HF, API, TOKEN."""
    return {w.upper() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)}


def is_credential_name(name: str) -> bool:
    words = name_words(name)
    return name not in NOT_SECRET_NAMES and (bool(words & CREDENTIAL_WORDS) or {"CONNECTION", "STRING"} <= words)


def is_secret_name(name: str) -> bool:
    """A credential's name, or an identifier's (ROLE, ARN) that printed output keeps masking."""
    return is_credential_name(name) or (name not in NOT_SECRET_NAMES and bool(name_words(name) & IDENTIFIER_WORDS))


def long_enough(value: Any) -> bool:
    """Too short a value (or a plain word) is not treated as a secret: replacing it would mangle every text."""
    return isinstance(value, str) and len(value) >= MIN_LENGTH and value.lower() not in _PLAIN


def secrets_in(env: Mapping[str, str], *, identifiers: bool = True) -> dict[str, str]:
    """value -> variable name, for every variable of `env` that holds a secret (a credential only, without `identifiers`)."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if not long_enough(value):
            continue
        if is_credential_name(name) or (identifiers and (is_secret_name(name) or ROLE_ARN.fullmatch(value.strip()))):
            found.setdefault(value, name)
    return found


_remembered: dict[str, str] = {}  # ${NAME} values this process read into a spec


def remember(values: Mapping[str, str]) -> None:
    """Values a spec of this process took from `${NAME}`: every redactor of the process hides them from now on."""
    _remembered.update(values)


def remembered() -> dict[str, str]:
    return dict(_remembered)


class Redactor:
    """Replaces every known secret value (the longest first) in text, and any role ARN.

    `extra` are the `${NAME}` values a spec took from the environment: each is hidden whatever
    its name. With `identifiers=False` (a file written for a service) only credentials are.
    """

    def __init__(
        self, env: Optional[Mapping[str, str]] = None, extra: Iterable[tuple[str, str]] = (), *, identifiers: bool = True
    ):
        extra = {**(_remembered if env is None else {}), **dict(extra)}
        self.identifiers = identifiers
        self.values = secrets_in({**(os.environ if env is None else env), **extra}, identifiers=identifiers)
        for name, value in extra.items():
            if long_enough(value) and (identifiers or is_credential_name(name)):
                self.values.setdefault(value, name)
        ordered = sorted(self.values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: f"<secret:{self.values[m.group(0)]}>", text)
        return ROLE_ARN.sub("<secret:role-arn>", text) if self.identifiers else text

    def data(self, value: Any) -> Any:
        """The same for the strings inside JSON-like data (dicts, lists)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def redactor(spec: Any = None, *, identifiers: bool = True) -> Redactor:
    """A redactor for this process's environment and, when given, the secrets a spec took from it."""
    return Redactor(extra=getattr(spec, "_interpolated", {}).items() if spec is not None else (), identifiers=identifiers)


__all__ = [
    "ROLE_ARN",
    "Redactor",
    "is_credential_name",
    "is_secret_name",
    "long_enough",
    "name_words",
    "redactor",
    "remember",
    "remembered",
    "secrets_in",
]
