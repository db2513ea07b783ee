"""Spec problems as data: every one carries the file, the line and the field path.

A user mistake must never surface as a traceback, so everything the loader and the
validators find is turned into `SpecIssue`s and raised together as one `SpecError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

Path_ = tuple["str | int", ...]


def format_path(path: Path_) -> str:
    """`('sweep', 'space', 0, 'lr')` -> `sweep.space[0].lr`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


@dataclass
class SpecIssue:
    message: str
    path: Path_ = ()
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    level: Literal["error", "warning"] = "error"
    hint: str | None = None

    @property
    def field(self) -> str:
        return format_path(self.path)

    def location(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        field = f"{self.field}: " if self.path else ""  # the whole file (not found, unreadable): no field to name
        text = f"{self.location()}: {self.level}: {field}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = list(self.path)
        data["field"] = self.field
        return data

    def github(self) -> str:
        """A GitHub Actions workflow command that annotates the line in a PR."""
        props = [f"file={self.file or 'spec'}"]
        if self.line is not None:
            props.append(f"line={self.line}")
        if self.column is not None:
            props.append(f"col={self.column}")
        props.append(f"title={_gh_escape_prop('cloudauto: ' + self.field)}")
        message = self.message + (f" ({self.hint})" if self.hint else "")
        return f"::{self.level} {','.join(props)}::{_gh_escape(message)}"


def _gh_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(text: str) -> str:
    return _gh_escape(text).replace(":", "%3A").replace(",", "%2C")


class CloudautoError(Exception):
    """Base of every error cloudauto raises on purpose (the CLI prints these without a traceback)."""

    exit_code = 1


class SpecError(CloudautoError):
    """One or more problems with a job spec."""

    exit_code = 1

    def __init__(self, issues: Iterable[SpecIssue]):
        self.issues: list[SpecIssue] = list(issues)
        super().__init__(self._summary())

    def _summary(self) -> str:
        errors = [i for i in self.issues if i.level == "error"]
        head = f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the job spec"
        return head + ":\n" + "\n".join(f"  {i}" for i in self.issues)

    def to_json(self) -> str:
        return json.dumps([i.to_dict() for i in self.issues], indent=2)


@dataclass
class IssueCollector:
    """Collects issues with paths; positions are attached later by the loader."""

    issues: list[SpecIssue] = field(default_factory=list)

    def error(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(message, tuple(path), hint=hint))

    def warn(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(message, tuple(path), level="warning", hint=hint))

    @property
    def errors(self) -> list[SpecIssue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[SpecIssue]:
        return [i for i in self.issues if i.level == "warning"]


__all__ = ["CloudautoError", "IssueCollector", "SpecError", "SpecIssue", "format_path"]
