"""Small value types of the spec: durations, data URIs and slugs."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError


def _err(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message.format(**ctx))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: Any, *, zero_ok: bool = False) -> float:
    """`90s`, `30m`, `2h`, `1d` or a number of seconds -> seconds; `zero_ok` where 0 means "now" (prune's age)."""
    if isinstance(raw, bool):
        raise _err("duration", "a duration is like 90s, 30m, 2h or a number of seconds; got {raw}", raw=raw)
    if isinstance(raw, (int, float)):
        seconds = float(raw)
    elif isinstance(raw, str) and (match := _DURATION.match(raw)):
        unit = (match.group(2) or "s")[0].lower()
        seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    else:
        raise _err("duration", "a duration is like 90s, 30m, 2h or a number of seconds; got {raw!r}", raw=raw)
    if not math.isfinite(seconds):
        raise _err("duration", "must be a finite duration like 90s, 30m or 2h, got {raw!r}", raw=raw)
    if seconds < 0 or (seconds == 0 and not zero_ok):
        raise _err("duration", "a duration must be positive, got {raw!r}", raw=raw)
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "description": "90s, 30m, 2h, 1d or a number of seconds",
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": _DURATION.pattern}],
        }
    ),
]

def whole_number(raw: Any) -> int:
    """A count of steps: an int as written, never a boolean (`true` is not 1), a quoted string or a float."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if raw is None or isinstance(raw, bool):
        got = "null" if raw is None else str(raw).lower()
    elif isinstance(raw, str):
        got = f"the string {raw!r}" + (" (write it without quotes)" if raw.strip().lstrip("+-").isdigit() else "")
    elif isinstance(raw, float) and raw.is_integer():
        got = f"{raw!r} (write {int(raw)})"
    else:
        got = repr(raw)
    raise _err("whole_number", "a whole number is expected here, got {got}", got=got)


WholeNumber = Annotated[int, BeforeValidator(whole_number)]


def label_value(raw: Any) -> Any:
    """A value of a label column as YAML gives it: a string, a whole or decimal number (a label of 1.5/2.5) or
    true/false; one message for anything else, not one per member of the union."""
    if hasattr(raw, "item") and not isinstance(raw, (str, bytes)):
        raw = raw.item()  # a numpy scalar from from_dict
    if isinstance(raw, (bool, int, str)) or (isinstance(raw, float) and math.isfinite(raw)):
        return raw
    got = f"{raw!r} (not a finite number)" if isinstance(raw, float) else f"{type(raw).__name__} {raw!r}"
    raise _err("label_value", "a label value is expected here (a string, a number or true/false), got {got}", got=got)


LabelValue = Annotated[
    Union[bool, int, float, str],
    BeforeValidator(label_value),
    WithJsonSchema({"type": ["string", "number", "boolean"], "description": "A value of the label column"}),
]

URI_SCHEMES = ("s3", "azureml", "https", "http", "file", "wasbs", "abfss")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.S)
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def scheme_of(uri: str) -> str | None:
    """The URI scheme, or None for a plain path (a Windows drive letter is a path)."""
    match = _SCHEME.match(uri)
    if not match or len(match.group(1)) == 1:
        return None
    return match.group(1).lower()


def check_uri(raw: Any) -> str:
    if not isinstance(raw, str):
        raise _err("uri", "a data location is a string (a path or URI), got {got}", got=type(raw).__name__)
    uri = raw.strip()
    if not uri:
        raise _err("uri", "a data location must not be empty")
    if "\x00" in uri:
        raise _err("uri", "a data location must not contain NUL characters")
    scheme = scheme_of(uri)
    if scheme is None:
        return uri
    rest = uri.split(":", 1)[1]
    if scheme not in URI_SCHEMES:
        raise _err(
            "uri",
            "unsupported URI scheme '{scheme}://' in {uri!r}; use a path or one of: {valid}",
            scheme=scheme,
            uri=uri,
            valid=", ".join(f"{s}://" for s in URI_SCHEMES),
        )
    if scheme == "azureml":
        # azureml://datastores/... or an asset reference azureml:name:version / azureml:name@latest
        if not rest.startswith("//") and not re.match(r"^[A-Za-z0-9_.\-]+([:@][A-Za-z0-9_.\-]+)?$", rest):
            raise _err(
                "uri", "{uri!r} is neither azureml://datastores/<store>/paths/<path> nor azureml:<asset>:<version>", uri=uri
            )
        return uri
    if not rest.startswith("//"):
        raise _err("uri", "{uri!r}: expected {scheme}://...", uri=uri, scheme=scheme)
    authority = rest[2:].split("/", 1)[0]
    if scheme == "s3" and not _S3_BUCKET.match(authority):
        raise _err(
            "uri",
            "{uri!r}: '{bucket}' is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)",
            uri=uri,
            bucket=authority,
        )
    if scheme in ("https", "http", "wasbs", "abfss") and not authority:
        raise _err("uri", "{uri!r} has no host", uri=uri)
    return uri


DataURI = Annotated[
    str,
    BeforeValidator(check_uri),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "description": "A local path or a URI: " + ", ".join(f"{s}://" for s in URI_SCHEMES) + ", azureml:<asset>:<version>",
        }
    ),
]


def new_list() -> list:
    """An empty list, as a field's default_factory: pydantic reads a factory's signature when it builds a model, and
    `inspect.signature(list)` (a builtin's text signature) compiles the tokenizer's regex, ~5 ms of every first
    validation in a new process; a Python function's signature costs nothing (a model's own defaults are lambdas
    for the same reason: a model class's signature is built for the asking)."""
    return []


def new_dict() -> dict:
    """An empty dict, as a field's default_factory (see new_list)."""
    return {}


SLUG = r"^[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?$"

__all__ = ["DataURI", "Duration", "LabelValue", "SLUG", "URI_SCHEMES", "WholeNumber", "check_uri", "label_value", "new_dict", "new_list", "parse_duration", "scheme_of", "whole_number"]
