"""One check of an engine: autogluon space on every backend: names and values, at the field's line."""

from __future__ import annotations

import pytest

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.runtime import autogluon_params as ag

BACKENDS = ["local", "sagemaker", "azureml"]
SPEC = """\
name: iris
task: tabular_classification
data: {train: ./train.csv, label: target}
metric: accuracy
sweep:
  sampling: random
  space:
    presets: medium_quality
{extra}
limits: {max_trials: 2}
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("    models: GBMX", "sweep.space.models", "'GBMX' is not an AutoGluon model family; did you mean 'GBM'?"),
        (
            "    models: {choice: [GBM, RFF]}",
            "sweep.space.models",
            "models (in its choice): 'RFF' is not an AutoGluon model family",
        ),
        ("    models: 'GBM,catbost'", "sweep.space.models", "did you mean 'catboost'?"),
        ("    presets_: best_quality", "sweep.space.presets_", "did you mean 'presets'?"),
        ("    lr: {uniform: [0.01, 0.1]}", "sweep.space.lr", "'lr' does not map onto an AutoGluon tabular_classification fit"),
        ("    time_limit: soon", "sweep.space.time_limit", "'soon' is not a number; time_limit takes a duration > 0"),
        ("    time_limit: -5", "sweep.space.time_limit", "-5 is out of range; time_limit takes a duration > 0 (90s, 10m, 2h or a number of seconds)"),
        ("    holdout_frac: 2", "sweep.space.holdout_frac", "holdout_frac takes a fraction in (0, 1)"),
        (
            "    holdout_frac: {uniform: [0.1, 1.5]}",
            "sweep.space.holdout_frac",
            "holdout_frac (in its uniform): 1.5 is out of range",
        ),
        ("    num_bag_folds: 1", "sweep.space.num_bag_folds", "num_bag_folds takes 0 (no bagging) or an integer >= 2"),
        ("    num_bag_folds: {randint: [1, 6]}", "sweep.space.num_bag_folds", "(in its randint): 1 is out of range"),
        ("    GBMM.num_leaves: {randint: [8, 64]}", "sweep.space.GBMM.num_leaves", "'GBMM' is not an AutoGluon model family"),
        ("    auto_stack: 'yes'", "sweep.space.auto_stack", "auto_stack takes true or false"),
        (
            "    GBM.num_leafs: {choice: [8, 16]}",
            "sweep.space.GBM.num_leafs",
            "'num_leafs' is not a hyperparameter of GBM (LightGBM) in AutoGluon 1.6.3; did you mean 'num_leaf' or 'num_leaves'?",
        ),
        ("    lightgbm.num_leafs: 8", "sweep.space.lightgbm.num_leafs", "or 'num_leaves'?"),
        ("    XGB.max_dept: 3", "sweep.space.XGB.max_dept", "did you mean 'max_depth'?"),
        ("    RF.n_estimator: 30", "sweep.space.RF.n_estimator", "did you mean 'n_estimators'?"),
        ("    NN_TORCH.dropout: 0.1", "sweep.space.NN_TORCH.dropout", "did you mean 'dropout_prob'?"),
        ("    GBM.ag_args_fit.num_gpus: 0", "sweep.space.GBM.ag_args_fit.num_gpus", "not a hyperparameter of GBM"),
    ],
)
def test_a_bad_autogluon_parameter_fails_validate_and_compile_at_its_line(tmp_path, backend, extra, field, words):
    """engine: autogluon is refused by validate, with no backend (the tables are static); engine: native is
    AutoGluon on local and SageMaker, so their compile refuses the same (Azure's native is AutoML)."""
    text = SPEC.replace("{extra}", extra)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(cloudauto.SpecError) as refused:
        cloudauto.JobSpec.from_file(path)
    (issue,) = [i for i in refused.value.issues if words in i.message]
    assert issue.field == field and issue.line == text.splitlines().index(extra) + 1
    if backend == "azureml":
        return
    text = text.replace("metric: accuracy\n", "metric: accuracy\nengine: native\n")
    path.write_text(text)
    spec = cloudauto.JobSpec.from_file(path)  # validate leaves native to the backend
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend=backend)
    (issue,) = [spec.locate(i) for i in info.value.issues if words in i.message]
    assert issue.field == field and issue.file == str(path)
    assert issue.line == text.splitlines().index(extra) + 1


def test_the_hyperparameter_tables_are_the_installed_autogluons():
    """Each family's names are AutoGluon's (defaults, search space, ag.* wrapper settings) and, where the family
    hands the rest to its library, that library's own (lightgbm's aliases, xgboost's config, catboost's
    signature, sklearn's get_params): a new release that renames one fails here."""
    from .autogluon_hp_names import hyperparameter_names

    installed = hyperparameter_names()
    assert set(ag.FAMILY_HYPERPARAMETERS) == set(installed)
    for name, names in installed.items():
        table = ag.FAMILY_HYPERPARAMETERS[name]
        assert table == names, (name, sorted(names - table), sorted(table - names), "python -m tests.backends.autogluon_hp_names")
    assert {"num_leaves", "min_data_in_leaf", "num_boost_round", "ag_args_fit", "ag.early_stop"} <= installed["GBM"]
    assert {"eta", "max_depth", "learning_rate", "rate_drop"} <= installed["XGB"]
    assert {"depth", "l2_leaf_reg", "iterations"} <= installed["CAT"]
    assert {"dropout_prob", "num_epochs", "hidden_size"} <= installed["NN_TORCH"]


def test_valid_family_settings_pass_and_unlisted_families_are_passed_through(problems):
    text = SPEC.replace(
        "{extra}",
        "    GBM.num_leaves: {randint: [8, 64]}\n    GBM.min_data_in_leaf: 5\n    GBM.ag.early_stop: 10\n"
        "    XGB.eta: 0.1\n    CAT.depth: 6\n    NN_TORCH.num_epochs: 3\n    FASTAI.epochs: 2\n    KNN.n_neighbors: 5\n"
        "    LR.C: 1.0\n    XT.max_features: 0.5\n    TABM.anything: 1",
    )
    assert ag.issues(cloudauto.JobSpec.from_yaml(text)) == []


def test_presets_are_checked_and_a_preset_typo_gets_a_suggestion():
    problem = ag.parameter_problem("presets", cloudauto.spec.space.parse_parameter("bestquality"), ag.Task.TABULAR_CLASSIFICATION)
    assert "not an AutoGluon 1.6.3 preset; did you mean 'best_quality'?" in problem


def test_valid_spaces_compile_and_engine_native_on_azure_is_not_autogluon(tmp_path):
    text = SPEC.replace(
        "{extra}",
        "    models: {choice: [GBM, 'CAT,XGB', lightgbm]}\n    GBM.num_leaves: {randint: [8, 64]}\n"
        "    holdout_frac: {uniform: [0.1, 0.3]}\n    num_bag_folds: {choice: [0, 2, 5]}\n    time_limit: 30",
    )
    spec = cloudauto.JobSpec.from_yaml(text)
    for backend in BACKENDS:
        cloudauto.compile(spec, backend=backend)
    for path in sorted((cloudauto.spec.loader.Path(__file__).parents[2] / "job_specs").glob("*.yaml")):
        assert ag.issues(cloudauto.JobSpec.from_file(path)) == [] or path.name.startswith(("digits", "fridge"))


def test_the_tables_are_the_installed_autogluons():
    from autogluon.tabular.configs.presets_configs import tabular_presets_alias, tabular_presets_dict
    from autogluon.tabular.registry import ag_model_registry

    from cloudauto.runtime.versions import AUTOGLUON_VERSION, installed_autogluon

    assert installed_autogluon() == AUTOGLUON_VERSION
    assert ag.TABULAR_FAMILIES == set(ag_model_registry.keys)
    assert ag.TABULAR_PRESETS == set(tabular_presets_dict) | set(tabular_presets_alias)
    timeseries = pytest.importorskip("autogluon.timeseries")
    from autogluon.timeseries.configs import get_predictor_presets
    from autogluon.timeseries.models.registry import ModelRegistry

    assert timeseries.__version__ == AUTOGLUON_VERSION
    assert ag.TIMESERIES_PRESETS == set(get_predictor_presets())
    registered = {n for n in ModelRegistry.REGISTRY if not n.startswith("Abstract") and n != "MultiWindowBacktesting"}
    assert ag.TIMESERIES_MODELS == registered


def test_the_multimodal_presets_are_the_installed_automms():
    import autogluon.multimodal as automm
    from autogluon.multimodal.utils.presets import get_presets

    from cloudauto.runtime.versions import AUTOGLUON_VERSION

    assert automm.__version__ == AUTOGLUON_VERSION
    for preset in ag.MULTIMODAL_PRESETS:  # each one AutoMM resolves for a classification problem
        hyperparameters, _ = get_presets("multiclass", preset)
        assert hyperparameters
    with pytest.raises(ValueError):
        get_presets("multiclass", "not_a_preset")


def test_image_and_text_parameters_are_automms_names_checked_at_validate():
    with pytest.raises(cloudauto.SpecError) as refused:
        cloudauto.JobSpec.from_yaml(
            """\
name: img
task: image_classification
data: {train: train.csv, label: label}
metric: accuracy
sweep:
  space:
    model.timm_image.checkpoint_name: resnet18
    optim.lr: {choice: [0.001, -1]}
    optim.max_epochs: 2.5
    presets: high_quality_hpo
    learning_rate: 0.01
    time_limit: 60
"""
        )
    found = {i.path[-1]: i.message for i in refused.value.issues}
    assert set(found) == {"optim.lr", "optim.max_epochs", "presets", "learning_rate"}
    assert "a learning rate > 0" in found["optim.lr"] and "an integer >= 1" in found["optim.max_epochs"]
    assert "the sweep is the search: use 'high_quality'" in found["presets"]
    assert "does not map onto a MultiModalPredictor fit of image_classification" in found["learning_rate"]
    assert "did you mean 'optim.lr'?" in found["learning_rate"]


@pytest.mark.parametrize("task", ["tabular_classification", "image_classification"])
def test_a_metric_autogluon_cannot_fit_to_is_refused_for_its_trials(task):
    data = {"name": "m", "task": task, "data": {"train": "t.csv", "label": "y"}, "metric": "norm_macro_recall"}
    with pytest.raises(cloudauto.SpecError) as refused:  # engine: autogluon, on any backend
        cloudauto.JobSpec.from_dict(data)
    (issue,) = [i for i in refused.value.issues if i.path == ("metric",)]
    assert "norm_macro_recall has no AutoGluon counterpart" in issue.message and "accuracy" in issue.message
    from cloudauto.backend import CompileError

    native = cloudauto.JobSpec.from_dict({**data, "engine": "native"})
    with pytest.raises(CompileError, match="no AutoGluon counterpart"):  # native is AutoGluon on the local backend
        cloudauto.compile(native, backend="local")
    if task == "tabular_classification":  # Azure AutoML computes it itself
        assert not [i for i in cloudauto.compile(native, backend="azureml").warnings if "counterpart" in i.message]


def test_the_timeseries_foundation_tables_are_the_installed_autogluons():
    """Chronos, Chronos-2, Toto and Toto2 list every setting they take (allowed_hyperparameters): the table is those."""
    from .autogluon_hp_names import timeseries_hyperparameter_names

    installed = timeseries_hyperparameter_names()
    for name, names in installed.items():
        assert ag.TIMESERIES_HYPERPARAMETERS[name] == names, (name, "python -m tests.backends.autogluon_hp_names")
    assert {"fine_tune", "fine_tune_lr", "context_length", "model_path"} <= installed["Chronos2"]
    assert {"hf_model", "fine_tune_steps", "fine_tune"} <= ag.FAMILY_HYPERPARAMETERS["MITRA"]


@pytest.mark.parametrize(
    ("name", "dist", "words"),
    [
        ("Chronos2.fine_tune_step", {"kind": "fixed", "value": 5}, "did you mean 'fine_tune_steps'"),
        ("Chronos2.fine_tune_lr", {"kind": "fixed", "value": 0}, "fine_tune_lr takes a learning rate > 0"),
        ("Chronos2.fine_tune_mode", {"kind": "fixed", "value": "half"}, "'half' is not full or lora"),
        ("Chronoss.fine_tune", {"kind": "fixed", "value": True}, "did you mean 'Chronos'"),
        ("Chronos2.fine_tune", {"kind": "fixed", "value": True}, None),
        ("DeepAR.num_layers", {"kind": "fixed", "value": 2}, None),  # GluonTS takes names AutoGluon does not list
    ],
)
def test_timeseries_model_settings_are_checked_by_name_and_value(name, dist, words):
    from types import SimpleNamespace

    from cloudauto.spec.metrics import Task

    problem = ag.parameter_problem(name, SimpleNamespace(**dist), Task.TIME_SERIES_FORECASTING)
    assert (problem is None) if words is None else (words in problem), problem


def test_tabular_foundation_settings_are_checked():
    from types import SimpleNamespace

    from cloudauto.spec.metrics import Task

    task = Task.TABULAR_CLASSIFICATION
    assert ag.parameter_problem("MITRA.fine_tune_steps", SimpleNamespace(kind="fixed", value=10), task) is None
    problem = ag.parameter_problem("MITRA.fine_tune_step", SimpleNamespace(kind="fixed", value=10), task)
    assert "did you mean 'fine_tune_steps'" in problem
    problem = ag.parameter_problem("MITRA.fine_tune_steps", SimpleNamespace(kind="fixed", value=0), task)
    assert "an integer >= 1" in problem


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("    models: TABICL\n    TABICL.n_estimators: -3", "sweep.space.TABICL.n_estimators", "-3 is out of range; TABICL.n_estimators takes an integer >= 1"),
        ("    models: TABICL\n    TABICL.n_estimators: {choice: [4, 0]}", "sweep.space.TABICL.n_estimators", "(in its choice): 0 is out of range"),
        ("    models: TABICL\n    TABICL.softmax_temperature: 0", "sweep.space.TABICL.softmax_temperature", "takes a number > 0"),
        ("    models: TABICL\n    TABICL.feat_shuffle_method: rnd", "sweep.space.TABICL.feat_shuffle_method", "none, shift, random or latin"),
        ("    models: TABDPT\n    TABDPT.n_ensembles: 0", "sweep.space.TABDPT.n_ensembles", "takes an integer >= 1"),
        ("    models: TABDPT\n    TABDPT.context_size: -1", "sweep.space.TABDPT.context_size", "an integer >= 1, or null"),
        ("    models: TABDPT\n    TABDPT.temperature: -0.5", "sweep.space.TABDPT.temperature", "takes a number > 0"),
        ("    models: TABDPT\n    TABDPT.context_reduction: knn", "sweep.space.TABDPT.context_reduction", "retrieval, subsample"),
        # atk6 R1: a whole float reached tabicl as a float ("slice indices must be integers"); ranges drawing fractions
        ("    models: TABICL\n    TABICL.n_estimators: 2.0", "sweep.space.TABICL.n_estimators", "2.0 is not an integer (write 2)"),
        ("    models: TABDPT\n    TABDPT.n_ensembles: {choice: [2, 3.0]}", "sweep.space.TABDPT.n_ensembles", "3.0 is not an integer"),
        ("    models: TABICL\n    TABICL.n_estimators: {uniform: [1, 4]}", "sweep.space.TABICL.n_estimators", "draws fractional numbers"),
        ("    models: TABICL\n    TABICL.n_estimators: {quniform: [1, 4, 0.5]}", "sweep.space.TABICL.n_estimators", "whole q"),
        ("    models: TABICL\n    TABICL.n_estimators: {normal: [0, 1]}", "sweep.space.TABICL.n_estimators", "without bounds"),
        ("    models: TABICL\n    TABICL.softmax_temperature: {lognormal: [0, 1]}", "sweep.space.TABICL.softmax_temperature", "a number > 0"),
        ("    models: TABDPT-TURBO\n    TABDPT-TURBO.n_ensembles: -4", "sweep.space.TABDPT-TURBO.n_ensembles", "-4 is out of range"),
    ],
)
def test_tabicl_and_tabdpt_setting_values_are_checked_at_their_line(tmp_path, extra, field, words):
    """atk5 F8: `TABICL.n_estimators: -3` validated and trained (exit 0): refused at its line, with the bound the
    estimator documents, as other families' values are."""
    text = SPEC.replace("{extra}", extra)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(cloudauto.SpecError) as info:
        cloudauto.JobSpec.from_file(path)
    (issue,) = [i for i in info.value.issues if i.field == field]
    assert words in issue.message, issue.message
    assert issue.line == text.splitlines().index(extra.splitlines()[-1]) + 1


def test_valid_tabicl_and_tabdpt_values_pass_and_block_values_are_checked_too(tmp_path):
    from types import SimpleNamespace

    from cloudauto.spec.metrics import Task

    task = Task.TABULAR_CLASSIFICATION
    from cloudauto.spec.space import parse_parameter

    for name, dist in [("TABICL.n_estimators", {"quniform": [1, 4, 1]}), ("TABDPT.n_ensembles", {"randint": [1, 5]})]:
        assert ag.parameter_problem(name, parse_parameter(dist), task) is None, name  # their draws are ints
    assert ag.parameter_problem("TABICL.n_estimators", parse_parameter({"quniform": [0, 4, 1]}), task)  # 0 is drawn
    for name, value in [("TABICL.n_estimators", 4), ("TABICL.batch_size", None), ("TABICL.kv_cache", "repr"), ("TABDPT.context_size", None), ("TABDPT.normalizer", "power")]:
        assert ag.parameter_problem(name, SimpleNamespace(kind="fixed", value=value), task) is None, name
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("{extra}", "    models: TABICL").replace("sweep:", "autogluon:\n  hyperparameters:\n    TABICL: {n_estimators: -3}\nsweep:"))
    with pytest.raises(cloudauto.SpecError) as info:
        cloudauto.JobSpec.from_file(path)
    (issue,) = [i for i in info.value.issues if "n_estimators" in i.message]
    assert "-3 is out of range" in issue.message and issue.field == "autogluon.hyperparameters.TABICL.n_estimators"
    path.write_text(path.read_text().replace("n_estimators: -3", "n_estimators: 2.0"))
    with pytest.raises(cloudauto.SpecError) as info:
        cloudauto.JobSpec.from_file(path)
    (issue,) = [i for i in info.value.issues if "n_estimators" in i.message]
    assert "2.0 is not an integer (write 2)" in issue.message
