"""What the framework callbacks report: finite numbers only (tensors and NumPy scalars read), valid names."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def test_only_finite_numbers_with_valid_names_are_reported(capsys):
    import torch

    from cloudauto.integrations import report_numbers

    verdict = report_numbers(
        {"val_loss": torch.tensor(0.25), "acc": np.float32(0.5), "nan": float("nan"), "bad name": 1.0, "text": "x", "epoch": 3},
        step=4,
        skip=("epoch",),
    )
    assert verdict is not None and not verdict.should_stop  # no sweep listens here
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["[cloudauto-metric] name=val_loss value=0.25 step=4", "[cloudauto-metric] name=acc value=0.5 step=4"]
    assert report_numbers({"nan": float("inf"), "text": "x"}, step=1) is None  # nothing to report: no empty report


def test_the_integrations_import_no_framework_until_one_is_chosen():
    code = "import sys, cloudauto.integrations; print(sorted(m for m in ('transformers', 'lightning', 'torch', 'keras') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
