"""Alternative sub-spaces on SageMaker and Azure ML mean the trials the local backend runs (cloudauto.tuning.flat)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Optional

import pytest
from azure.ai.ml import load_job

import cloudauto
from cloudauto.runtime.sagemaker_entry import SPACE_PARAM, DecodeError, decode, toolkit_decoded
from cloudauto.tuning.flat import grid_points, grid_table
from cloudauto.tuning.samplers import make_sampler

from ..conftest import ROOT
from .foundation_specs import bike_head
from .test_sagemaker_compile import valid

SEED_SPEC = ROOT / "job_specs" / "bike_forecast_chronos2.yaml"


def local_trials(spec: cloudauto.JobSpec) -> list[dict]:
    """What the local backend's scheduler runs, trial after trial (its own sampler, as `cloudauto run` asks it)."""
    sampler = make_sampler(spec)
    return [sampler.suggest(n, [])[0] for n in range(sampler.size)]


def test_the_seeds_grid_compiles_everywhere_and_each_point_decodes_to_the_local_trial(example_images, tmp_path):
    spec = cloudauto.JobSpec.from_file(SEED_SPEC)
    local = local_trials(spec)
    assert len(local) == 5 and local[-1]["presets"] == "medium_quality"  # the seed's own fit is one candidate
    cloudauto.compile(spec, backend="local")

    request = valid(cloudauto.compile(spec, backend="sagemaker").native)
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Grid" and "MaxNumberOfTrainingJobs" not in config["ResourceLimits"]
    assert config["ParameterRanges"] == {
        "CategoricalParameterRanges": [{"Name": "cloudauto_grid_point", "Values": ["0", "1", "2", "3", "4"]}]
    }
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    for i, trial in enumerate(local):  # hyperparameters.json as SageMaker writes it, through the toolkit's json.loads
        assert decode(toolkit_decoded({**static, "cloudauto_grid_point": str(i)})) == trial

    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path)
    loaded = load_job(yml)
    assert str(getattr(loaded.sampling_algorithm, "type", loaded.sampling_algorithm)).lower().endswith("grid")
    assert list(loaded.search_space) == ["cloudauto_grid_point"]
    assert loaded.search_space["cloudauto_grid_point"].values == [0, 1, 2, 3, 4]
    assert loaded.limits.max_total_trials == 5
    assert "--param cloudauto_grid_point=${{search_space.cloudauto_grid_point}}" in loaded.trial.command
    # the trial's entry reads the code folder's spec.json, as Azure ML runs it
    from cloudauto.runtime.azureml_entry import trial_params, typed_params
    from cloudauto.runtime.sagemaker_entry import spec_data

    code = tmp_path / f"{spec.name}.code"
    data, _ = spec_data(code / "spec.json", {})  # its keys sorted: the grid's order comes from the table beside it
    trial_spec = cloudauto.JobSpec.from_dict(data, source="azureml")
    for i, trial in enumerate(local):
        assert trial_params(trial_spec, {"cloudauto_grid_point": str(i)}, code) == trial
        # the handle, from the job's own spec (its grid rebuilt in the user's order)
        assert typed_params(spec, {"cloudauto_grid_point": str(i)}, grid_table(grid_points(spec))) == trial
    assert not [w for w in job.warnings if "in every trial" in w.message]  # the tuner draws no family settings


def test_max_trials_cuts_the_grid_where_the_local_backend_does(example_images):
    spec = cloudauto.JobSpec.from_file(SEED_SPEC, overrides=["limits.max_trials=3"])
    request = cloudauto.compile(spec, backend="sagemaker").native
    (grid,) = request["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]
    assert grid["Values"] == ["0", "1", "2"]
    table = json.loads(request["TrainingJobDefinition"]["StaticHyperParameters"][SPACE_PARAM])
    assert [decode({SPACE_PARAM: table, "cloudauto_grid_point": i}) for i in range(3)] == local_trials(spec)[:3]


TWO_FAMILIES = """\
name: two-families
task: tabular_regression
data: {train: ./train.csv, label: y}
metric: rmse
sweep:
  sampling: SAMPLING
  seed: 7
  space:
    - {models: GBM, GBM.learning_rate: {uniform: [0.01, 0.3]}, time_limit: {choice: [30, 60]}}
    - {models: CAT, CAT.depth: {choice: [4, 6]}, time_limit: 45}
limits: {max_trials: 6}
"""


@pytest.mark.parametrize("sampling", ["random", "bayesian"])
def test_azure_random_and_bayesian_choose_a_subspace_as_sagemaker_does(sampling, tmp_path):
    (tmp_path / "train.csv").write_text("a,y\n1,0.5\n2,1.5\n")
    path = tmp_path / "job.yaml"
    path.write_text(TWO_FAMILIES.replace("SAMPLING", sampling))
    spec = cloudauto.JobSpec.from_file(path, overrides=["backends.azureml.environment=azureml:cloudauto-autogluon:1"])
    job = cloudauto.compile(spec, backend="azureml")
    yml, *_ = job.write(tmp_path / "out")
    loaded = load_job(yml)
    space = loaded.search_space
    # fixed values (models, CAT's time_limit) stay in the spec the trial reads; a tuned name that differs is kept apart
    assert set(space) == {"cloudauto_subspace", "GBM_learning_rate", "subspace0_time_limit", "CAT_depth"}
    assert space["cloudauto_subspace"].values == [0, 1]  # drawn uniformly, as the local random sampler draws one
    assert "--param 0.time_limit=${{search_space.subspace0_time_limit}}" in loaded.trial.command

    from cloudauto_azureml.compile import search_names

    from cloudauto.runtime.azureml_entry import typed_params

    # a trial's command-line values (and the handle's, from the child's hyperparameters tag, by search-space name)
    tag = {"cloudauto_subspace": 1, "GBM_learning_rate": 0.2, "subspace0_time_limit": 60, "CAT_depth": 6}
    names = search_names(spec)
    assert typed_params(spec, {names[k]: str(v) for k, v in tag.items()}) == {"models": "CAT", "CAT.depth": 6, "time_limit": 45}
    tag["cloudauto_subspace"] = 0
    assert typed_params(spec, {names[k]: str(v) for k, v in tag.items()}) == {
        "models": "GBM",
        "GBM.learning_rate": 0.2,
        "time_limit": 60,
    }


def test_grid_points_beyond_sagemakers_categorical_limit_are_refused_with_the_figure(tmp_path):
    (tmp_path / "train.csv").write_text("a,y\n1,0.5\n2,1.5\n")
    text = (
        TWO_FAMILIES.replace("SAMPLING", "grid")
        .replace("{uniform: [0.01, 0.3]}", "{choice: [" + ", ".join(str(i / 100) for i in range(1, 17)) + "]}")
        .replace("limits: {max_trials: 6}\n", "")
    )
    path = tmp_path / "job.yaml"
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)
    assert len(local_trials(spec)) == 34  # 16 x 2 GBM points, 2 CAT points
    with pytest.raises(cloudauto.backend.CompileError, match="runs 34 points here.*at most 30 values: set limits.max_trials"):
        cloudauto.compile(spec, backend="sagemaker")
    cut = cloudauto.JobSpec.from_file(path, overrides=["limits.max_trials=30"])
    assert (
        len(
            cloudauto.compile(cut, backend="sagemaker").native["HyperParameterTuningJobConfig"]["ParameterRanges"][
                "CategoricalParameterRanges"
            ][0]["Values"]
        )
        == 30
    )
    azure = cloudauto.compile(spec, backend="azureml")  # Azure ML documents no such limit on a choice's values
    yml, *_ = azure.write(tmp_path / "out")
    assert load_job(yml).search_space["cloudauto_grid_point"].values == list(range(34))


def test_a_grid_point_the_table_does_not_hold_is_a_decode_error():
    table = {"grid": {"names": ["a"], "values": [[1]], "points": [[0]]}}
    assert decode({SPACE_PARAM: table, "cloudauto_grid_point": 0}) == {"a": 1}
    with pytest.raises(DecodeError, match="cloudauto_grid_point: 1 is not a whole number from 0 to 0"):
        decode({SPACE_PARAM: table, "cloudauto_grid_point": 1})
    with pytest.raises(DecodeError, match="cloudauto_grid_point is missing"):
        decode({SPACE_PARAM: table})


ONE_SUBSPACE = (
    bike_head("fm-one", "./data")
    + """sweep:
  sampling: grid
  space:
    models: {choice: [Chronos2, ETS, Theta]}
    Chronos2.model_path: ./data/checkpoints/chronos2-tiny
    Chronos2.fine_tune: {choice: [false, true]}
    time_limit: 60
"""
)


def one_subspace(folder: Path, text: str = ONE_SUBSPACE, overrides: Optional[list[str]] = None) -> cloudauto.JobSpec:
    path = folder / f"one-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    return cloudauto.JobSpec.from_file(path, overrides=overrides)


def azure_trials(spec: cloudauto.JobSpec, out: Path) -> tuple[object, list[dict]]:
    """The Azure sweep job as `az ml` loads it, and each grid point as its trial's entry decodes it from the code folder."""
    from cloudauto.runtime.azureml_entry import trial_params
    from cloudauto.runtime.sagemaker_entry import spec_data

    loaded = load_job(cloudauto.compile(spec, backend="azureml").write(out)[0])
    code = out / f"{spec.name}.code"
    data, _ = spec_data(code / "spec.json", {})
    trial_spec = cloudauto.JobSpec.from_dict(data, source="azureml")
    values = loaded.search_space["cloudauto_grid_point"].values
    return loaded, [trial_params(trial_spec, {"cloudauto_grid_point": str(i)}, code) for i in values]


def test_one_subspace_grid_runs_the_local_pruned_points_not_the_product(foundation_data, tmp_path):
    """ETS and Theta take no Chronos2.fine_tune: locally they run once each (4 trials), the clouds' grids over the
    product would run them twice (6 paid trials)."""
    spec = one_subspace(foundation_data)
    local = local_trials(spec)
    assert len(local) == 4 and spec.space.grid_size() == 6
    job = cloudauto.compile(spec, backend="sagemaker")
    request = valid(job.native)
    config = request["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"] == {
        "CategoricalParameterRanges": [{"Name": "cloudauto_grid_point", "Values": ["0", "1", "2", "3"]}]
    }
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert [decode(toolkit_decoded({**static, "cloudauto_grid_point": str(i)})) for i in range(4)] == local
    assert job.estimate.basis.trials == 4
    said = "grid: the 4 trials the local backend runs (a family's settings only with it: 4 of the product's 6), in its order"
    assert any(n.startswith(said) for n in job.notes), job.notes
    assert any(n.startswith(said) for n in cloudauto.compile(spec, backend="azureml").notes)
    assert not [w for w in job.warnings if "in every trial" in w.message]

    loaded, trials = azure_trials(spec, tmp_path / "azure")
    assert list(loaded.search_space) == ["cloudauto_grid_point"] and loaded.limits.max_total_trials == 4
    assert trials == local

    cut = one_subspace(foundation_data, overrides=["limits.max_trials=3"])  # cut where the local grid is cut
    (grid,) = cloudauto.compile(cut, backend="sagemaker").native["HyperParameterTuningJobConfig"]["ParameterRanges"][
        "CategoricalParameterRanges"
    ]
    assert grid["Values"] == ["0", "1", "2"]
    assert any(
        "(a family's settings only with it: 4 of the product's 6; limits.max_trials 3 cuts it)" in n
        for n in cloudauto.compile(cut, backend="sagemaker").notes
    )
    loaded, trials = azure_trials(cut, tmp_path / "cut")
    assert loaded.limits.max_total_trials == 3 and trials == local[:3]


def test_a_grid_the_engine_does_not_prune_stays_the_product(foundation_data, tmp_path):
    text = ONE_SUBSPACE.replace("Chronos2, ETS, Theta", "ETS, Theta").replace("time_limit: 60", "time_limit: {choice: [30, 60]}")
    spec = one_subspace(foundation_data, text.replace("    Chronos2.fine_tune: {choice: [false, true]}\n", ""))
    assert len(local_trials(spec)) == spec.space.grid_size() == 4
    ranges = cloudauto.compile(spec, backend="sagemaker").native["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert [r["Name"] for r in ranges["CategoricalParameterRanges"]] == ["models", "time_limit"]
    loaded = load_job(cloudauto.compile(spec, backend="azureml").write(tmp_path / "out")[0])
    assert set(loaded.search_space) == {"models", "time_limit"}


def test_sagemaker_refuses_a_warm_start_of_a_grid_of_numbered_points(foundation_data, tmp_path):
    """A parent's ranges cannot match cloudauto_grid_point (SageMaker's warm start keeps the hyperparameters' names,
    types and count), and a parent's point number would name a point of another grid."""
    warm = "sweep:\n  warm_start: {from: [parent-one]}\n"
    (tmp_path / "train.csv").write_text("a,y\n1,0.5\n2,1.5\n")
    (tmp_path / "job.yaml").write_text(
        TWO_FAMILIES.replace("SAMPLING", "grid").replace("sweep:\n", warm).replace("{uniform: [0.01, 0.3]}", "0.1")
    )
    for spec in (
        one_subspace(foundation_data, ONE_SUBSPACE.replace("sweep:\n", warm)),
        cloudauto.JobSpec.from_file(tmp_path / "job.yaml"),
    ):
        with pytest.raises(cloudauto.backend.CompileError) as info:
            cloudauto.compile(spec, backend="sagemaker")
        (issue,) = [spec.locate(i) for i in info.value.issues if "warm" in i.message]
        assert issue.field == "sweep.warm_start", issue
        assert "cloudauto_grid_point" in issue.message and "names, types and count" in issue.message, issue.message
        assert "drop sweep.warm_start" in issue.message
    # a grid SageMaker runs as its own product keeps its ranges, and warm-starts
    text = ONE_SUBSPACE.replace("Chronos2, ETS, Theta", "ETS, Theta").replace(
        "    Chronos2.fine_tune: {choice: [false, true]}\n", ""
    )
    request = cloudauto.compile(one_subspace(foundation_data, text.replace("sweep:\n", warm)), backend="sagemaker").native
    assert request["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [{"HyperParameterTuningJobName": "parent-one"}]


def test_max_trials_below_an_unpruned_grid_runs_the_local_first_points_not_the_whole_product(foundation_data, tmp_path):
    """SageMaker's Grid takes no MaxNumberOfTrainingJobs: a 4-point product with limits.max_trials 2 ran (and billed)
    all 4 trials there, where the local backend runs 2; Azure ML's grid would have taken its own first 2."""
    text = ONE_SUBSPACE.replace("Chronos2, ETS, Theta", "ETS, Theta").replace("time_limit: 60", "time_limit: {choice: [30, 60]}")
    spec = one_subspace(foundation_data, text.replace("    Chronos2.fine_tune: {choice: [false, true]}\n", ""), ["limits.max_trials=2"])
    local = local_trials(spec)[:2]
    job = cloudauto.compile(spec, backend="sagemaker")
    request = valid(job.native)
    (grid,) = request["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"]
    assert grid == {"Name": "cloudauto_grid_point", "Values": ["0", "1"]}
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert [decode(toolkit_decoded({**static, "cloudauto_grid_point": str(i)})) for i in range(2)] == local
    assert job.estimate.basis.trials == 2
    assert any("(limits.max_trials 2 cuts it)" in n for n in job.notes), job.notes
    loaded, trials = azure_trials(spec, tmp_path / "azure")
    assert loaded.limits.max_total_trials == 2 and trials == local


def test_the_local_plan_says_the_trials_the_pruned_grid_runs_and_why(example_images):
    """The seed's grid is a product of 7 that the local grid prunes to 5 (ETS and Theta once each, not once per
    Chronos2.fine_tune): the plan said "max_trials": 7 while 5 trials ran."""
    job = cloudauto.compile(cloudauto.JobSpec.from_file(SEED_SPEC), backend="local")
    assert job.native["max_trials"] == 5 == len(local_trials(job.spec))
    (note,) = [n for n in job.notes if n.startswith("grid:")]
    assert "5 trials run" in note and "5 of the product's 7" in note, note
    cut = cloudauto.compile(cloudauto.JobSpec.from_file(SEED_SPEC, overrides=["limits.max_trials=3"]), backend="local")
    assert cut.native["max_trials"] == 3 and any("limits.max_trials 3 cuts it" in n for n in cut.notes), cut.notes
    # a grid the engine runs whole says nothing more
    plain = cloudauto.compile(cloudauto.JobSpec.from_file(ROOT / "job_specs" / "iris.yaml"), backend="local")
    assert not [n for n in plain.notes if n.startswith("grid:")]


USER_ORDER_GRID = """\
name: gg
task: tabular_classification
data: {train: ./train.csv, label: target}
metric: accuracy
sweep:
  sampling: grid
  space:
    time_limit: {choice: [10, 20]}
    models: {choice: [GBM, XT]}
    presets: {choice: [medium_quality, good_quality]}
limits: {max_trials: 5}
"""


def _user_order_grid(tmp_path: Path) -> tuple[cloudauto.JobSpec, Path, cloudauto.JobSpec]:
    """A max_trials-cut grid whose keys are not sorted: (the spec, its Azure code folder, the trial's spec.json spec)."""
    from cloudauto.runtime.sagemaker_entry import spec_data

    (tmp_path / "train.csv").write_text("a,target\n1,x\n2,y\n3,x\n4,y\n")
    (tmp_path / "g.yaml").write_text(USER_ORDER_GRID)
    spec = cloudauto.JobSpec.from_file(tmp_path / "g.yaml")
    cloudauto.compile(spec, backend="azureml").write(tmp_path / "az")
    code = tmp_path / "az" / "gg.code"
    data, _ = spec_data(code / "spec.json", {})
    return spec, code, cloudauto.JobSpec.from_dict(data, source="azureml")


def test_an_azure_grid_without_its_table_is_refused_not_decoded_to_other_points(tmp_path):
    """spec.json's keys are sorted: a grid rebuilt from it runs other points (time_limit 10, XT, good_quality never)."""
    from cloudauto.runtime.azureml_entry import trial_params

    spec, code, trial_spec = _user_order_grid(tmp_path)
    local = local_trials(spec)[:5]
    assert [trial_params(trial_spec, {"cloudauto_grid_point": str(i)}, code) for i in range(5)] == local
    (code / "grid.json").unlink()
    with pytest.raises(DecodeError, match=r"cloudauto_grid_point 2: .*grid\.json.* is missing"):
        trial_params(trial_spec, {"cloudauto_grid_point": "2"}, code)


def test_the_azure_handle_decodes_a_grid_point_from_the_jobs_stored_spec_in_the_users_order(tmp_path):
    """The handle has no code folder: the job's stored spec property keeps the user's key order, so its grid is the
    compiled table's."""
    from types import SimpleNamespace

    from cloudauto_azureml.handle import AzureMLJob
    from cloudauto_azureml.submit import SPEC_PROPERTY

    spec, code, _ = _user_order_grid(tmp_path)
    stored = json.dumps(spec.to_stored(), separators=(",", ":"))  # as submit writes the property
    job = SimpleNamespace(properties={SPEC_PROPERTY: stored})
    client = SimpleNamespace(jobs=SimpleNamespace(get=lambda name: job))
    handle = AzureMLJob("gg-1", client=client)
    table = json.loads((code / "grid.json").read_text())
    for i, trial in enumerate(local_trials(spec)[:5]):
        child = SimpleNamespace(tags={"hyperparameters": json.dumps({"--cloudauto_grid_point": str(i)})})
        assert handle._params(child) == trial
        assert list(handle.spec.space.subspaces[0]) == ["time_limit", "models", "presets"] == table["names"]


@pytest.mark.parametrize(
    ("grid", "why"),
    [
        ({"names": ["a", "b"], "values": [[1], [2]], "points": [[0]]}, "has 1 values for the 2 names"),
        ({"names": ["a"], "values": [[1]], "points": [[3]]}, "value 3 of a is not one of its 1 values"),
        ({"names": ["a"], "values": [[1]], "points": [["0"]]}, "value '0' of a is not one of its 1 values"),
        ({"names": ["a"], "values": [[1]], "points": [[True]]}, "value True of a is not one of its 1 values"),
        ({"names": ["a"], "values": 5, "points": [[0]]}, "not cloudauto's grid table"),
        ({"names": "a", "values": [[1]], "points": [[0]]}, "not cloudauto's grid table"),
    ],
)
def test_a_tampered_grid_table_is_a_decode_error_naming_the_table_and_the_point(grid, why, tmp_path):
    from cloudauto.runtime.azureml_entry import trial_params

    with pytest.raises(DecodeError, match=rf"{SPACE_PARAM}.*point 0.*{why}"):
        decode({SPACE_PARAM: {"grid": grid}, "cloudauto_grid_point": 0})
    spec, code, trial_spec = _user_order_grid(tmp_path)
    (code / "grid.json").write_text(json.dumps(grid))
    with pytest.raises(DecodeError, match=rf"grid\.json.*point 0.*{why}"):
        trial_params(trial_spec, {"cloudauto_grid_point": "0"}, code)


@pytest.mark.parametrize("raw", ["1.9", "-0.5", "0.99", "inf", "1e400", "-inf", "nan", "-1", "1e0", " 1 ", "0x1", "1_0", "5", True])
def test_a_grid_point_number_that_is_no_whole_number_in_range_is_a_decode_error(raw, tmp_path):
    """atk7 F11: int(float(...)) read "1.9" as point 1 and "-0.5" as point 0 (another trial's parameters), "inf" as an
    OverflowError. A point is a whole number within the grid, "3" or "3.0" as a categorical may arrive as text."""
    from cloudauto.runtime.azureml_entry import trial_params

    spec, code, trial_spec = _user_order_grid(tmp_path)
    table = json.loads((code / "grid.json").read_text())
    with pytest.raises(DecodeError, match=r"grid\.json.*point"):
        trial_params(trial_spec, {"cloudauto_grid_point": str(raw)}, code)
    with pytest.raises(DecodeError, match=rf"{SPACE_PARAM}.*point"):
        decode({SPACE_PARAM: {"grid": table}, "cloudauto_grid_point": raw})
    local = local_trials(spec)
    for good in ("3", "3.0", 3, 3.0):
        assert trial_params(trial_spec, {"cloudauto_grid_point": str(good)}, code) == local[3]
        assert decode({SPACE_PARAM: {"grid": table}, "cloudauto_grid_point": good}) == local[3]


@pytest.mark.parametrize("raw", ["5", "2", "-1", "0.5", "x", "inf", "1e400"])
def test_a_subspace_number_that_is_no_sub_space_is_a_decode_error(raw, tmp_path):
    """atk7 F11: cloudauto_subspace "5" was an IndexError, "-1" silently the last sub-space."""
    from cloudauto_azureml.compile import search_names

    from cloudauto.runtime.azureml_entry import typed_params

    (tmp_path / "train.csv").write_text("a,y\n1,0.5\n2,1.5\n")
    path = tmp_path / "job.yaml"
    path.write_text(TWO_FAMILIES.replace("SAMPLING", "random"))
    spec = cloudauto.JobSpec.from_file(path)
    names = search_names(spec)
    tag = {"GBM_learning_rate": 0.2, "subspace0_time_limit": 60, "CAT_depth": 6}
    with pytest.raises(DecodeError, match="cloudauto_subspace.*2 sub-spaces"):
        typed_params(spec, {**{names[k]: str(v) for k, v in tag.items()}, "cloudauto_subspace": raw})
    assert typed_params(spec, {**{names[k]: str(v) for k, v in tag.items()}, "cloudauto_subspace": "1.0"})["models"] == "CAT"
    table = {"subspaces": [{"a": "a"}, {"a": "a"}], "params": {"a": {"type": "fixed"}}}
    with pytest.raises(DecodeError, match="cloudauto_subspace.*2 sub-spaces"):
        decode({SPACE_PARAM: table, "cloudauto_subspace": raw, "a": 1})


def _edited(table: dict, how: str) -> dict:
    table = json.loads(json.dumps(table))
    if how == "names a list":
        table["names"][0] = ["x"]
    elif how == "names repeated":
        table["names"] = [table["names"][0]] * len(table["names"])
    elif how == "a row of nulls":
        table["points"][0] = [None] * len(table["names"])
    elif how == "a value edited":
        table["values"][0][0] = 11  # time_limit 10: no value of the spec's
    elif how == "points reversed":
        table["points"] = table["points"][::-1]
    elif how == "renamed":
        table["names"][0], table["names"][1] = table["names"][1], table["names"][0]
    return table


@pytest.mark.parametrize("how", ["names a list", "names repeated", "a row of nulls", "a value edited", "points reversed", "renamed"])
def test_a_hand_edited_well_formed_grid_table_is_a_decode_error(how, tmp_path):
    """atk7 F11: a table edited by hand but still well-formed decoded silently to other parameters (or a TypeError)."""
    from cloudauto.runtime.azureml_entry import trial_params

    spec, code, trial_spec = _user_order_grid(tmp_path)
    table = _edited(json.loads((code / "grid.json").read_text()), how)
    (code / "grid.json").write_text(json.dumps(table))
    with pytest.raises(DecodeError, match=r"grid\.json.*point 0"):
        trial_params(trial_spec, {"cloudauto_grid_point": "0"}, code)
    with pytest.raises(DecodeError, match=rf"{SPACE_PARAM}.*point 0"):
        decode({SPACE_PARAM: {"grid": table}, "cloudauto_grid_point": 0}, trial_spec)
