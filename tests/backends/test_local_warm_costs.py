"""What a warm worker pays once instead of per trial (issue 29): AutoGluon's package-metadata read and mlflow check."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types

import pytest

import cloudauto

from ..conftest import ROOT

# two trials in one process, as a warm worker runs them; AutoGluon's read of every installed distribution is counted
TWO_TRIALS = """
import json, sys
from pathlib import Path
from autogluon.common.utils import utils
reads = 0
original = utils.get_package_versions
def counted(*args, **kwargs):
    global reads
    reads += 1
    return original(*args, **kwargs)
utils.get_package_versions = counted
from cloudauto.spec import JobSpec
from cloudauto.runtime.autogluon_trial import run_trial
spec = JobSpec.from_dict(json.loads(sys.argv[1]))
for i in range(2):
    run_trial(spec, {"models": "GBM", "time_limit": 30}, Path(sys.argv[2]) / str(i), lambda v: False, num_cpus=1)
seen = reads
from autogluon.common.utils.utils import get_autogluon_metadata  # AutoGluon's own, uncached
print(json.dumps({"reads": seen, "mlflow": "mlflow" in sys.modules, "metadata": get_autogluon_metadata()}))
"""


@pytest.mark.slow
def test_two_trials_in_one_process_read_the_installed_packages_once_and_skip_mlflow(datasets, tmp_path):
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[f"data.train={datasets}/iris/train.csv", "sweep.space={models: GBM, time_limit: 30}"],
    ).to_dict()
    spec["data"].pop("test", None)
    out = subprocess.run(
        [sys.executable, "-c", TWO_TRIALS, json.dumps(spec), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["reads"] == 1, f"the installed distributions were read {got['reads']} times for two fits (4 saves)"
    assert got["mlflow"] is False, "a fit imported mlflow only to check an autologging that cannot be on"
    for trial in ("0", "1"):  # the file AutoGluon writes is what its own function says
        written = json.loads((tmp_path / trial / "model" / "metadata.json").read_text())
        assert written == got["metadata"]
    from autogluon.tabular import TabularPredictor

    assert TabularPredictor.load(str(tmp_path / "1" / "model"), check_packages=True).model_names()


def test_a_package_installed_between_trials_is_in_the_next_metadata(tmp_path, monkeypatch):
    from cloudauto.runtime import ag_process

    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = ag_process.autogluon_metadata()
    assert "cloudauto-probe-package" not in before["packages"]
    assert ag_process.autogluon_metadata() == before
    info = folder / "cloudauto_probe_package-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cloudauto-probe-package\nVersion: 1.2.3\n")
    assert ag_process.autogluon_metadata()["packages"]["cloudauto-probe-package"] == "1.2.3"
    ag_process.autogluon_metadata()["packages"].clear()  # a caller's change does not reach the kept answer
    assert "cloudauto-probe-package" in ag_process.autogluon_metadata()["packages"]


def test_the_mlflow_check_runs_where_mlflow_is_imported(monkeypatch, caplog):
    from cloudauto.runtime import ag_process

    fake = types.ModuleType("mlflow")
    fake.utils = types.SimpleNamespace(autologging_utils=types.SimpleNamespace(autologging_is_disabled=lambda flavor: False))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    logger = logging.getLogger("cloudauto.test.mlflow")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        ag_process.warn_if_mlflow_autologging_is_enabled(logger=logger)
    assert "MLflow autologging is enabled" in caplog.text
    monkeypatch.delitem(sys.modules, "mlflow")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=logger.name):
        ag_process.warn_if_mlflow_autologging_is_enabled(logger=logger)
    assert caplog.text == "" and "mlflow" not in sys.modules


KILLED_WRITER = """
import os, signal, sys
from cloudauto_local.store import RunStore
store = RunStore(sys.argv[1])
store.hold_open()
store.add_report(0, 2, 0.75)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _mean_write_ms(store, first_step: int, count: int = 40) -> float:
    import time

    start = time.perf_counter()
    for step in range(first_step, first_step + count):
        store.add_report(0, step, 0.5)
    return (time.perf_counter() - start) / count * 1000


def test_the_schedulers_store_writes_commit_without_a_checkpoint_each_and_survive_its_death(tmp_path):
    from cloudauto_local.store import RunStore

    store = RunStore.create(tmp_path / "job", "job-1", json.dumps({}), None, {})
    store.add_trial(0, {"models": "GBM"}, {})
    store.add_report(0, 1, 0.5)
    assert not (tmp_path / "job" / "run.db-wal").exists()  # every close checkpointed the log into the store and removed it

    # a scheduler killed right after a write (SIGKILL: nothing of Python's shutdown runs) leaves the write in the store
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(store.dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert RunStore(store.dir).reported(0) == [0.5, 0.75]

    unheld = _mean_write_ms(store, 10)
    store.hold_open()
    held = _mean_write_ms(store, 100)
    assert (tmp_path / "job" / "run.db-wal").exists()
    assert held < unheld / 2, f"a write costs {held:.2f} ms with the store held open, {unheld:.2f} ms without"
    assert len(RunStore(store.dir).reported(0)) == 2 + 2 * 40  # another process reads every committed write


PRELOADED = """
import gc, json, sys
from cloudauto_local.worker import _preload
frozen = gc.get_freeze_count()
_preload(["fractions", "decimal", "email.message"])
print(json.dumps({"frozen": gc.get_freeze_count() - frozen, "enabled": gc.isenabled(), "imported": "email.message" in sys.modules}))
"""


def test_a_warm_workers_imports_are_frozen_out_of_the_garbage_collectors_passes():
    # AutoGluon's import makes ~300,000 tracked objects that every later pass (its gc.collect() in each LightGBM fit
    # among them) would walk again; the worker imports them with the collector off and freezes them
    out = subprocess.run([sys.executable, "-c", PRELOADED], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert got["imported"] and got["enabled"], got  # the collector is on again for the trials
    assert got["frozen"] > 1000, got  # what the imports made is out of the collector's passes


def test_wait_sees_the_end_of_a_job_within_a_fifth_of_a_second(tmp_path, monkeypatch):
    # the store is read every 0.2 s: a job that ends is seen at most that long after (it was a second)
    import time

    from cloudauto_local.handle import LocalJobHandle

    from cloudauto.backend import JobStatus

    answers = iter([JobStatus.RUNNING, JobStatus.COMPLETED])
    monkeypatch.setattr(LocalJobHandle, "status", lambda self: next(answers))
    handle = LocalJobHandle(tmp_path / "job")
    start = time.monotonic()
    assert handle.wait(progress=False) is JobStatus.COMPLETED
    assert time.monotonic() - start < 0.6
