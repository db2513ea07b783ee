"""asha / hyperband in the spec: what is refused, and what `validate` warns about the steps trials report."""

from __future__ import annotations

import pytest

import cloudauto
from cloudauto.spec.errors import SpecError

from .conftest import BASE
from .test_cli import run


def spec(policy: str, space: str = "{models: GBM}", base: str = BASE) -> cloudauto.JobSpec:
    return cloudauto.JobSpec.from_yaml(base + f"sweep:\n  space: {space}\n  early_termination: {policy}\n")


def halving_warnings(job: cloudauto.JobSpec) -> list[str]:
    """The rung warnings (a tabular space may also get the one on verdicts that act only between models)."""
    return [
        w.message
        for w in job.warnings
        if w.field == "sweep.early_termination" and ("report at most" in w.message or "no rung" in w.message)
    ]


def test_tabular_trials_that_report_too_few_steps_for_the_rungs_are_warned_about():
    # CatBoost reports one step after its fit and one for the ensemble: 2 steps; rungs 1, 3 below max_resource 9
    (message,) = halving_warnings(spec("{policy: asha, max_resource: 9}", "{models: CAT}"))
    assert message == (
        "trials of models: CAT report at most 2 steps (one after each model, one for the ensemble), fewer than "
        "max_resource 9: rungs at step 3 are never reached; lower max_resource (and min_resource) to the steps the "
        "trials report"
    )
    (message,) = halving_warnings(spec("{policy: hyperband, min_resource: 3, max_resource: 9}", "{models: {choice: [CAT, GBM]}}"))
    assert "trials of models: CAT report at most 2 steps" in message and "no rung is reached, so hyperband never compares them" in message
    assert halving_warnings(spec("{policy: asha, max_resource: 9}", "{models: GBM}")) == []  # LightGBM reports while it trains
    assert halving_warnings(spec("{policy: asha, max_resource: 3}", "{models: 'CAT,XGB'}")) == []  # 3 steps: max_resource is reached


def test_image_trials_report_each_validation_up_to_their_epochs():
    base = "name: digits\ntask: image_classification\ndata: {train: ./images, label: label}\nmetric: accuracy\n"
    (message,) = halving_warnings(spec("{policy: asha, max_resource: 27, resource: validation}", "{optim.max_epochs: 4}", base))
    assert message.startswith("trials of optim.max_epochs 4 report at most 8 steps (one per validation, 2 an epoch)")
    assert "rungs at validation 9 are never reached" in message
    (message,) = halving_warnings(
        spec("{policy: asha, max_resource: 9}", "{optim.max_epochs: {choice: [1, 2]}, optim.val_check_interval: 0.25}", base)
    )
    assert "report at most 8 steps (one per validation, 4 an epoch)" in message
    assert halving_warnings(spec("{policy: asha, max_resource: 8}", "{optim.max_epochs: 4}", base)) == []
    assert "at most 40 steps" in halving_warnings(spec("{policy: asha, max_resource: 81}", "{optim.lr: 0.001}", base))[0]


def test_bounds_that_make_no_rungs_are_refused_or_warned():
    with pytest.raises(SpecError, match="min_resource \\(10\\) is above max_resource \\(9\\)") as info:
        spec("{policy: asha, min_resource: 10, max_resource: 9}")
    assert "sweep.early_termination.min_resource" in str(info.value)
    with pytest.raises(SpecError, match="4 brackets, but rungs 1, 3, 9 make 3") as info:
        spec("{policy: hyperband, max_resource: 9, brackets: 4}")
    with pytest.raises(SpecError, match="max_resource"):
        spec("{policy: asha}")  # no default budget
    with pytest.raises(SpecError, match="reduction_factor"):
        spec("{policy: asha, max_resource: 9, reduction_factor: 1}")
    (message,) = halving_warnings(spec("{policy: asha, min_resource: 5, max_resource: 5}"))
    assert message.startswith("no rung below max_resource 5: asha never compares trials")


def test_cli_validate_prints_the_warning_at_its_line_and_exits_0(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE + "sweep:\n  space: {models: CAT}\n  early_termination: {policy: asha, max_resource: 9}\n")
    result = run("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}:9:3: warning: sweep.early_termination: trials of models: CAT report at most 2 steps" in result.stderr


def test_the_rung_warning_does_not_depend_on_the_metric_name():
    """cloudauto init writes roc_auc for a binary table: the step counts are the same, so is the warning.
    Under roc_auc LightGBM and the MLP stop on log_loss and report once after their fit too."""
    auc = BASE.replace("metric: accuracy", "metric: roc_auc")
    for metric_base in (BASE, auc.replace("roc_auc", "log_loss"), auc):
        messages = halving_warnings(spec("{policy: asha, max_resource: 27}", "{models: {choice: [CAT, RF]}}", metric_base))
        assert [m.split(" report")[0] for m in messages] == ["trials of models: CAT", "trials of models: RF"], metric_base
        assert all("at most 2 steps" in m and "rungs at step 3, 9 are never reached" in m for m in messages)
    (message,) = halving_warnings(spec("{policy: asha, max_resource: 9}", "{models: GBM}", auc))
    assert "trials of models: GBM report at most 2 steps" in message
    assert halving_warnings(spec("{policy: asha, max_resource: 9}", "{models: GBM}")) == []  # accuracy: it reports while it trains
