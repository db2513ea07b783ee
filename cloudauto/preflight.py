"""What `cloudauto doctor`, `setup` and `submit`'s preflight say: one line per check, ok or the problem with its fix.

The checks themselves are the backends' (they reach the cloud SDKs); the core only names the
shape every backend returns, so the CLI prints and scores them one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .spec.errors import CloudautoError


class CheckLevel(str, Enum):
    OK = "ok"
    WARNING = "warning"  # could not be checked (no permission, the service has no such API): said, never a refusal
    PROBLEM = "problem"  # the job would fail: doctor exits non-zero, submit refuses


@dataclass(frozen=True)
class Check:
    """One check's outcome: `name` says what was checked, `detail` what was found, `fix` what to do about a problem."""

    name: str
    level: CheckLevel
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level.value:<8} {self.name}" + (f": {self.detail}" if self.detail else "")
        return text + (f"\n         fix: {self.fix}" if self.fix and self.level is not CheckLevel.OK else "")


class PreflightError(CloudautoError):
    """A check that concerns the spec failed before anything was uploaded or started."""

    exit_code = 3

    def __init__(self, backend: str, problems: list[Check]):
        self.problems = problems
        lines = "\n".join(check.line() for check in problems)
        super().__init__(f"{backend}: the job would fail; nothing was uploaded or started:\n{lines}")


def problems(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.level is CheckLevel.PROBLEM]
