"""Foundation models at compile, offline: a refusal points at the line that gives the weights (`<FAMILY>.model_path`
in the space, or `model_path` in the autogluon block), at `models` only when no weights are given, and names the fix."""

from __future__ import annotations

import pytest

import cloudauto
from cloudauto.backend import CompileError

HEAD = """\
name: fm-bike
task: time_series_forecasting
data: {train: ./train.csv, label: count, timestamp: timestamp, item_id: station, prediction_length: 48, freq: h}
metric: MASE
"""
IN_SPACE = """\
sweep:
  sampling: grid
  space:
    - models: Chronos2
      Chronos2.model_path: autogluon/chronos-2-small
      Chronos2.fine_tune: {choice: [false, true]}
    - models: {choice: [SeasonalNaive, Theta]}
"""
IN_BLOCK = """\
autogluon:
  hyperparameters:
    Chronos2:
      model_path: autogluon/chronos-2-small
sweep:
  sampling: grid
  space:
    models: {choice: [Chronos2, Theta]}
"""
NONE = """\
sweep:
  sampling: grid
  space:
    models: {choice: [Chronos2, Theta]}
"""


def refusals(tmp_path, monkeypatch, body: str) -> tuple[str, list]:
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    text = HEAD + body
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="local")
    return text, [spec.locate(i) for i in info.value.issues if "Chronos2" in i.message]


@pytest.mark.parametrize(
    ("body", "line", "fix"),
    [
        (IN_SPACE, "      Chronos2.model_path: autogluon/chronos-2-small", "`Chronos2.model_path: ./checkpoints/<folder>`"),
        (IN_BLOCK, "      model_path: autogluon/chronos-2-small", "`model_path: ./checkpoints/<folder>`"),
    ],
)
def test_a_hub_name_offline_is_refused_at_its_model_path_line(tmp_path, monkeypatch, body, line, fix):
    text, found = refusals(tmp_path, monkeypatch, body)
    (issue,) = found  # once, though every sub-space fits Chronos2 and the block names it too
    assert issue.line == text.splitlines().index(line) + 1, (issue.field, issue.line)
    assert issue.field.endswith("model_path")
    assert "hub name 'autogluon/chronos-2-small'" in issue.message and fix in issue.message
    assert "CLOUDAUTO_ALLOW_HUB=1" in issue.message


def test_no_weights_at_all_is_refused_at_the_models_line(tmp_path, monkeypatch):
    text, found = refusals(tmp_path, monkeypatch, NONE)
    (issue,) = found
    assert issue.line == text.splitlines().index("    models: {choice: [Chronos2, Theta]}") + 1
    assert "Chronos2 has no weights" in issue.message and "`Chronos2.model_path: ./checkpoints/<folder>`" in issue.message
    assert "CLOUDAUTO_ALLOW_HUB=1" in issue.message
