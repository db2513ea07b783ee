"""AutoGluon fit callbacks (imports AutoGluon: load only inside a trial).

A policy's verdict must stop a trial while it trains, or not be given. AutoGluon 1.6.3 hands a
`reporter` fit argument to two models' training loops, the hook its own HPO used: LightGBM's
early-stopping callback calls it every boosting round (`models/lgb/callbacks.py`), the torch MLP
every epoch (`tabular_nn_torch._train_net`). A trial passes its reporter there, so these models
report their validation score as they train and a stop verdict ends their training at once.
Every other model (XGBoost, CatBoost, forests, bagged models) reports once, after its fit: a
verdict then skips the models not yet trained, and one given after the last model is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

from autogluon.core.callbacks import AbstractCallback

ROUNDS_PER_STEP = 10  # LightGBM boosting rounds per reported step: the same rounds are compared across trials
IN_TRAINING = ("LGBModel", "TabularNeuralNetTorchModel")  # the models whose _fit takes AutoGluon's `reporter`
# LightGBM's own name for an AutoGluon metric (autogluon.tabular.models.lgb.lgb_utils) -> how its value becomes the score
_LGBM_ERROR = ("binary_error", "multi_error")  # 1 - accuracy


class StoppedByPolicy(Exception):
    """Raised inside a model's training loop that has no graceful way to stop (the torch MLP)."""


class ReportAfterEachModel(AbstractCallback):
    """Report the trial's best validation score so far (in the metric's own units): while LightGBM
    and the torch MLP train, and after each model; stop the fit when the scheduler says so.

    `stopped` says a policy asked to stop; `cut_short` that the fit really was (a model's
    training ended early or a model was not trained): only then did the verdict act.
    AutoGluon pickles its trainer with the callbacks, so the reporter (a closure over the
    worker's channel) is left out of the pickled state.
    """

    def __init__(self, report: Callable[[float], bool]):
        super().__init__()
        self._report: Optional[Callable[[float], bool]] = report
        self.stopped = False
        self.cut_short = False
        self.reports = 0
        self.in_training = 0  # of the reports, those made while a model trained
        self.best: Optional[float] = None  # the best value reported, in the metric's own units
        self._best_score: Optional[float] = None  # the same in AutoGluon's higher-is-better form

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_report"] = None
        return state

    def emit(self, trainer: Any, score: float) -> bool:
        """One step: the best score so far, given in AutoGluon's higher-is-better form; True to stop."""
        if not math.isfinite(score) or self.stopped or self._report is None:
            return self.stopped
        self._best_score = score if self._best_score is None else max(self._best_score, score)
        self.best = float(trainer.eval_metric.convert_score_to_original(self._best_score))
        self.reports += 1
        self.stopped = bool(self._report(self.best))
        return self.stopped

    def _before_model_fit(self, trainer: Any, model: Any, time_limit: Any = None, stack_name: str = "core", level: int = 1):
        if self.stopped:
            if stack_name != "core" and not self.cut_short:  # every model has trained: the ensemble is part of that fit
                return False, False
            self.cut_short = True
            return True, True
        if self._report is not None:
            _report_while_training(self, trainer, model)
        return False, False

    def _after_model_fit(self, trainer: Any, model_names: list[str], stack_name: str = "core", level: int = 1) -> bool:
        for name in model_names:
            score = trainer.get_model_attribute(name, "val_score", default=None)
            if score is not None:
                self.emit(trainer, float(score))
        return False  # a stop skips the next model in _before_model_fit, which can tell an ensemble from a model


class _Reporter:
    """AutoGluon's `reporter` for one model's fit: its kwargs in, a step of the trial out."""

    def __init__(self, callback: ReportAfterEachModel, trainer: Any, model: Any, names: tuple[str, ...]):
        self.callback, self.trainer, self.model, self.names = callback, trainer, model, names
        self.kind = type(model).__name__

    def __call__(self, **kwargs: Any) -> None:
        if self.kind == "LGBModel":
            if kwargs.get("epoch", 0) % ROUNDS_PER_STEP:
                return
            name = str(kwargs.get("eval_metric", "")).lstrip("_")
            if name not in self.names:
                return  # LightGBM stops on another metric than the objective: its value is not the objective's
            value = float(kwargs["validation_performance"])  # higher is better: the score, or minus a loss
            score = 1 + value if name in _LGBM_ERROR else value
        else:  # the torch MLP gives its stopping metric's score (and names the eval metric whatever it is)
            if self.model.stopping_metric.name not in self.names:
                return
            score = float(kwargs["validation_performance"])
        self.callback.in_training += 1
        if not self.callback.emit(self.trainer, score):
            return
        self.callback.cut_short = True
        if self.kind == "LGBModel":
            from lightgbm.callback import EarlyStopException

            # LightGBM keeps the rounds up to the best one so far, as its own early stopping does
            best = int(kwargs.get("best_iter_sofar", kwargs["epoch"])) - 1
            raise EarlyStopException(best, [])
        raise StoppedByPolicy("stopped by the sweep's early-termination policy")


def _report_while_training(callback: ReportAfterEachModel, trainer: Any, model: Any) -> None:
    """Give this model's next fit AutoGluon's `reporter`, where its training loop calls one with the objective."""
    kind = type(model).__name__
    if kind not in IN_TRAINING:
        return  # bagged models (a BaggedEnsembleModel around the fold models) and models without the hook
    eval_metric = trainer.eval_metric
    if kind == "LGBModel":
        from autogluon.tabular.models.lgb.lgb_utils import convert_ag_metric_to_lgbm

        curves = (model.params_aux or {}) if model.is_initialized() else (model._user_params_aux or {})  # set at fit
        if trainer.problem_type == "quantile" or not curves.get("generate_curves"):
            return  # AutoGluon's LightGBM reads the train loss the reporter needs from its curve datasets
        names = (eval_metric.name, convert_ag_metric_to_lgbm(eval_metric.name, trainer.problem_type))
    else:
        names = (eval_metric.name,)
    reporter = _Reporter(callback, trainer, model, tuple(n for n in names if n))
    fit = type(model).fit

    def fit_reporting(*args: Any, **kwargs: Any) -> Any:
        del model.__dict__["fit"]  # the model is pickled after this fit: it keeps no trace of the reporter
        return fit(model, *args, reporter=reporter, **kwargs)

    model.fit = fit_reporting


__all__ = ["IN_TRAINING", "ROUNDS_PER_STEP", "ReportAfterEachModel", "StoppedByPolicy"]
