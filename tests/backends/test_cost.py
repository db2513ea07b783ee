"""The worst-case cost before launch, the budget compile holds a spec to, and the runtime limits derived from it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudauto import compile as compile_spec
from cloudauto.backend import CompileError

from ..conftest import dedent
from .conftest import priced_spec

EXE = Path(sys.executable).with_name("cloudauto")

SPEC = priced_spec(price_per_hour=1.5)  # 10 instance-hours at worst on SageMaker × $1.5 = $15; 5 on Azure ML


@pytest.fixture
def spec(spec_file):
    def make(extra: str = "", **fields: str):
        text = dedent(SPEC)
        for key, value in fields.items():
            text = text.replace(key, value)
        return spec_file(text + dedent(extra))

    return make


def test_the_estimate_is_the_smaller_of_the_trial_and_job_bounds(spec):
    # trials: 10 × 0.5 h = 5 h; job: 2 h × 3 at once = 6 h; the smaller, 5 h, × 2 instances = 10 instance-hours × $1.5 = $15
    job = compile_spec(spec(), "sagemaker")
    assert math.isclose(job.estimate.usd_max, 15.0) and math.isclose(job.estimate.worst_seconds, 10 * 3600)
    assert job.notes[0] == (
        "worst-case cost: 10 trials × 1800 s (limits.trial_timeout) × 2 × ml.m5.xlarge in us-east-1 × $1.5/h = $15.00 "
        "(price: backends.sagemaker.price_per_hour in the spec)"
    )
    # job: 1 h × 3 = 3 h, now under 5 h: 3 h × 2 instances × $1.5 = $9
    assert math.isclose(compile_spec(spec(**{"timeout: 2h": "timeout: 1h"}), "sagemaker").estimate.usd_max, 9.0)


@pytest.mark.parametrize("engine", ["autogluon", "native"])
def test_azure_counts_the_one_node_each_trial_runs_on_as_compiled(spec, tmp_path, engine):
    """The estimate doubled for compute.instance_count 2, while compile sends Azure ML no instance_count for either job
    kind (a sweep of command trials, an AutoML job): each trial runs on one node of the cluster."""
    from azure.ai.ml import load_job

    sweep = "sweep:\n  sampling: random\n  space:\n    models: {choice: [GBM, XT]}\n    time_limit: 600\n"
    # an AutoML job searches its own space: no sweep of ours, and max_trials is how many models it tries
    text = spec() if engine == "autogluon" else spec(**{sweep: "engine: native\n"})
    job = compile_spec(text, "azureml")
    written = next(p for p in job.write(tmp_path / engine) if p.suffix == ".yml")
    assert "instance_count" not in written.read_text()
    loaded = load_job(written)
    resources = getattr(getattr(loaded, "trial", loaded), "resources", None)
    assert resources is None or getattr(resources, "instance_count", None) in (None, 1)
    # min(10 trials × 0.5 h, 2 h × 3 at once) = 5 h on one node each × $1.5 = $7.50
    assert math.isclose(job.estimate.usd_max, 7.5) and math.isclose(job.estimate.worst_seconds, 5 * 3600)
    assert any("compute.instance_count 2 is not sent: Azure ML runs each trial on one node" in n for n in job.notes)


def test_sagemaker_grid_counts_every_combination(spec):
    # Grid runs all 2 × 3 = 6 combinations (no MaxNumberOfTrainingJobs): 6 × 0.5 h = 3 h × 2 × $1.5 = $9
    text = {"sampling: random": "sampling: grid", "time_limit: 600": "time_limit: {choice: [60, 120, 180]}"}
    job = compile_spec(spec(**text), "sagemaker")
    assert job.native["HyperParameterTuningJobConfig"]["Strategy"] == "Grid"
    assert math.isclose(job.estimate.usd_max, 9.0)


def test_a_budget_above_the_worst_case_compiles_and_becomes_the_services_runtime_limit(spec):
    # $20 / ($1.5/h × 2 instances × 3 at once = $0.0025/s) = 8000 s, over limits.timeout (7200 s): 7200 stays
    job = compile_spec(spec("", **{"timeout: 2h": "timeout: 2h\n  max_cost: 20"}), "sagemaker")
    assert job.native["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxRuntimeInSeconds"] == 7200
    # without limits.timeout the budget's 8000 s is the tuning job's limit, and the note says where it comes from
    job = compile_spec(spec(**{"  timeout: 2h": "  max_cost: 20"}), "sagemaker")
    assert job.native["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxRuntimeInSeconds"] == 8000
    assert any(n.startswith("ResourceLimits.MaxRuntimeInSeconds is 8000 s: limits.max_cost $20 / ($1.5/h") for n in job.notes)


def test_azure_takes_the_budget_as_the_sweeps_timeout(spec, tmp_path):
    from azure.ai.ml import load_job

    # $10 / ($1.5/h × 1 node × 3 at once = $0.00125/s) = 8000 s
    job = compile_spec(spec(**{"  timeout: 2h": "  max_cost: 10"}), "azureml")
    job.write(tmp_path / "out")
    loaded = load_job(next((tmp_path / "out").glob("*.job.yml")))
    assert (loaded.limits.timeout, loaded.limits.trial_timeout, loaded.limits.max_concurrent_trials) == (8000, 1800, 3)
    assert any("the sweep's limits.timeout is 8000 s" in n for n in job.notes)


def test_a_budget_below_the_worst_case_is_refused_with_the_figures(spec):
    with pytest.raises(CompileError) as refused:
        compile_spec(spec(**{"timeout: 2h": "timeout: 2h\n  max_cost: 12"}), "sagemaker")
    (issue,) = refused.value.issues
    assert issue.path == ("limits", "max_cost")
    assert (
        issue.message.startswith("the worst case is $15.00 (10 trials × 1800 s") and "above limits.max_cost $12" in issue.message
    )


def test_a_budget_needs_a_time_bound_and_a_price(spec):
    no_bounds = {"  trial_timeout: 30m\n": "", "  timeout: 2h": "  max_cost: 5"}
    with pytest.raises(CompileError, match="no time bound: set limits.trial_timeout or limits.timeout"):
        compile_spec(spec(**no_bounds), "azureml")
    with pytest.raises(
        CompileError, match="no price known for ml.m5.24xlarge in us-east-1: set backends.sagemaker.price_per_hour"
    ):
        compile_spec(
            spec(**{"ml.m5.xlarge": "ml.m5.24xlarge", "price_per_hour: 1.5}": "}", "timeout: 2h": "timeout: 2h\n  max_cost: 5"}),
            "sagemaker",
        )
    with pytest.raises(CompileError, match="set backends.azureml.vm_size"):
        compile_spec(spec(**{"vm_size: Standard_DS3_v2, ": "", "timeout: 2h": "timeout: 2h\n  max_cost: 5"}), "azureml")
    # without a budget an unknown price is a note, not an error
    job = compile_spec(spec(**{"price_per_hour: 1.5}": "}"}), "sagemaker")
    assert job.estimate.usd_max is None and job.notes[0].startswith("worst-case cost unknown: no price known for ml.m5.xlarge")


def test_a_price_file_of_the_users_prices_the_region(spec, tmp_path, monkeypatch):
    prices = tmp_path / "prices.json"
    rows = [
        {
            "backend": "sagemaker",
            "kind": "training",
            "region": "eu-west-1",
            "instance_type": "ml.m5.xlarge",
            "usd_per_hour": 9,
            "source": "x",
        },
        {
            "backend": "sagemaker",
            "kind": "training",
            "region": "us-east-1",
            "instance_type": "ml.m5.xlarge",
            "usd_per_hour": 0.5,
            "source": "our rate card",
            "read_on": "2026-11-30",
        },
    ]
    prices.write_text(json.dumps({"prices": rows}))
    monkeypatch.setenv("CLOUDAUTO_PRICES", str(prices))
    job = compile_spec(spec(**{"price_per_hour: 1.5}": "}"}), "sagemaker")
    # 10 instance-hours × $0.5 = $5
    assert math.isclose(job.estimate.usd_max, 5.0)
    assert job.estimate.price.source == f"our rate card, read 2026-11-30 ({prices} (CLOUDAUTO_PRICES))"
    prices.write_text(json.dumps({"prices": [{"backend": "sagemaker"}]}))
    done = subprocess.run(
        [str(EXE), "compile", str(spec(**{"price_per_hour: 1.5}": "}"})), "-b", "sagemaker"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert done.returncode == 2 and f"{prices}: prices[0] has no kind, instance_type, usd_per_hour, source" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_package_table_says_where_its_prices_come_from():
    from cloudauto.cost import PACKAGE_TABLE, _read_table

    table = json.loads(PACKAGE_TABLE.read_text())
    assert "note" in table and all(row.get("source") and row.get("read_on") for row in _read_table(PACKAGE_TABLE))


def test_compile_json_gives_the_figures_to_ci(spec):
    done = subprocess.run(
        [str(EXE), "compile", str(spec()), "-b", "sagemaker", "--format", "json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    cost = report["cost"]
    assert (cost["estimate_max"], cost["usd_per_hour"], cost["worst_instance_hours"], cost["instance_type"]) == (
        15.0,
        1.5,
        10.0,
        "ml.m5.xlarge",
    )


def test_the_local_backend_bills_nothing(spec):
    assert (
        compile_spec(spec(**{'"azureml://datastores/workspaceblobstore/paths/train.csv"': "./train.csv"}), "local").estimate
        is None
    )


def test_without_a_sweep_azure_compiles_and_counts_the_one_trial_that_runs(spec, tmp_path):
    """The warning says one trial runs, SageMaker compiles one: Azure ML compiled max_total_trials 2 and counted 2."""
    from azure.ai.ml import load_job

    sweep = "sweep:\n  sampling: random\n  space:\n    models: {choice: [GBM, XT]}\n    time_limit: 600\n"
    text = spec(**{sweep: "", "max_trials: 10": "max_trials: 2", "max_concurrent_trials: 3": "max_concurrent_trials: 2"})
    sagemaker, azure = compile_spec(text, "sagemaker"), compile_spec(text, "azureml")
    assert any("only one runs" in str(w) for w in azure.warnings)
    # one trial of at most 30 min at $1.5/h, on 2 instances on SageMaker, on one node on Azure ML
    assert math.isclose(sagemaker.estimate.usd_max, 1.5) and math.isclose(azure.estimate.usd_max, 0.75)
    loaded = load_job(next(p for p in azure.write(tmp_path) if p.suffix == ".yml"))
    assert (loaded.limits.max_total_trials, loaded.limits.max_concurrent_trials) == (1, 1)
