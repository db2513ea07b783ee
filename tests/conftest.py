from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cloudauto.spec import JobSpec, SpecError, SpecIssue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted([*ROOT.glob("job_specs/*.yaml"), *ROOT.glob("job_specs/*/*.yaml")])

BASE = """\
name: demo-job
task: tabular_classification
data:
  train: ./train.csv
  label: target
metric: accuracy
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def spec_file(tmp_path: Path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(spec_file):
    def _load(text: str, **kwargs) -> JobSpec:
        return JobSpec.from_file(spec_file(text), **kwargs)

    return _load


@pytest.fixture
def problems(spec_file):
    """The issues a spec raises (fails the test if it validates)."""

    def _problems(text: str, **kwargs) -> list[SpecIssue]:
        path = spec_file(text)
        with pytest.raises(SpecError) as info:
            JobSpec.from_file(path, **kwargs)
        return [i for i in info.value.issues if i.level == "error"]

    return _problems
