"""The generated Reference → Backend support page has a row, from each backend's own compile, for every tuning
feature of issue 33 and for the foundation models (docs/gen_reference.py)."""

from __future__ import annotations

import sys

import pytest

from .conftest import ROOT

ROWS = {  # row title -> {backend: the cell's verdict}, as each backend's compile answers today
    "`limits.stop_when.target`": {"local": "yes", "sagemaker": "yes", "azureml": "approximated"},
    "`limits.stop_when.no_improvement_trials`": {"local": "yes", "sagemaker": "yes", "azureml": "approximated"},
    "`limits.stop_when.converged`": {"local": "**refused**", "sagemaker": "yes", "azureml": "**refused**"},
    "`sweep.warm_start` (`same_data`)": {"local": "yes", "sagemaker": "yes", "azureml": "**refused**"},
    "`sweep.warm_start` (`mode: transfer`)": {"local": "yes", "sagemaker": "yes", "azureml": "**refused**"},
    "`limits.trial_retries`": {"local": "yes", "sagemaker": "yes", "azureml": "**refused**"},
    "`limits.max_failed_trials`": {"local": "yes", "sagemaker": "approximated", "azureml": "approximated"},
    "Chronos-2 (forecasting) from a weights folder, zero-shot and fine-tuned": {"local": "yes", "sagemaker": "yes"},
    "Chronos-2 (forecasting) from a hub name": {"local": "**refused**", "sagemaker": "yes"},
    "TabPFNMix (tabular) from a weights folder": {"local": "yes", "sagemaker": "yes", "azureml": "yes"},
    "Mitra (tabular)": {"sagemaker": "yes", "azureml": "yes"},
}


@pytest.fixture(scope="module")
def page() -> str:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(ROOT / "docs"))
    return gen_reference.backend_support()


def test_each_tuning_feature_and_foundation_model_has_its_row_from_the_compile(page):
    head = next(line for line in page.splitlines() if line.startswith("| the spec asks for |"))
    names = [c.strip() for c in head.strip("|").split("|")[1:]]
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(names) + 1:
            rows[cells[0]] = dict(zip(names, (c.split(" [")[0] for c in cells[1:]), strict=True))
    for title, expected in ROWS.items():
        assert title in rows, f"no row {title!r} in the page"
        for backend, verdict in expected.items():
            if backend in names:
                assert rows[title][backend] == verdict, (title, backend, rows[title][backend])


def test_a_refusal_is_explained_in_the_backends_own_words(page):
    assert "azureml cannot express limits.trial_retries" in page
    assert "local: Chronos2 has the hub name 'autogluon/chronos-2-small'" in page
    assert "The forecasting base spec" in page
