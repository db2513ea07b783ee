"""Plugins are found by entry point; a third-party backend plugs in through the same seam."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto import registry
from cloudauto.backend import CompileError, JobStatus, TrialStatus
from cloudauto.registry import BackendNotFound, PluginError, get_backend

from .conftest import EXAMPLES

PLUGIN = '''
from cloudauto.backend import Backend, CompiledJob, JobHandle, JobStatus, Trial, TrialStatus, MetricPoint, Feature
from cloudauto.spec.metrics import Task


class SimHandle(JobHandle):
    """A finished job whose trials are made from the spec (a simulated backend)."""

    backend = "fake"

    def __init__(self, job):
        self.id, self._spec = "sim-1", job.spec
        values = [0.5, 0.9, None, 0.7]
        self._trials = [Trial(id=f"t{i}", number=i, params={"i": i},
                              status=TrialStatus.COMPLETED if v is not None else TrialStatus.FAILED,
                              metrics=[MetricPoint(step=1, value=v)] if v is not None else [], objective=v,
                              started=0.0, ended=1.0 + i)
                        for i, v in enumerate(values)]

    @property
    def spec(self):
        return self._spec

    def status(self):
        return JobStatus.COMPLETED

    def trials(self):
        return list(self._trials)

    def cancel(self):
        pass

    def logs(self, trial=None):
        return ""


class FakeBackend(Backend):
    name = "fake"
    tasks = frozenset({Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION})

    def unsupported(self, spec):
        return {Feature.CONDITIONAL_SPACE: "no alternatives here"} if spec.space.is_conditional else {}

    def _compile(self, spec):
        return CompiledJob(self.name, spec, {"name": spec.name}, files={"job.json": "{}"})

    def _submit(self, job, **options):
        return SimHandle(job)

    def _attach(self, job_id):
        raise KeyError(job_id)


class Incomplete(Backend):
    name = "broken"
    tasks = frozenset()


not_a_backend = object()
'''


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch):
    (tmp_path / "fakeplug_mod.py").write_text(PLUGIN)
    info = tmp_path / "fakeplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""\
        [cloudauto.backends]
        fake = fakeplug_mod:FakeBackend
        broken = fakeplug_mod:Incomplete
        notabackend = fakeplug_mod:not_a_backend
        missingmodule = fakeplug_missing:Thing
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield
    registry.refresh()


def test_builtin_plugins_are_discovered():
    found = registry.available_backends()
    assert found["local"] == "cloudauto-local" and found["sagemaker"] == "cloudauto-sagemaker"
    assert found["azureml"] == "cloudauto-azureml"
    assert get_backend("local").name == "local"


def test_third_party_plugin_through_the_contract(fake_plugin, tmp_path):
    assert registry.available_backends()["fake"] == "fakeplug"
    from job_specs import make_data

    make_data.iris(tmp_path)  # submit reads the data first, on every backend
    spec = cloudauto.JobSpec.from_file(
        next(p for p in EXAMPLES if p.name == "iris.yaml"),
        overrides=[f"data.train={tmp_path}/iris/train.csv", f"data.test={tmp_path}/iris/test.csv"],
    )
    job = cloudauto.submit(spec, backend="fake")
    assert job.status() is JobStatus.COMPLETED
    best = job.best_trial()
    assert best.number == 1 and best.objective == 0.9  # accuracy is maximised
    board = job.leaderboard()
    assert list(board["trial"]) == [1, 3, 0, 2]  # failed trial last
    assert board.loc[3, "status"] == TrialStatus.FAILED.value


def test_backend_settings_of_an_installed_third_party_plugin_validate(fake_plugin):
    spec = cloudauto.JobSpec.from_yaml(
        "name: x\ntask: tabular_regression\ndata: {train: a.csv, label: y}\nmetric: r2\nbackends:\n  fake: {zone: a}\n"
    )
    assert spec.backends.for_backend("fake") == {"zone": "a"}


def test_backend_refuses_a_task_and_a_feature_it_cannot_run(fake_plugin):
    fake = get_backend("fake")
    fridge = cloudauto.JobSpec.from_file(next(p for p in EXAMPLES if p.name == "fridge_objects_od.yaml"))
    with pytest.raises(CompileError) as info:
        fake.compile(fridge)
    text = str(info.value)
    assert "does not run task image_object_detection" in text and "conditional search space" in text


def test_broken_plugins_say_what_is_wrong(fake_plugin):
    with pytest.raises(PluginError, match="fakeplug does not implement: _attach, _compile, _submit"):
        get_backend("broken")
    with pytest.raises(PluginError, match="not a cloudauto.Backend subclass"):
        get_backend("notabackend")
    with pytest.raises(PluginError, match="failed to import"):
        get_backend("missingmodule")


def test_unknown_backend_suggests_and_lists():
    with pytest.raises(BackendNotFound, match=r"'azure' is not a valid backend among \[azureml, local, sagemaker\]"):
        get_backend("azure")


def test_known_backend_not_installed_says_which_package(monkeypatch):
    # the registry's view of what is installed: a first-party distribution's own entry points, else the table of all
    monkeypatch.setattr(registry, "_entry_points", lambda: {})
    monkeypatch.setattr(registry, "_first_party", lambda name: None)
    with pytest.raises(BackendNotFound, match="pip install cloudauto-sagemaker"):
        get_backend("sagemaker")


def test_a_first_party_backend_is_found_without_scanning_every_distribution(monkeypatch):
    """Issue 29: the scan of every installed distribution's entry points was 70 ms of each compile."""

    def no_scan(**_):
        raise AssertionError("every installed distribution's entry points were read to find a first-party backend")

    registry.refresh()
    monkeypatch.setattr(registry, "entry_points", no_scan)
    try:
        assert get_backend("sagemaker").name == "sagemaker"
        assert get_backend("local").name == "local"
    finally:
        registry.refresh()
