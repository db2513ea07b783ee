"""The spec's `autogluon:` block: what AutoGluon users reach for, validated as the rest and laid under the sweep."""

from __future__ import annotations

import pytest

from cloudauto.runtime.autogluon_params import issues
from cloudauto.runtime.autogluon_timeseries import timeseries_fit_arguments
from cloudauto.runtime.autogluon_trial import fit_arguments
from cloudauto.spec import JobSpec, SpecError

TABULAR = """\
name: ag
task: tabular_classification
data: {train: train.csv, label: y}
metric: accuracy
"""


def test_the_block_reaches_fit_under_the_swept_values(load):
    spec = load(
        TABULAR
        + """\
autogluon:
  problem_type: multiclass
  sample_weight: w
  excluded_model_types: [KNN, neural_net]
  hyperparameters:
    GBM: {num_leaves: 31, learning_rate: 0.05}
    CAT: {}
    XGB: [{max_depth: 4}, {max_depth: 8}]
"""
    )
    assert issues(spec) == []
    settings = spec.autogluon
    assert fit_arguments({}, settings) == {
        "hyperparameters": {
            "GBM": {"num_leaves": 31, "learning_rate": 0.05},
            "CAT": {},
            "XGB": [{"max_depth": 4}, {"max_depth": 8}],
        },
        "excluded_model_types": ["KNN", "NN_TORCH"],
    }
    trial = fit_arguments({"models": "GBM,XGB", "GBM.num_leaves": 63, "XGB.eta": 0.1, "time_limit": 30}, settings)
    assert trial["hyperparameters"] == {
        "GBM": {"num_leaves": 63, "learning_rate": 0.05},
        "XGB": [{"max_depth": 4, "eta": 0.1}, {"max_depth": 8, "eta": 0.1}],
    }
    assert trial["time_limit"] == 30


def test_families_are_checked_where_they_are_named(problems):
    found = {i.path: i.message for i in problems(TABULAR + "autogluon:\n  excluded_model_types: [KNN, LightGMB]\n  hyperparameters: {GMB: {}}\n")}
    assert "'LightGMB' is not an AutoGluon model family" in found[("autogluon", "excluded_model_types", 1)]
    assert "'GMB' is not an AutoGluon model family; did you mean" in found[("autogluon", "hyperparameters", "GMB")]


def test_family_settings_in_the_block_are_checked_by_name(problems, tmp_path):
    text = TABULAR + "autogluon:\n  hyperparameters:\n    GBM: {num_leafs: 31}\n    XGB: [{max_depth: 4}, {max_dept: 8}]\n"
    found = {i.path: i for i in problems(text)}
    gbm = found[("autogluon", "hyperparameters", "GBM", "num_leafs")]
    assert "'num_leafs' is not a hyperparameter of GBM (LightGBM) in AutoGluon 1.6.3; did you mean 'num_leaf' or 'num_leaves'?" in gbm.message
    assert "did you mean 'max_depth'?" in found[("autogluon", "hyperparameters", "XGB", 1, "max_dept")].message
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as refused:
        JobSpec.from_file(path)
    (located,) = [i for i in refused.value.issues if "num_leafs" in i.message]
    assert located.line == 7


@pytest.mark.parametrize(
    "block, words",
    [
        ("autogluon: {problem_type: regression}", "tabular_classification takes problem_type binary or multiclass or softclass"),
        ("autogluon: {problem_type: linear}", "autogluon.problem_type"),
        ("autogluon: {sample_weight: y}", "the weight column cannot be the label"),
        ("autogluon: {hyperparameter: {}}", "autogluon.hyperparameter"),
    ],
)
def test_the_block_refuses_what_the_predictor_would(problems, block, words):
    found = problems(TABULAR + block + "\n")
    assert any(words in str(i) for i in found), [str(i) for i in found]


def test_the_block_is_for_autogluon_trials_only(problems):
    command = "name: c\ntask: custom\nengine: command\ncommand: {run: python t.py}\nmetric: {name: s, goal: maximize}\n"
    (issue,) = problems(command + "autogluon: {problem_type: binary}\n")
    assert issue.field == "autogluon" and "engine: autogluon" in issue.message


def test_time_series_trials_leave_out_models_that_download_unless_named():
    assert timeseries_fit_arguments({"presets": "medium_quality"})["excluded_model_types"] == ["Chronos", "Chronos2", "Toto", "Toto2"]
    asked = timeseries_fit_arguments({"models": "Chronos2,ETS"})
    assert asked["hyperparameters"] == {"Chronos2": {}, "ETS": {}}
    # a trial that trains Chronos2 excludes neither it nor its alias: its log read as if Chronos-2 were off
    assert asked["excluded_model_types"] == ["Chronos", "Toto", "Toto2"]
    assert timeseries_fit_arguments({"models": "Chronos-2"})["excluded_model_types"] == ["Chronos", "Toto", "Toto2"]
    spec = JobSpec.from_dict(
        {
            "name": "ts",
            "task": "time_series_forecasting",
            "metric": "MASE",
            "data": {"train": "t.csv", "label": "y", "timestamp": "ts", "prediction_length": 4},
            "autogluon": {"hyperparameters": {"DeepAR": {"epochs": 2}}, "excluded_model_types": ["Theta"]},
        }
    )
    assert issues(spec) == []
    kwargs = timeseries_fit_arguments({}, spec.autogluon)
    assert kwargs["hyperparameters"] == {"DeepAR": {"epochs": 2}} and kwargs["excluded_model_types"][0] == "Theta"
    with pytest.raises(SpecError, match="problem_type is a TabularPredictor setting"):
        JobSpec.from_dict({**spec.to_dict(), "autogluon": {"problem_type": "regression"}})


def test_validate_says_where_a_policy_cannot_act_on_autogluon_steps(load):
    # a verdict acts while LightGBM or the torch MLP trains, or between models; one after the last model is ignored
    sweep = "sweep:\n  sampling: grid\n  space:\n    models: {choice: [GBM, RF, 'RF,XT']}\n"
    never = load(TABULAR + sweep + "  early_termination: {policy: bandit, slack_factor: 0.1, delay_evaluation: 5}\n")
    (warning,) = [w for w in never.warnings if w.field == "sweep.early_termination"]
    assert "first applied at interval 6, and trials of models: RF, models: RF,XT report one step after each" in warning.message
    assert "it can never stop them" in warning.message
    between = load(TABULAR + sweep + "  early_termination: {policy: median_stopping}\n")
    messages = [w.message for w in between.warnings if w.field == "sweep.early_termination"]
    assert len(messages) == 2 and "trials of models: RF report" in messages[0] and "never" in messages[0]
    assert "trials of models: RF,XT report one step after each model" in messages[1] and "only between models" in messages[1]
    single = load(
        TABULAR + "sweep:\n  space:\n    models: {choice: [GBM, XGB]}\n  early_termination: {policy: median_stopping}\n"
    )
    (warning,) = [w for w in single.warnings if w.field == "sweep.early_termination"]
    assert "trials of models: XGB report" in warning.message and "never stop them" in warning.message
    lgbm = load(
        TABULAR + "sweep:\n  space:\n    models: {choice: [GBM, NN_TORCH]}\n  early_termination: {policy: median_stopping}\n"
    )
    assert not [w for w in lgbm.warnings if w.field == "sweep.early_termination"]
    bagged = load(
        TABULAR + "sweep:\n  space:\n    models: GBM\n    num_bag_folds: 5\n  early_termination: {policy: median_stopping}\n"
    )
    (warning,) = [w for w in bagged.warnings if w.field == "sweep.early_termination"]
    assert "models: GBM (bagged)" in warning.message and "never" in warning.message
    auc = load(
        TABULAR.replace("accuracy", "roc_auc")
        + "sweep:\n  space:\n    models: GBM\n  early_termination: {policy: bandit, slack_factor: 0.1}\n"
    )
    (warning,) = [w for w in auc.warnings if w.field == "sweep.early_termination"]
    assert "stop on log_loss" in warning.message and "only between models" in warning.message


def test_cloud_tuners_are_said_to_draw_family_settings_in_every_trial():
    from pathlib import Path

    import cloudauto

    spec = JobSpec.from_file(Path(__file__).parents[1] / "job_specs" / "diabetes.yaml")
    for backend in ("sagemaker", "azureml"):
        job = cloudauto.compile(spec, backend=backend)
        (warning,) = [w for w in job.warnings if "draws GBM.learning_rate, GBM.num_leaves in every trial" in w.message]
        located = spec.locate(warning)
        assert located.field == "sweep.space" and located.line == 13
    local = cloudauto.compile(spec, backend="local")
    assert not [w for w in local.warnings if "in every trial" in w.message]


def test_fixed_family_settings_beside_swept_models_are_not_said_to_be_drawn(tmp_path):
    """Fixed settings travel as static hyperparameters (Azure: not in search_space): no duplicate configurations."""
    import cloudauto

    (tmp_path / "train.csv").write_text("a,y\n1,0\n2,1\n")
    path = tmp_path / "job.yaml"
    path.write_text(
        TABULAR
        + "sweep:\n  space:\n    models: {choice: [GBM, XGB]}\n    GBM.learning_rate: 0.05\n"
        + "    GBM.num_leaves: {choice: [16]}\n    XGB.max_depth: {choice: [4, 8]}\n"
    )
    spec = JobSpec.from_file(path)
    for backend in ("sagemaker", "azureml"):
        job = cloudauto.compile(spec, backend=backend)
        (warning,) = [w for w in job.warnings if "in every trial" in w.message]
        assert "draws XGB.max_depth in every trial" in warning.message, warning.message
    path.write_text(TABULAR + "sweep:\n  space:\n    models: {choice: [GBM, XGB]}\n    GBM.learning_rate: 0.05\n")
    spec = JobSpec.from_file(path)
    for backend in ("sagemaker", "azureml"):
        job = cloudauto.compile(spec, backend=backend, strict=True)
        assert not [w for w in job.warnings if "in every trial" in w.message]
