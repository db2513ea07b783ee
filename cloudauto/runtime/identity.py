"""Who an endpoint's server is: what it says on /ping and in the X-Cloudauto-Endpoint header.

One implementation for both local servers (the process-mode ASGI app and docker mode's
`cloudauto.runtime.serve`): deploy passes the endpoint's name, job, trial and a fresh
deployment id on the command line, the server adds the digest of the model folder it
loaded, and deploy (then every client) accepts only answers that carry exactly that.
Standard library only: it runs in a serving container too.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any, Optional

from ..scoring import IDENTITY_HEADER, identity_header

FIELDS = ("name", "job", "trial", "instance")


def model_digest(model_dir: str | Path) -> str:
    """sha256 over the model folder's files (their paths and bytes): which model a server loaded."""
    root = Path(model_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's identity options, as deploy passes them (the same in both modes)."""
    parser.add_argument("--name", help="What /ping says this server is: the endpoint's name ...")
    parser.add_argument("--job", help="... the job ...")
    parser.add_argument("--trial", type=int, help="... the trial ...")
    parser.add_argument("--instance", help="... and this deployment's id (deploy waits for exactly it).")


def arguments(identity: dict[str, Any]) -> list[str]:
    """The command-line options that make a server say `identity` (read back by add_arguments)."""
    return [item for field in FIELDS for item in (f"--{field}", str(identity[field]))]


def served(given: Optional[dict[str, Any]], model_dir: str | Path) -> tuple[dict[str, Any], str]:
    """(what /ping says as `endpoint`, the header value) for a server of `given` that loaded `model_dir`."""
    me = {**{k: v for k, v in (given or {}).items() if k in FIELDS}, "model": model_digest(model_dir)}
    return me, identity_header(me)


def given(args: argparse.Namespace) -> dict[str, Any]:
    """What deploy said the server is (add_arguments' options), before the model's digest is added."""
    return {field: getattr(args, field) for field in FIELDS}


__all__ = ["IDENTITY_HEADER", "add_arguments", "arguments", "given", "model_digest", "served"]
