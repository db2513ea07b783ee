"""The one check of an `engine: autogluon` sweep space, names and values, for every backend.

A misspelt family or preset, a duration where seconds belong, `holdout_frac: 2` or
`num_bag_folds: 1` would otherwise compile and then fail in every trial (on SageMaker, on GPU
instances). The backends call `issues(spec)` at compile time; each issue points at the
parameter's field. The model families and presets are AutoGluon's own for the one release
cloudauto pins (`versions.AUTOGLUON_VERSION`); a test holds these tables to the installed
AutoGluon, so they cannot drift, and `validate` stays free of AutoGluon imports.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from ..spec.errors import SpecIssue
from ..spec.metrics import Task
from .versions import AUTOGLUON_VERSION

MULTIMODAL_TASKS = frozenset({Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION})  # MultiModalPredictor's

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

# autogluon.tabular.registry.ag_model_registry.keys (1.6.3)
TABULAR_FAMILIES = frozenset(
    "AG_AUTOMM AG_IMAGE_NN AG_TEXT_NN CAT DUMMY EBM ENS_WEIGHTED FASTAI FT_TRANSFORMER GBM GBM_PREP IM_BOOSTEDRULES IM_FIGS "
    "IM_GREEDYTREE IM_HSTREE IM_RULEFIT KNN LR MITRA NN_TORCH NORI REALMLP REALTABPFN-V2 REALTABPFN-V2.5 RF "
    "SIMPLE_ENS_WEIGHTED TABDPT TABDPT-TURBO TABICL TABM TABPFN-2.6 TABPFN-3 TABPFNMIX XGB XT".split()
)
# autogluon.tabular.configs.presets_configs: tabular_presets_dict and tabular_presets_alias (1.6.3)
TABULAR_PRESETS = frozenset(
    "best_quality best_quality_v082 best_quality_v150 experimental_quality_v120 extreme_quality extreme_quality_v140 "
    "extreme_quality_v150 good_quality good_quality_v082 high_quality high_quality_v082 high_quality_v150 ignore_text "
    "ignore_text_ngrams interpretable medium_quality noncommercial optimize_for_deployment tabarena best best_quality_v140 "
    "best_v140 best_v150 bq eq experimental_quality_v140 extreme extreme_v140 extreme_v150 extreme_v160 good "
    "good_quality_faster_inference_only_refit gq high high_quality_fast_inference_only_refit high_v150 hq medium "
    "medium_quality_faster_train mq noncommercial_v160".split()
)
# autogluon.timeseries.models.registry.ModelRegistry.REGISTRY, less the abstract classes (1.6.3)
TIMESERIES_MODELS = frozenset(
    "ADIDA ARIMA AutoARIMA AutoCES AutoETS Average Chronos Chronos-2 Chronos2 Croston CrostonSBA DLinear DeepAR "
    "DirectTabular DynamicOptimizedTheta ETS IMAPA NPTS Naive PatchTST PerStepTabular RecursiveTabular SeasonalAverage "
    "SeasonalNaive SimpleFeedForward TFT TemporalFusionTransformer Theta TiDE Toto Toto2 WaveNet Zero".split()
)
# autogluon.timeseries.configs.get_predictor_presets() (1.6.3)
TIMESERIES_PRESETS = frozenset(
    "best best_quality bolt_base bolt_mini bolt_small bolt_tiny bq chronos2 chronos2_ensemble chronos2_small "
    "experimental experimental_quality fast_training high high_quality hq medium medium_quality mq".split()
)
FAMILY_ALIASES = {
    "lightgbm": "GBM",
    "gbm": "GBM",
    "catboost": "CAT",
    "cat": "CAT",
    "xgboost": "XGB",
    "xgb": "XGB",
    "random_forest": "RF",
    "rf": "RF",
    "extra_trees": "XT",
    "xt": "XT",
    "knn": "KNN",
    "linear": "LR",
    "lr": "LR",
    "neural_net": "NN_TORCH",
    "nn_torch": "NN_TORCH",
    "fastai": "FASTAI",
}


def _number(
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    integer: bool = False,
    open_low: bool = False,
    open_high: bool = False,
    also: Iterable[float] = (),
) -> Any:
    """A rule for a numeric fit argument: (value) -> problem or None."""
    allowed = set(also)

    def rule(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if integer and not isinstance(value, int):  # 2.0 reaches the library as a float (tabicl: "slice indices")
            whole = float(value).is_integer() and math.isfinite(value)
            return f"{value!r} is not an integer" + (f" (write {int(value)})" if whole else "")
        if value in allowed:
            return None
        if low is not None and (value < low or (open_low and value == low)):
            return f"{value!r} is out of range"
        if high is not None and (value > high or (open_high and value == high)):
            return f"{value!r} is out of range"
        return None

    rule.integer = integer  # type: ignore[attr-defined]
    return rule


def _boolean(value: Any) -> Optional[str]:
    return None if isinstance(value, bool) else f"{value!r} is not true or false"


# the fit arguments a space may set, with the type each is passed to fit() as
FIT_ARGS = {
    "presets": str,
    "time_limit": float,
    "num_bag_folds": int,
    "num_bag_sets": int,
    "num_stack_levels": int,
    "auto_stack": bool,
    "holdout_frac": float,
    "dynamic_stacking": bool,
    "refit_full": bool,
    "calibrate": bool,
}
TIMESERIES_FIT_ARGS = ("presets", "time_limit")
MULTIMODAL_FIT_ARGS = ("presets", "time_limit")
# MultiModalPredictor's hyperparameter groups: model.timm_image.checkpoint_name, optim.lr, env.per_gpu_batch_size ...
MULTIMODAL_PREFIXES = ("model.", "optim.", "env.", "data.")
# autogluon.multimodal.utils.presets.default (1.6.3): the presets fit takes; the _hpo ones would start AutoMM's own Ray search
MULTIMODAL_PRESETS = frozenset({"best_quality", "high_quality", "medium_quality", "default", "multilingual"})
# the names Azure AutoML's image jobs (and Keras users) give these settings -> AutoMM's, for the did-you-mean
MULTIMODAL_ALIASES = {
    "learning_rate": "optim.lr",
    "lr": "optim.lr",
    "number_of_epochs": "optim.max_epochs",
    "epochs": "optim.max_epochs",
    "max_epochs": "optim.max_epochs",
    "training_batch_size": "env.per_gpu_batch_size",
    "batch_size": "env.per_gpu_batch_size",
    "model_name": "model.timm_image.checkpoint_name",
    "weight_decay": "optim.weight_decay",
    "early_stopping_patience": "optim.patience",
}
MULTIMODAL_RULES: dict[str, tuple[Any, str]] = {
    "optim.lr": (_number(0, open_low=True), "a learning rate > 0"),
    "optim.max_epochs": (_number(1, integer=True), "an integer >= 1"),
    "optim.patience": (_number(1, integer=True), "an integer >= 1"),
    "env.per_gpu_batch_size": (_number(1, integer=True), "an integer >= 1"),
    "env.batch_size": (_number(1, integer=True), "an integer >= 1"),
    "env.num_workers": (_number(0, integer=True), "an integer >= 0"),
}
# fit argument -> (rule, what is valid); presets are checked against the preset tables
FIT_RULES: dict[str, tuple[Any, str]] = {
    "time_limit": (_number(0, open_low=True), "a duration > 0 (90s, 10m, 2h or a number of seconds)"),
    "num_bag_folds": (_number(2, integer=True, also=(0,)), "0 (no bagging) or an integer >= 2"),
    "num_bag_sets": (_number(1, integer=True), "an integer >= 1"),
    "num_stack_levels": (_number(0, integer=True), "an integer >= 0"),
    "holdout_frac": (_number(0, 1, open_low=True, open_high=True), "a fraction in (0, 1)"),
    "auto_stack": (_boolean, "true or false"),
    "dynamic_stacking": (_boolean, "true or false"),
    "refit_full": (_boolean, "true or false"),
    "calibrate": (_boolean, "true or false"),
}
# <FAMILY>.<hyperparameter>; families such as TABPFN-2.6 hold a dot themselves, so the shortest family prefix is taken
FAMILY_PARAM = re.compile(r"^([A-Za-z][A-Za-z0-9_\-.]*?)\.([A-Za-z_][A-Za-z0-9_.]*)$")
_FAMILY_CHOICES = [*sorted(TABULAR_FAMILIES), *sorted(FAMILY_ALIASES)]  # families first: they win a did-you-mean


def family(name: str) -> str:
    return FAMILY_ALIASES.get(name.lower(), name.upper()) if isinstance(name, str) else str(name)


def _names(*texts: str) -> frozenset[str]:
    """The names in the texts (a table's shared names, then a family's own)."""
    return frozenset(name for text in texts for name in text.split())


# <FAMILY>.<hyperparameter>: the names each family's AutoGluon 1.6.3 model takes. Generated by
# tests/backends/autogluon_hp_names.py (a test holds it to the installed AutoGluon): the model's defaults, its
# documented search space, its seed, AutoGluon's wrapper settings (ag_args, ag_args_fit, ag_args_ensemble,
# ag.<name>) and, where the family hands the rest to its library, that library's names (LightGBM's parameters and
# aliases, XGBoost's sklearn and booster parameters, CatBoost's constructor, the sklearn estimators' get_params).
# The torch MLP passes unknown names through silently, so its table is its defaults and what its fit reads.
# Families not listed here (TabPFN, TabM, EBM ...) are passed through unchecked. _TABULAR_COMMON: the names every
# listed family takes (AutoGluon's wrapper settings), written once.
_TABULAR_COMMON = (
    "ag.drop_unique ag.get_features_kwargs ag.get_features_kwargs_extra ag.ignore_constraints "
    "ag.ignored_type_group_raw ag.ignored_type_group_special ag.max_batch_size ag.max_cells ag.max_classes "
    "ag.max_features ag.max_gpu_memory_usage_ratio ag.max_memory_usage_ratio ag.max_rows ag.max_time_limit "
    "ag.max_time_limit_ratio ag.min_cells ag.min_features ag.min_rows ag.min_time_limit "
    "ag.model_specific_feature_generator_kwargs ag.predict_1_batch_size ag.prep_params "
    "ag.prep_params.passthrough_types ag.problem_types ag.temperature_scalar ag.valid_raw_types "
    "ag.valid_special_types ag_args ag_args_ensemble ag_args_fit "
)
FAMILY_HYPERPARAMETERS: dict[str, frozenset[str]] = {
    "GBM": _names(
        _TABULAR_COMMON,
        "ag.curve_metrics ag.early_stop ag.generate_curves ag.use_error_for_curve_metrics alpha app application "
        "auc_mu_weights bagging bagging_by_query bagging_fraction bagging_fraction_seed bagging_freq bagging_seed "
        "bin_construct_sample_cnt blacklist boost boost_from_average boosting boosting_type bundle cat_column "
        "cat_feature cat_l2 cat_smooth categorical_column categorical_feature categorical_features "
        "cegb_penalty_feature_coupled cegb_penalty_feature_lazy cegb_penalty_split cegb_tradeoff colsample_bynode "
        "colsample_bytree config config_file contrib convert_model convert_model_file convert_model_language "
        "dart_retrain data data_filename data_random_seed data_sample_strategy data_seed deterministic device "
        "device_type drop_rate drop_seed early_stopping early_stopping_min_delta early_stopping_round "
        "early_stopping_rounds enable_bundle enable_sparse eta eval_at extra_seed extra_tree extra_trees fair_c fc "
        "feature_contri feature_contrib feature_fraction feature_fraction_bynode feature_fraction_seed feature_penalty "
        "feature_pre_filter first_metric_only force_col_wise force_row_wise forced_splits forced_splits_file "
        "forced_splits_filename forcedbins_filename forcedsplits_filename fp fs gpu_device_id gpu_device_id_list "
        "gpu_platform_id gpu_use_dp group group_column group_id has_header header hist_pool_size histogram_pool_size "
        "ignore_column ignore_feature input_model interaction_constraints is_enable_bundle is_enable_sparse "
        "is_pre_partition is_predict_contrib is_predict_leaf_index is_predict_raw_score is_provide_training_metric "
        "is_save_binary is_save_binary_file is_sparse is_training_metric is_unbalance l1_regularization "
        "l2_regularization label label_column label_gain lambda lambda_l1 lambda_l2 lambdarank_norm "
        "lambdarank_position_bias_regularization lambdarank_truncation_level leaf_index learning_rate linear_lambda "
        "linear_tree linear_trees local_listen_port local_port loss machine_list machine_list_file "
        "machine_list_filename machines map_at map_eval_at max_bin max_bin_by_feature max_bins max_cat_threshold "
        "max_cat_to_onehot max_delta_step max_depth max_drop max_iter max_leaf max_leaf_nodes max_leaf_output "
        "max_leaves max_tree_output mc mc_method mc_penalty metric metric_freq metric_types metrics min_child_samples "
        "min_child_weight min_data min_data_in_bin min_data_in_leaf min_data_per_group min_data_per_leaf "
        "min_gain_to_split min_hessian min_samples_leaf min_split_gain min_sum_hessian min_sum_hessian_in_leaf "
        "min_sum_hessian_per_leaf mlist model_in model_input model_out model_output monotone_constraining_method "
        "monotone_constraint monotone_constraints monotone_constraints_method monotone_penalty monotone_splits_penalty "
        "monotonic_cst ms_penalty multi_error_top_k n_estimators n_iter n_iter_no_change n_jobs name_pred ndcg_at "
        "ndcg_eval_at neg_bagging neg_bagging_fraction neg_sub_row neg_subsample nodes nrounds nthread nthreads "
        "num_boost_round num_class num_classes num_gpu num_grad_quant_bins num_iteration num_iteration_predict "
        "num_iterations num_leaf num_leaves num_machine num_machines num_round num_rounds num_thread num_threads "
        "num_tree num_trees objective objective_seed objective_type other_rate output_freq output_model output_result "
        "parser_config_file path_smooth poisson_max_delta_step port pos_bagging pos_bagging_fraction pos_sub_row "
        "pos_subsample pre_partition precise_float_parser pred_early_stop pred_early_stop_freq pred_early_stop_margin "
        "pred_name predict_contrib predict_disable_shape_check predict_leaf_index predict_name predict_raw_score "
        "predict_rawscore predict_result prediction_name prediction_result quant_train_renew_leaf query query_column "
        "query_id random_seed random_state rate_drop raw_score refit_decay_rate reg_alpha reg_lambda reg_sqrt "
        "save_binary save_period saved_feature_importance_type scale_pos_weight seed seed_value shrinkage_rate sigmoid "
        "skip_drop snapshot_freq sparse start_iteration_predict stochastic_rounding sub_feature sub_feature_bynode "
        "sub_row subsample subsample_for_bin subsample_freq task task_type test test_data test_data_file time_out top_k "
        "top_rate topk train train_data train_data_file train_metric training_metric tree tree_learner "
        "tree_learner_type tree_type tweedie_variance_power two_round two_round_loading unbalance unbalanced_sets "
        "uniform_drop use_missing use_quantized_grad use_two_round_loading valid valid_data valid_data_file "
        "valid_filenames verbose verbosity weight weight_column workers xgboost_dart_mode zero_as_missing "
    ),
    "XGB": _names(
        _TABULAR_COMMON,
        "ag.curve_metrics ag.early_stop ag.generate_curves ag.use_error_for_curve_metrics alpha base_score "
        "boost_from_average booster callbacks colsample_bylevel colsample_bynode colsample_bytree device "
        "disable_default_eval_metric early_stopping_rounds enable_categorical eta eval_metric fail_on_invalid_gpu_id "
        "feature_selector feature_types feature_weights gamma grow_policy importance_type interaction_constraints "
        "lambda learning_rate max_bin max_cat_threshold max_cat_to_onehot max_delta_step max_depth max_leaves "
        "max_row_perbatch metrics min_child_weight min_split_loss missing monotone_constraints multi_strategy "
        "n_estimators n_jobs name normalize_type nthread num_class num_feature num_parallel_tree num_target num_trees "
        "objective one_drop proc.max_category_levels process_type random_state rate_drop refresh_leaf reg_alpha "
        "reg_lambda sample_type sampling_method scale_pos_weight seed seed_per_iteration skip_drop sparse_threshold "
        "specified_updater subsample tolerance tree_method updater updater_seq validate_parameters verbosity version "
    ),
    "CAT": _names(
        _TABULAR_COMMON,
        "ag.early_stop allow_const_label allow_writing_files approx_on_full_history auto_class_weights "
        "bagging_temperature best_model_min_trees boost_from_average boosting_type bootstrap_type border_count callback "
        "cat_features class_names class_weights classes_count colsample_bylevel combinations_ctr counter_calc_method "
        "ctr_description ctr_history_unit ctr_leaf_count_limit ctr_target_border_count custom_loss custom_metric "
        "data_partition depth dev_efb_max_buckets dev_score_calc_obj_block_size device_config devices dictionaries "
        "diffusion_temperature early_stopping_rounds embedding_features eta eval_fraction eval_metric "
        "feature_border_type feature_calcers feature_weights final_ctr_computation_mode first_feature_use_penalties "
        "fixed_binary_splits fold_len_multiplier fold_permutation_block gpu_cat_features_storage gpu_ram_part "
        "grow_policy has_time ignored_features input_borders iterations l2_leaf_reg langevin "
        "leaf_estimation_backtracking leaf_estimation_iterations leaf_estimation_method learning_rate logging_level "
        "loss_function max_bin max_ctr_complexity max_depth max_leaves metadata metric_period min_child_samples "
        "min_data_in_leaf model_shrink_mode model_shrink_rate model_size_reg monotone_constraints mvs_reg n_estimators "
        "name nan_mode num_boost_round num_leaves num_trees objective od_pval od_type od_wait one_hot_max_size "
        "output_borders penalties_coefficient per_feature_ctr per_float_feature_quantization "
        "per_object_feature_penalties pinned_memory_size posterior_sampling random_score_type random_seed random_state "
        "random_strength reg_lambda rsm sampling_frequency sampling_unit save_snapshot scale_pos_weight score_function "
        "silent simple_ctr snapshot_file snapshot_interval sparse_features_conflict_fraction store_all_simple_ctr "
        "subsample target_border task_type text_features text_processing thread_count tokenizers train_dir "
        "use_best_model used_ram_limit verbose "
    ),
    "RF": _names(
        _TABULAR_COMMON,
        "bootstrap ccp_alpha class_weight criterion max_depth max_features max_leaf_nodes max_samples "
        "min_impurity_decrease min_samples_leaf min_samples_split min_weight_fraction_leaf monotonic_cst n_estimators "
        "n_jobs oob_score random_state verbose warm_start "
    ),
    "XT": _names(
        _TABULAR_COMMON,
        "bootstrap ccp_alpha class_weight criterion max_depth max_features max_leaf_nodes max_samples "
        "min_impurity_decrease min_samples_leaf min_samples_split min_weight_fraction_leaf monotonic_cst n_estimators "
        "n_jobs oob_score random_state verbose warm_start "
    ),
    "KNN": _names(
        _TABULAR_COMMON,
        "algorithm leaf_size metric metric_params n_jobs n_neighbors p weights "
    ),
    "LR": _names(
        _TABULAR_COMMON,
        "C alpha class_weight copy_X dual fit_intercept handle_text intercept_scaling l1_ratio max_iter n_jobs penalty "
        "positive precompute proc.impute_strategy proc.ngram_range proc.skew_threshold random_state selection solver "
        "tol vectorizer_dict_size verbose warm_start "
    ),
    "NN_TORCH": _names(
        _TABULAR_COMMON,
        "_num_cpus_infer activation ag.curve_metrics ag.early_stop ag.generate_curves ag.use_error_for_curve_metrics "
        "batch_size dropout_prob embed_exponent embedding_size_factor epochs_wo_improve gamma hidden_size learning_rate "
        "loss_function max_batch_size max_embedding_dim num_epochs num_layers optimizer proc.embed_min_categories "
        "proc.impute_strategy proc.max_category_levels proc.skew_threshold seed_value use_batchnorm use_ngram_features "
        "weight_decay y_range y_range_extend "
    ),
    "FASTAI": _names(
        _TABULAR_COMMON,
        "_num_cpus_infer alpha best_epoch bs clipping early.stopping.min_delta early.stopping.patience emb_drop epochs "
        "layers lr max_unique_categorical_values ps random_seed smoothing y_scaler "
    ),
    "MITRA": _names(
        _TABULAR_COMMON,
        "device fine_tune fine_tune_steps hf_cls_model hf_general_model hf_model hf_reg_model lr metric model_type "
        "n_estimators patience random_mirror_regression random_mirror_x seed shuffle_classes shuffle_features "
        "state_dict state_dict_classification state_dict_regression use_random_transforms verbose warmup_steps "
    ),
    "TABPFNMIX": _names(
        _TABULAR_COMMON,
        "ag.sample_rows ag.sample_rows_val attn_dropout dim early_stopping_patience linear_attention lr lr_scheduler "
        "lr_scheduler_patience max_epochs max_samples_query max_samples_support model_path model_path_classifier "
        "model_path_regressor n_classes n_ensembles n_features n_heads n_layers optimizer random_state split_val "
        "use_best_epoch use_feature_count_scaling use_quantile_transformer weight_decay weights_path "
        "weights_path_classifier weights_path_regressor y_as_float_embedding "
    ),
    "TABICL": _names(
        _TABULAR_COMMON,
        "allow_auto_download average_logits batch_size checkpoint_version class_shuffle_method device disk_offload_dir "
        "feat_shuffle_method inference_config kv_cache model_path n_estimators n_jobs norm_methods offload_mode "
        "outlier_threshold random_state softmax_temperature support_many_classes use_amp use_fa3 verbose "
    ),
    "TABDPT": _names(
        _TABULAR_COMMON,
        "batch_size clip_sigma compile context_reduction context_size device faiss_metric feature_reduction "
        "missing_indicators model_weight_path n_ensembles normalizer permute_classes seed temperature use_flash verbose "
    ),
}
# <Model>.<hyperparameter> of the time-series models whose every setting AutoGluon 1.6.3 lists (allowed_hyperparameters,
# generated by the same test helper); the GluonTS and statsforecast models pass names on to their libraries: unchecked
_TIMESERIES_COMMON = (
    "ag_args batch_size context_length covariate_regressor covariate_scaler device model_path target_scaler "
)
TIMESERIES_HYPERPARAMETERS: dict[str, frozenset[str]] = {
    "Chronos": _names(
        _TIMESERIES_COMMON,
        "data_loader_num_workers eval_during_fine_tune fine_tune fine_tune_batch_size fine_tune_eval_max_items "
        "fine_tune_lr fine_tune_shuffle_buffer_size fine_tune_steps fine_tune_trainer_kwargs keep_transformers_logs "
        "num_samples revision torch_dtype "
    ),
    "Chronos2": _names(
        _TIMESERIES_COMMON,
        "cross_learning disable_known_covariates disable_past_covariates eval_during_fine_tune fine_tune "
        "fine_tune_batch_size fine_tune_context_length fine_tune_eval_max_items fine_tune_lora_config fine_tune_lr "
        "fine_tune_mode fine_tune_steps fine_tune_trainer_kwargs revision "
    ),
    "Toto": _names(
        _TIMESERIES_COMMON,
        "compile_model num_samples "
    ),
    "Toto2": _names(
        _TIMESERIES_COMMON,
        "decode_block_size quantile_real_cap_k scaler_fallback_min_obs "
    ),
}
TIMESERIES_HYPERPARAMETERS["Chronos-2"] = TIMESERIES_HYPERPARAMETERS["Chronos2"]
FAMILY_LIBRARIES = {
    "GBM": "LightGBM",
    "XGB": "XGBoost",
    "CAT": "CatBoost",
    "RF": "sklearn RandomForest",
    "XT": "sklearn ExtraTrees",
    "KNN": "sklearn KNeighbors",
    "LR": "sklearn linear models",
    "NN_TORCH": "AutoGluon's torch MLP",
    "FASTAI": "fastai",
    "MITRA": "Mitra",
    "TABPFNMIX": "TabPFNMix",
    "TABICL": "TabICL",
    "TABDPT": "TabDPT",
}


def hyperparameter_problem(family_name: str, name: str) -> Optional[str]:
    """Why `name` is no hyperparameter of the model family (None when it is one, or when the family is unlisted)."""
    known = FAMILY_HYPERPARAMETERS.get(family(family_name))
    if known is None or name in known:
        return None
    fam = family(family_name)
    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.7)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (
        f"'{name}' is not a hyperparameter of {fam} ({FAMILY_LIBRARIES[fam]}) in AutoGluon {AUTOGLUON_VERSION}; {hint}"
        f"a trial would drop it (or fail on it), and trials that differ only in it would train the same model"
    )


# families whose training loop calls AutoGluon's `reporter` (runtime/ag_callbacks.py): a trial reports while they train
IN_TRAINING_FAMILIES = frozenset({"GBM", "NN_TORCH"})


def trial_steps(models: Any, bagged: bool = False, in_training: bool = True) -> Optional[int]:
    """The steps a tabular trial of these `models` reports when none reports while it trains (None when one does):
    one after each model and one for the ensemble. `in_training=False`: IN_TRAINING_FAMILIES do not report while
    they train either (their stopping metric is not the objective: log_loss for roc_auc)."""
    families = [family(f.strip()) for f in str(models).split(",") if f.strip()]
    if in_training and not bagged and any(f in IN_TRAINING_FAMILIES for f in families):
        return None
    return len(families) + 1


def active_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a tabular trial uses: a family's settings only where `models` includes that family.

    The local samplers prune with this, so a CatBoost trial draws no GBM settings and two
    CatBoost trials that differ only in them are seen to be the same configuration.
    """
    chosen = params.get("models", params.get("model_name"))
    if chosen is None:
        return params
    families = {family(f.strip()) for f in str(chosen).split(",") if f.strip()}
    kept = {}
    for name, value in params.items():
        match = FAMILY_PARAM.match(name)
        if match is None or family(match.group(1)) in families:
            kept[name] = value
    return kept


def _did_you_mean(word: str, valid: Iterable[str]) -> str:
    lowered: dict[str, str] = {}
    for v in valid:  # the first spelling wins: families come before their aliases
        lowered.setdefault(v.lower(), v)
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean '{lowered[close[0]]}'? " if close else ""


def _values(dist: Any) -> list[Any]:
    """The values a distribution can produce that a check can look at: all of a choice, the bounds of a range."""
    kind = dist.kind
    if kind == "fixed":
        return [dist.value]
    if kind == "choice":
        return list(dist.values)
    if kind == "randint":
        return [dist.low, dist.high - 1]
    if kind in ("uniform", "loguniform", "quniform", "qloguniform"):
        return [dist.low, dist.high]
    return []  # normal / lognormal: unbounded, checked by the backends that cannot take them


def _families(value: Any, task: Task) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return f"{value!r} is not a model family name"
    timeseries = task is Task.TIME_SERIES_FORECASTING
    for part in (p.strip() for p in value.split(",")):
        known = part in TIMESERIES_MODELS if timeseries else family(part) in TABULAR_FAMILIES
        if not known:
            valid = sorted(TIMESERIES_MODELS) if timeseries else _FAMILY_CHOICES
            kind = "AutoGluon time-series model" if timeseries else "AutoGluon model family"
            return f"'{part}' is not an {kind}; {_did_you_mean(part, valid)}valid: {', '.join(valid)}"
    return None


def _preset(value: Any, task: Task) -> Optional[str]:
    valid = (
        TIMESERIES_PRESETS
        if task is Task.TIME_SERIES_FORECASTING
        else MULTIMODAL_PRESETS
        if task in MULTIMODAL_TASKS
        else TABULAR_PRESETS
    )
    if task in MULTIMODAL_TASKS and isinstance(value, str) and value.endswith("_hpo"):
        return (
            f"{value!r} starts AutoMM's own hyperparameter search inside each trial; the sweep is the search: use {value[:-4]!r}"
        )
    if isinstance(value, str) and value in valid:
        return None
    return f"{value!r} is not an AutoGluon {AUTOGLUON_VERSION} preset; {_did_you_mean(str(value), valid)}valid: {', '.join(sorted(valid))}"


def name_problem(name: str, task: Task) -> Optional[str]:
    """Why `name` is no parameter of an AutoGluon fit of `task` (None when it is one)."""
    if task in MULTIMODAL_TASKS:
        if name in MULTIMODAL_FIT_ARGS or (name.startswith(MULTIMODAL_PREFIXES) and "." in name.rstrip(".")):
            return None
        valid = [*MULTIMODAL_FIT_ARGS, *(f"{p}<name>" for p in MULTIMODAL_PREFIXES)]
        alias = MULTIMODAL_ALIASES.get(name)
        hint = (
            f"did you mean '{alias}'? "
            if alias
            else _did_you_mean(name, [*MULTIMODAL_FIT_ARGS, *MULTIMODAL_RULES, "model.timm_image.checkpoint_name"])
        )
        return (
            f"'{name}' does not map onto a MultiModalPredictor fit of {task.value}; {hint}"
            f"valid: {', '.join(valid)} (AutoMM's hyperparameter names)"
        )
    timeseries = task is Task.TIME_SERIES_FORECASTING
    fit_args = TIMESERIES_FIT_ARGS if timeseries else tuple(FIT_ARGS)
    if name in ("models", "model_name", *fit_args):
        return None
    match = FAMILY_PARAM.match(name)
    if match and timeseries:
        return _timeseries_setting_problem(name, match.group(1), match.group(2))
    if match:
        prefix = match.group(1)
        if family(prefix) in TABULAR_FAMILIES:
            problem = hyperparameter_problem(prefix, match.group(2))
            return f"'{name}': {problem}" if problem else None
        return (
            f"'{name}': '{prefix}' is not an AutoGluon model family; "
            f"{_did_you_mean(prefix, _FAMILY_CHOICES)}valid: {', '.join(_FAMILY_CHOICES)}"
        )
    valid_names = ["models", "model_name", *fit_args, "<MODEL>.<hyperparameter>" if timeseries else "<FAMILY>.<hyperparameter>"]
    return (
        f"'{name}' does not map onto an AutoGluon {task.value} fit; "
        f"{_did_you_mean(name, valid_names)}valid: {', '.join(valid_names)}"
    )


def _timeseries_setting_problem(name: str, model: str, setting: str) -> Optional[str]:
    """`Chronos2.fine_tune`: the model must be one, and its setting one AutoGluon lists (for the models that list all)."""
    if model not in TIMESERIES_MODELS:
        valid = sorted(TIMESERIES_MODELS)
        return (
            f"'{name}': '{model}' is not an AutoGluon time-series model; {_did_you_mean(model, valid)}valid: {', '.join(valid)}"
        )
    known = TIMESERIES_HYPERPARAMETERS.get(model)
    if known is None or setting in known:
        return None
    close = difflib.get_close_matches(setting, sorted(known), n=2, cutoff=0.7)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (
        f"'{name}': '{setting}' is not a hyperparameter of {model} in AutoGluon {AUTOGLUON_VERSION}; {hint}"
        f"valid: {', '.join(sorted(known))}"
    )


# the settings foundation models share (Chronos-2, Chronos-Bolt, Mitra, TabPFNMix), by the name AutoGluon gives them
FOUNDATION_RULES: dict[str, tuple[Any, str]] = {
    "fine_tune": (_boolean, "true or false"),
    "fine_tune_lr": (_number(0, open_low=True), "a learning rate > 0"),
    "fine_tune_steps": (_number(1, integer=True), "an integer >= 1"),
    "fine_tune_batch_size": (_number(1, integer=True), "an integer >= 1"),
    "fine_tune_context_length": (_number(1, integer=True), "an integer >= 1"),
    "context_length": (_number(1, integer=True), "an integer >= 1"),
    "batch_size": (_number(1, integer=True), "an integer >= 1"),
    "fine_tune_mode": (lambda v: None if v in ("full", "lora") else f"{v!r} is not full or lora", "full or lora"),
    "cross_learning": (_boolean, "true or false"),
    "eval_during_fine_tune": (_boolean, "true or false"),
    "model_path": (lambda v: None if isinstance(v, str) and v else f"{v!r} is not a folder or hub name", "a folder, s3:// or hub name"),
    "hf_model": (lambda v: None if isinstance(v, str) and v else f"{v!r} is not a folder or hub name", "a folder or hub name"),
}


def _one_of(*allowed: Any) -> Any:
    def rule(value: Any) -> Optional[str]:
        ok = any(value is a if isinstance(a, bool) or a is None else (not isinstance(value, bool) and value == a) for a in allowed)
        return None if ok else f"{value!r} is not one of {', '.join(map(repr, allowed))}"

    return rule


def _or_none(rule: Any) -> Any:
    def check(value: Any) -> Optional[str]:
        return None if value is None else rule(value)

    check.integer = getattr(rule, "integer", False)  # type: ignore[attr-defined]
    return check


_POSITIVE_INT = (_number(1, integer=True), "an integer >= 1")
_POSITIVE_INT_OR_NULL = (_or_none(_number(1, integer=True)), "an integer >= 1, or null")
_POSITIVE = (_number(0, open_low=True), "a number > 0")
_BOOL = (_boolean, "true or false")
_SHUFFLE = ("none", "shift", "random", "latin")
# TabICL's and TabDPT's own settings, with the bounds their estimators document (tabicl 2.1 TabICLClassifier /
# TabICLRegressor, tabdpt 1.2 TabDPTClassifier / TabDPTRegressor and their predict) or enforce (tabdpt's asserts)
FAMILY_RULES: dict[str, dict[str, tuple[Any, str]]] = {
    "TABICL": {
        "n_estimators": _POSITIVE_INT,
        "batch_size": _POSITIVE_INT_OR_NULL,
        "outlier_threshold": _POSITIVE,
        "softmax_temperature": _POSITIVE,
        "average_logits": _BOOL,
        "support_many_classes": _BOOL,
        "allow_auto_download": _BOOL,
        "verbose": _BOOL,
        "feat_shuffle_method": (_one_of(*_SHUFFLE), "none, shift, random or latin"),
        "class_shuffle_method": (_one_of(*_SHUFFLE), "none, shift, random or latin"),
        "kv_cache": (_one_of(True, False, "kv", "repr"), "true, false, kv or repr"),
        "use_amp": (_one_of(True, False, "auto"), "true, false or auto"),
        "use_fa3": (_one_of(True, False, "auto"), "true, false or auto"),
        "random_state": (_or_none(_number(0, integer=True)), "an integer >= 0, or null"),
    },
    "TABDPT": {
        "n_ensembles": _POSITIVE_INT,
        "context_size": _POSITIVE_INT_OR_NULL,
        "batch_size": _POSITIVE_INT_OR_NULL,
        "temperature": _POSITIVE,
        "clip_sigma": _POSITIVE,
        "missing_indicators": _BOOL,
        "permute_classes": _BOOL,
        "use_flash": _BOOL,
        "compile": _BOOL,
        "verbose": _BOOL,
        "seed": (_number(0, integer=True), "an integer >= 0"),
        "normalizer": (
            _one_of(None, "standard", "minmax", "robust", "power", "quantile-uniform", "quantile-normal", "log1p"),
            "standard, minmax, robust, power, quantile-uniform, quantile-normal, log1p or null",
        ),
        "feature_reduction": (_one_of("pca", "subsample"), "pca or subsample"),
        "context_reduction": (_one_of("retrieval", "subsample", "subsample-balanced"), "retrieval, subsample or subsample-balanced"),
        "faiss_metric": (_one_of("l2", "ip"), "l2 or ip"),
    },
}

FAMILY_RULES["TABDPT-TURBO"] = FAMILY_RULES["TABDPT"]  # AutoGluon's TabDPT model with the turbo checkpoint: its settings


def _foundation_rule(name: str) -> Any:
    from .foundation import FOUNDATION_FAMILIES

    match = FAMILY_PARAM.match(name)
    own = FAMILY_RULES.get(family(match.group(1)), {}).get(match.group(2)) if match else None
    if own:
        return own
    if match is None or match.group(2) not in FOUNDATION_RULES:
        return None
    fam = match.group(1)
    if fam not in FOUNDATION_FAMILIES and fam.upper() not in FOUNDATION_FAMILIES:
        return None
    return FOUNDATION_RULES[match.group(2)]


def _value_check(name: str, task: Task) -> Any:
    """(value) -> problem or None, for a parameter whose name maps; None where values are AutoGluon's own (GBM.*)."""
    if name in ("models", "model_name"):
        return lambda v: _families(v, task)
    if name == "presets":
        return lambda v: _preset(v, task)
    rules = MULTIMODAL_RULES if task in MULTIMODAL_TASKS else FIT_RULES
    if name == "time_limit":
        rules = FIT_RULES
    found = rules.get(name) or (None if task in MULTIMODAL_TASKS else _foundation_rule(name))
    if found:
        rule, valid = found

        def check(value: Any) -> Optional[str]:
            problem = rule(value)
            return f"{problem}; {name} takes {valid}" if problem else None

        check.integer = getattr(rule, "integer", False)  # type: ignore[attr-defined]
        check.valid = valid  # type: ignore[attr-defined]
        return check
    return None


def parameter_problem(name: str, dist: Any, task: Task) -> Optional[str]:
    """What is wrong with one parameter of the space for an AutoGluon fit of `task` (None when nothing is)."""
    problem = name_problem(name, task)
    check = None if problem else _value_check(name, task)
    if check is None:
        return problem
    valid = getattr(check, "valid", None)
    if dist.kind in ("normal", "lognormal") and valid:
        return (
            f"{name} (in its {dist.kind}): a {dist.kind} range draws values without bounds, and {name} takes {valid}; "
            "use a uniform, loguniform, quniform or randint range, or a choice"
        )
    values = _values(dist)
    if getattr(check, "integer", False):
        whole = dist.kind == "randint" or (
            dist.kind == "quniform" and all(float(x).is_integer() for x in (dist.low, dist.high, dist.q))
        )
        if dist.kind in ("uniform", "loguniform", "qloguniform", "quniform") and not whole:
            return (
                f"{name} (in its {dist.kind}): it draws fractional numbers, and {name} takes {valid}; "
                "use randint, or quniform with whole bounds and a whole q"
            )
        if whole:  # their draws are ints (samplers.quantize, the clouds' integer ranges)
            values = [int(v) for v in values]
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            continue
        problem = check(value)
        if problem:
            where = "" if dist.kind == "fixed" else f" (in its {dist.kind})"
            return f"{name}{where}: {problem}"
    return problem


def issues(spec: JobSpec) -> list[SpecIssue]:
    """Every parameter of an engine: autogluon space that an AutoGluon fit would refuse, at its field."""
    if spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING, *MULTIMODAL_TASKS):
        return []  # object detection is refused as a whole (untrainable)
    found = []
    if spec.objective.autogluon is None:  # AutoGluon would fit to its default metric while the sweep ranks by this one
        from ..spec.metrics import metrics_for

        others = sorted(m.name for m in metrics_for(spec.task) if m.autogluon)
        found.append(
            SpecIssue(
                f"{spec.objective.name} has no AutoGluon counterpart, so AutoGluon trials cannot fit to it; "
                f"use one of: {', '.join(others)} (or engine: native on azureml, where Azure AutoML computes it)",
                ("metric",),
            )
        )
    for index, name, dist in spec.space.distributions():
        problem = parameter_problem(name, dist, spec.task)
        if problem:
            found.append(SpecIssue(problem, ("sweep", "space", index, name)))
    settings = spec.autogluon
    if settings is not None:
        for i, name in enumerate(settings.excluded_model_types):
            problem = _families(name, spec.task)
            if problem:
                found.append(SpecIssue(f"excluded_model_types: {problem}", ("autogluon", "excluded_model_types", i)))
        for name, value in (settings.hyperparameters or {}).items():
            problem = _families(name, spec.task)
            if problem:
                found.append(SpecIssue(f"hyperparameters: {problem}", ("autogluon", "hyperparameters", name)))
            elif spec.task is not Task.TIME_SERIES_FORECASTING:
                found += _block_settings(name, value)
    return found


def _block_settings(name: str, value: Any) -> list[SpecIssue]:
    """`autogluon.hyperparameters: {GBM: {...}}` (or a list of such dicts): each key checked as `GBM.<key>` is."""
    found = []
    configs = [(i, c) for i, c in enumerate(value)] if isinstance(value, list) else [(None, value)]
    for index, config in configs:
        for key in config if isinstance(config, dict) else ():
            problem = hyperparameter_problem(name, str(key))
            rule = None if problem else FAMILY_RULES.get(family(name), {}).get(str(key))
            wrong = rule[0](config[key]) if rule else None
            if wrong:
                problem = f"{key}: {wrong}; {key} takes {rule[1]}"
            if problem:
                where = ("autogluon", "hyperparameters", name, *(() if index is None else (index,)), key)
                found.append(SpecIssue(f"hyperparameters.{name}: {problem}", where))
    return found


# time-series models that fetch pretrained weights from the Hugging Face hub when they fit
PRETRAINED_TIMESERIES_MODELS = ("Chronos", "Chronos-2", "Chronos2", "Toto", "Toto2")


__all__ = [
    "IN_TRAINING_FAMILIES",
    "FAMILY_ALIASES",
    "FAMILY_HYPERPARAMETERS",
    "FAMILY_PARAM",
    "FAMILY_RULES",
    "FIT_ARGS",
    "FIT_RULES",
    "MULTIMODAL_PREFIXES",
    "MULTIMODAL_PRESETS",
    "MULTIMODAL_TASKS",
    "PRETRAINED_TIMESERIES_MODELS",
    "TABULAR_FAMILIES",
    "TABULAR_PRESETS",
    "TIMESERIES_MODELS",
    "TIMESERIES_HYPERPARAMETERS",
    "TIMESERIES_PRESETS",
    "active_parameters",
    "family",
    "hyperparameter_problem",
    "issues",
    "name_problem",
    "parameter_problem",
    "trial_steps",
]
