"""The hyperparameter names AutoGluon (installed) takes per family: the generator the table is pinned against."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable


def _aux_names(cls) -> set[str]:
    """`ag_args*` and the `ag.<name>` parameters AutoGluon's model wrapper reads (abstract_model._init_user_params)."""
    model = cls(path="/tmp/cloudauto-hp-names", name="x", problem_type="binary", eval_metric="accuracy")
    aux = set(model._get_default_auxiliary_params()) | set(model._ag_params()) | set(model._ag_params_common())
    return {"ag_args", "ag_args_fit", "ag_args_ensemble"} | {f"ag.{n}" for n in aux}


def _ag_names(cls) -> set[str]:
    """The model's own default hyperparameters, its documented search space, and its seed parameter names."""
    from autogluon.core.metrics import get_metric

    names: set[str] = set()
    for problem in ("binary", "multiclass", "regression"):
        metric = get_metric("root_mean_squared_error" if problem == "regression" else "accuracy", problem)
        model = cls(path="/tmp/cloudauto-hp-names", name="x", problem_type=problem, eval_metric=metric)
        model.stopping_metric = model.stopping_metric or metric  # set at fit; CatBoost's defaults read it
        model._init_params()
        names |= set(model.params)
        try:
            names |= set(model._get_default_searchspace())
        except Exception:
            pass
    names |= {n for n in [cls.seed_name, *getattr(cls, "seed_name_alt", [])] if n}
    return names | _aux_names(cls)


def _sklearn(*estimators) -> set[str]:
    return {name for e in estimators for name in e().get_params()}


def _lightgbm() -> set[str]:
    from lightgbm.basic import _ConfigAliases

    return {alias for aliases in _ConfigAliases._get_all_param_aliases().values() for alias in aliases}


def _xgboost() -> set[str]:
    import numpy as np
    import xgboost

    def leaves(node, out):
        for key, value in node.items():
            if isinstance(value, dict):
                leaves(value, out)
            else:
                out.add(key)
        return out

    names = _sklearn(xgboost.XGBClassifier, xgboost.XGBRegressor)
    data = xgboost.DMatrix(np.zeros((4, 2)), label=[0, 1, 0, 1])
    for booster in ("gbtree", "dart", "gblinear"):
        config = json.loads(xgboost.train({"booster": booster}, data, 1).save_config())
        names |= leaves(config, set())
    return names


def _catboost() -> set[str]:
    import catboost

    return {
        p
        for cls in (catboost.CatBoostClassifier, catboost.CatBoostRegressor)
        for p in inspect.signature(cls.__init__).parameters
        if p != "self"
    }


def _init_arguments(module: str, *classes: str) -> set[str]:
    """A module's classes' __init__ arguments, read from its source: Mitra's needs packages that may not be installed."""
    import ast
    import importlib.util

    tree = ast.parse(open(importlib.util.find_spec(module).origin).read())
    return {
        a.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name in classes
        for f in node.body
        if isinstance(f, ast.FunctionDef) and f.name == "__init__"
        for a in f.args.args[1:]
    }


def hyperparameter_names() -> dict[str, frozenset[str]]:
    """Family -> every hyperparameter name its AutoGluon 1.6.3 model takes (see autogluon_params.FAMILY_HYPERPARAMETERS)."""
    from autogluon.tabular.registry import ag_model_registry
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import Lasso, LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    library = {
        # LGBModel pops these two and hands the rest to lightgbm.train
        "GBM": _lightgbm() | {"num_boost_round", "dart_retrain"},
        "XGB": _xgboost(),
        "CAT": _catboost(),
        "RF": _sklearn(RandomForestClassifier, RandomForestRegressor),
        "XT": _sklearn(ExtraTreesClassifier, ExtraTreesRegressor),
        "KNN": _sklearn(KNeighborsClassifier, KNeighborsRegressor),
        # LinearModel: LogisticRegression, or Ridge/Lasso for regression; it pops max_iter
        "LR": _sklearn(LogisticRegression, Ridge, Lasso) | {"max_iter"},
        # the torch MLP passes unknown names through silently: its defaults plus what its fit pops are the names it reads
        "NN_TORCH": {"batch_size", "y_range_extend", "max_batch_size", "gamma", "_num_cpus_infer"},
        # fastai reads these from params beside its defaults
        "FASTAI": {"clipping", "_num_cpus_infer", "y_scaler", "max_unique_categorical_values", "alpha", "best_epoch"},
        # MitraModel hands its params to MitraClassifier / MitraRegressor, after popping the hf_* checkpoint aliases
        "MITRA": _init_arguments("autogluon.tabular.models.mitra.sklearn_interface", "MitraClassifier", "MitraRegressor")
        | {"hf_cls_model", "hf_reg_model", "hf_general_model", "hf_model", "state_dict", "state_dict_classification", "state_dict_regression"},
        # TabPFNMixModel reads these from params beside its defaults (its _fit)
        "TABPFNMIX": {"model_path", "weights_path", "weights_path_classifier", "weights_path_regressor"},
        # TabICLModel hands its params to TabICLClassifier / TabICLRegressor (model_path: the checkpoint file)
        "TABICL": _init_arguments("tabicl._sklearn.classifier", "TabICLClassifier")
        | _init_arguments("tabicl._sklearn.regressor", "TabICLRegressor"),
        # TabDPTModel hands its params to TabDPTClassifier / TabDPTRegressor, after popping its predict settings
        "TABDPT": _init_arguments("tabdpt.classifier", "TabDPTClassifier")
        | _init_arguments("tabdpt.regressor", "TabDPTRegressor")
        | {"context_size", "permute_classes", "temperature", "n_ensembles", "batch_size"},
    }
    return {f: frozenset(names | _ag_names(ag_model_registry.key_to_cls(f))) for f, names in library.items()}


# the time-series models whose every setting AutoGluon lists (allowed_hyperparameters): the pretrained ones;
# the GluonTS and statsforecast models hand unlisted names on to their libraries, so they stay unchecked
TIMESERIES_CHECKED = ("Chronos", "Chronos2", "Toto", "Toto2")


def timeseries_hyperparameter_names() -> dict[str, frozenset[str]]:
    """Model -> the hyperparameters its AutoGluon 1.6.3 time-series model takes (autogluon_params.TIMESERIES_HYPERPARAMETERS)."""
    from autogluon.timeseries.models.registry import ModelRegistry

    names = {}
    for name in TIMESERIES_CHECKED:
        model = ModelRegistry.get_model_class(name)(freq="h", prediction_length=2, path="/tmp/cloudauto-hp-names", name="x")
        names[name] = frozenset({*model.allowed_hyperparameters, "ag_args"})
    return names


def _chunks(names: Iterable[str], indent: str) -> list[str]:
    import textwrap

    return [f'{indent}"{chunk} "' for chunk in textwrap.wrap(" ".join(sorted(names)), 110)]


def _table(common_name: str, tables: dict[str, frozenset[str]]) -> list[str]:
    """`<common_name> = (...)`, the names every family shares, then each family's `_names(<common_name>, its own)`."""
    common = frozenset.intersection(*tables.values())
    lines = [f"{common_name} = (", *_chunks(common, "    "), ")"]
    for family, names in tables.items():
        lines += [f'    "{family}": _names(', f"        {common_name},", *_chunks(names - common, "        "), "    ),"]
    return lines


def table_source() -> str:
    """The FAMILY_HYPERPARAMETERS and TIMESERIES_HYPERPARAMETERS entries as autogluon_params.py spells them."""
    lines = ["# FAMILY_HYPERPARAMETERS", *_table("_TABULAR_COMMON", hyperparameter_names())]
    lines += ["# TIMESERIES_HYPERPARAMETERS", *_table("_TIMESERIES_COMMON", timeseries_hyperparameter_names())]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tests.backends.autogluon_hp_names: the table to paste into autogluon_params.py
    print(table_source())
