"""Which files a CI step means: named files, folders and globs of specs, optionally only those changed since a git ref.

A folder or a glob also holds files that are not job specs (a conda.yml, the JSON Schema),
so there a file counts as a spec when it is a mapping with a `task` field, or when it cannot
be read at all but says `task:` (a broken spec is reported, not skipped). A file named on
the command line is always checked.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .spec.errors import CloudautoError

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_GLOB_CHARS = set("*?[")


class SpecFilesError(CloudautoError):
    """A folder, glob or git ref that names no readable set of files."""

    exit_code = 64


@dataclass
class SpecFiles:
    specs: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why it is not checked)


def find_specs(args: Iterable[str | Path], *, changed_since: Optional[str] = None, cwd: Optional[Path] = None) -> SpecFiles:
    """The spec files that `args` name, in a stable order, each once."""
    cwd = Path.cwd() if cwd is None else cwd
    changed = _changed_since(changed_since, cwd) if changed_since else None
    found = SpecFiles()
    seen: set[Path] = set()

    def add(path: Path, explicit: bool) -> None:
        key = (cwd / path).resolve()
        if key in seen:
            return
        seen.add(key)
        if changed is not None and key not in changed:
            if explicit:
                found.skipped.append((path, f"not changed since {changed_since}"))
            return
        if explicit or _looks_like_spec(cwd / path):
            found.specs.append(path)
        else:
            found.skipped.append((path, "not a job spec: no task field"))

    for raw in args:
        text = str(raw)
        path = Path(text)
        if any(c in _GLOB_CHARS for c in text) and not (cwd / path).exists():
            matches = sorted(glob.glob(text, root_dir=cwd, recursive=True))
            files = [Path(m) for m in matches if Path(m).suffix.lower() in SPEC_SUFFIXES and (cwd / m).is_file()]
            if not files and changed is None:
                raise SpecFilesError(f"{text}: the pattern matches no .yaml, .yml or .json file")
            for file in files:
                add(file, explicit=False)
        elif (cwd / path).is_dir():
            files = sorted(
                p.relative_to(cwd) if p.is_relative_to(cwd) else p
                for p in (cwd / path).rglob("*")
                if p.suffix.lower() in SPEC_SUFFIXES and p.is_file() and not _hidden(p, cwd / path)
            )
            for file in files:
                add(file, explicit=False)
        else:
            add(path, explicit=True)  # a missing file is reported by validate, at its name
    return found


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _looks_like_spec(path: Path) -> bool:
    if path.name.endswith(".schema.json"):
        return False
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return any(line.startswith(("task:", '"task"')) for line in text.splitlines())
    return isinstance(data, dict) and "task" in data


def _changed_since(ref: str, cwd: Path) -> set[Path]:
    """Files added, changed or renamed since `ref` (committed or not), and untracked files, as absolute paths."""
    import subprocess  # here: only --changed-since runs git; a plain validate does not pay for the import

    def git(*args: str, why: str = "") -> str:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise SpecFilesError("--changed-since needs git, and there is no git command here") from None
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()
            raise SpecFilesError(f"--changed-since {ref}: {why or (said[-1] if said else 'git failed')}")
        return done.stdout

    top = Path(git("rev-parse", "--show-toplevel", why=f"{cwd} is not in a git repository").strip())
    git(
        "rev-parse",
        "--verify",
        "--quiet",
        f"{ref}^{{commit}}",
        why="no such commit here (a branch, tag or sha; a shallow CI checkout must fetch it first, e.g. fetch-depth: 0)",
    )
    names = git("diff", "--name-only", "--diff-filter=ACMR", "--no-renames", ref, "--").splitlines()
    names += git("ls-files", "--others", "--exclude-standard", "--full-name", str(top)).splitlines()
    return {(top / name).resolve() for name in names if name}


__all__ = ["SpecFiles", "SpecFilesError", "find_specs"]
