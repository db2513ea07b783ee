"""Samplers: grid (exact enumeration), random (seeded per trial number), bayesian (Optuna TPE).

A sampler answers "what are the parameters of trial n?" and hears the results. Random and
grid derive trial n's parameters from n alone, so a resumed sweep recreates exactly the
trials it lost; the Bayesian sampler is rebuilt from the finished trials in the run
store (Optuna's ask/tell with `add_trial`), so the store stays the single source of truth.
Alternative sub-spaces work in all three: grid walks them in turn, random draws one
uniformly (as Azure ML's choice over dictionaries), TPE treats the choice as a
categorical whose parameters are namespaced by sub-space.
"""

from __future__ import annotations

import abc
import math
import random
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Optional

from ..spec.metrics import Goal
from ..spec.space import (
    Choice,
    Fixed,
    LogNormal,
    LogUniform,
    Normal,
    QLogUniform,
    QUniform,
    RandInt,
    Scalar,
    SearchSpace,
    Uniform,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

SUBSPACE_KEY = "__subspace__"
_EPS = 1e-12


def quantize(value: float, q: float, low: float, high: float) -> Scalar:
    """round(value / q) * q, kept inside [low, high]; an int where q and bounds are integral."""
    k = round(value / q)
    k = min(max(k, math.ceil(low / q - 1e-9)), math.floor(high / q + 1e-9))
    integral = all(float(v).is_integer() for v in (q, low, high))
    return int(k * q) if integral else round(k * q, 12)


def sample(dist: Any, rng: random.Random) -> Scalar:
    """One draw from a distribution with Python's own generator."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Choice):
        return dist.values[rng.randrange(len(dist.values))]
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high)
    if isinstance(dist, LogUniform):
        return math.exp(rng.uniform(dist.log_low, dist.log_high))
    if isinstance(dist, QUniform):
        return quantize(rng.uniform(dist.low, dist.high), dist.q, dist.low, dist.high)
    if isinstance(dist, QLogUniform):
        return quantize(math.exp(rng.uniform(dist.log_low, dist.log_high)), dist.q, dist.low, dist.high)
    if isinstance(dist, RandInt):
        return rng.randrange(dist.low, dist.high)
    if isinstance(dist, Normal):
        return rng.gauss(dist.mu, dist.sigma)
    if isinstance(dist, LogNormal):
        return math.exp(rng.gauss(dist.mu, dist.sigma))
    raise TypeError(f"cannot sample {dist!r}")


class Sampler(abc.ABC):
    """Parameters for trial n; results back. `state` is what the run store keeps per trial."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int]):
        self.space, self.goal, self.seed = space, goal, seed

    @property
    def size(self) -> Optional[int]:
        """How many distinct trials there are (grid), or None."""
        return None

    @abc.abstractmethod
    def suggest(self, number: int) -> tuple[dict[str, Scalar], dict[str, Any]]:
        """(parameters, sampler state to store with the trial)."""

    def observe(self, number: int, value: Optional[float]) -> None:  # noqa: B027 - only a model-based sampler listens
        """A trial ended with this objective (None: it failed or was stopped without one)."""

    def restore(self, number: int, params: dict[str, Scalar], state: dict[str, Any], value: Optional[float]) -> None:  # noqa: B027
        """Replay a finished trial from the run store (on resume)."""


class GridSampler(Sampler):
    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int]):
        super().__init__(space, goal, seed)
        self._points = list(space.grid())

    @property
    def size(self) -> int:
        return len(self._points)

    def suggest(self, number: int) -> tuple[dict[str, Scalar], dict[str, Any]]:
        return dict(self._points[number]), {}


class RandomSampler(Sampler):
    def suggest(self, number: int) -> tuple[dict[str, Scalar], dict[str, Any]]:
        rng = random.Random(f"cloudauto:{self.seed}:{number}")  # trial n's draw depends on n alone
        index = rng.randrange(len(self.space.subspaces))
        sub = self.space.subspaces[index]
        return {name: sample(dist, rng) for name, dist in sub.items()}, {"subspace": index}


class BayesianSampler(Sampler):
    """Optuna's TPE through ask/tell; each of our trials is one Optuna trial."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int]):
        super().__init__(space, goal, seed)
        import optuna  # only when a bayesian sweep runs

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        direction = "maximize" if goal is Goal.MAXIMIZE else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
        self._asked: dict[int, Any] = {}

    def _key(self, index: int, name: str) -> str:
        return f"{index}.{name}" if self.space.is_conditional else name

    def _distributions(self, index: int) -> dict[str, Any]:
        """Optuna distributions of one sub-space, keyed as the study sees them."""
        d = self._optuna.distributions
        out: dict[str, Any] = {}
        if self.space.is_conditional:
            out[SUBSPACE_KEY] = d.CategoricalDistribution(list(range(len(self.space.subspaces))))
        for name, dist in self.space.subspaces[index].items():
            key = self._key(index, name)
            if isinstance(dist, Choice):
                out[key] = d.CategoricalDistribution(list(dist.values))
            elif isinstance(dist, Uniform):
                out[key] = d.FloatDistribution(dist.low, dist.high)
            elif isinstance(dist, (LogUniform, QLogUniform)):
                out[key] = d.FloatDistribution(dist.low, dist.high, log=True)
            elif isinstance(dist, QUniform):
                out[key] = d.IntDistribution(math.ceil(dist.low / dist.q - 1e-9), math.floor(dist.high / dist.q + 1e-9))
            elif isinstance(dist, RandInt):
                out[key] = d.IntDistribution(dist.low, dist.high - 1)
            elif isinstance(dist, (Normal, LogNormal)):
                out[key] = d.FloatDistribution(_EPS, 1 - _EPS)  # a quantile, mapped through the inverse CDF
        return out

    def _decode(self, index: int, raw: dict[str, Any]) -> dict[str, Scalar]:
        params: dict[str, Scalar] = {}
        for name, dist in self.space.subspaces[index].items():
            value = raw.get(self._key(index, name))
            if isinstance(dist, Fixed):
                params[name] = dist.value
            elif isinstance(dist, QUniform):
                params[name] = quantize(value * dist.q, dist.q, dist.low, dist.high)
            elif isinstance(dist, QLogUniform):
                params[name] = quantize(value, dist.q, dist.low, dist.high)
            elif isinstance(dist, Normal):
                params[name] = NormalDist(dist.mu, dist.sigma).inv_cdf(value)
            elif isinstance(dist, LogNormal):
                params[name] = math.exp(NormalDist(dist.mu, dist.sigma).inv_cdf(value))
            else:
                params[name] = value
        return params

    def suggest(self, number: int) -> tuple[dict[str, Scalar], dict[str, Any]]:
        trial = self.study.ask()
        index = 0
        if self.space.is_conditional:
            index = trial.suggest_categorical(SUBSPACE_KEY, list(range(len(self.space.subspaces))))
        raw: dict[str, Any] = {SUBSPACE_KEY: index} if self.space.is_conditional else {}
        for key, dist in self._distributions(index).items():
            if key != SUBSPACE_KEY:
                raw[key] = self._suggest(trial, key, dist)
        self._asked[number] = trial
        return self._decode(index, raw), {"subspace": index, "optuna": raw}

    def _suggest(self, trial: Any, key: str, dist: Any) -> Any:
        d = self._optuna.distributions
        if isinstance(dist, d.CategoricalDistribution):
            return trial.suggest_categorical(key, dist.choices)
        if isinstance(dist, d.IntDistribution):
            return trial.suggest_int(key, dist.low, dist.high)
        return trial.suggest_float(key, dist.low, dist.high, log=dist.log)

    def observe(self, number: int, value: Optional[float]) -> None:
        trial = self._asked.pop(number, None)
        if trial is None:
            return
        if value is None or not math.isfinite(value):
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def restore(self, number: int, params: dict[str, Scalar], state: dict[str, Any], value: Optional[float]) -> None:
        raw = state.get("optuna")
        if raw is None or value is None or not math.isfinite(value):
            return
        index = int(state.get("subspace", 0))
        distributions = self._distributions(index)
        self.study.add_trial(
            self._optuna.trial.create_trial(params={k: raw[k] for k in distributions}, distributions=distributions, value=value)
        )


def make_sampler(spec: JobSpec) -> Sampler:
    """The sampler a spec asks for (one fixed trial when there is no sweep)."""
    sampling = spec.sweep.sampling.value if spec.sweep else "grid"
    seed = spec.sweep.seed if spec.sweep else 0
    cls = {"grid": GridSampler, "random": RandomSampler, "bayesian": BayesianSampler}[sampling]
    return cls(spec.space, spec.objective.goal, seed)


__all__ = ["BayesianSampler", "GridSampler", "RandomSampler", "Sampler", "make_sampler", "quantize", "sample"]
