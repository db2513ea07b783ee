"""Samplers: grid (exact enumeration), random (seeded per trial number), bayesian (Optuna TPE).

A sampler answers "what are the parameters of trial n, given the trials so far?". The
answer is a function of the seed, n and that history alone, which the run store holds, so
a resumed sweep proposes exactly what the uninterrupted one would have: random and grid
derive trial n from n; TPE builds its study from the history at each proposal and draws
with a generator seeded by (seed, n). No configuration that already ran (or is running)
is proposed again: a duplicate is drawn again with the next attempt's seed, and a
discrete space whose every point has run ends the sweep. Alternative sub-spaces work in
all three: grid walks them in turn, random draws one uniformly (as Azure ML's choice over
dictionaries), TPE treats the choice as a categorical whose parameters are namespaced by
sub-space. A `prune` function (the engine's) drops parameters a trial would not use,
such as GBM settings in a CatBoost trial, before the duplicate check.

A warm-started sweep (`sweep.warm_start`) is given its parents' finished trials once
(`warm`), numbered below 0: TPE's study gets them as trials (completed ones with their
objective); under `same_data` their configurations count as run, so no sampler proposes
one again (grid leaves them out of its points); under `transfer` they inform TPE with
the parameters they share with this space, and may run again on the new data.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Optional

from ..spec.metrics import Goal
from ..spec.space import (
    MAX_GRID_POINTS,
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
    q_multiple,
    q_steps,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

SUBSPACE_KEY = "__subspace__"
_EPS = 1e-12
EXACT_INT = 1 << 53  # Optuna holds an int parameter as a float: past this, its own range check fails


def _int_range(dist: Any) -> Optional[tuple[int, int]]:
    """The integers Optuna draws for a quniform (k of k * q) or randint; None where they pass 2**53, which is
    then drawn as a float over [low, high] and rounded back (a float cannot tell such integers apart anyway)."""
    first, last = q_steps(dist.low, dist.high, dist.q) if isinstance(dist, QUniform) else (dist.low, dist.high - 1)
    return (first, last) if -EXACT_INT <= first and last <= EXACT_INT else None


def quantize(value: float, q: float, low: float, high: float) -> Scalar:
    """round(value / q) * q, kept inside [low, high]; an int where q and bounds are integral.

    The validator has made sure low / q and high / q are finite, so k is an int however small q is."""
    first, last = q_steps(low, high, q)  # type: ignore[misc]
    k = round(min(max(value, low), high) / q)
    return q_multiple(min(max(k, first), last), q, low, high)


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


Prune = Callable[[dict[str, Scalar]], dict[str, Scalar]]
ATTEMPTS = 32  # draws of one trial before a discrete space is searched for a point that has not run


@dataclass(frozen=True)
class Past:
    """One trial the run store holds, as a sampler sees it."""

    number: int
    params: dict[str, Scalar]
    state: dict[str, Any] = field(default_factory=dict)
    value: Optional[float] = None  # the objective of a completed trial; None for any other
    finished: bool = True  # False while it is pending or running


def config_key(params: dict[str, Any]) -> str:
    """Two trials run the same configuration when their parameters have the same JSON (1, 1.0 and true differ)."""
    return json.dumps(params, sort_keys=True)


def derived_seed(seed: Optional[int], number: int, attempt: int) -> int:
    digest = hashlib.sha256(f"cloudauto:{seed}:{number}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class Sampler(abc.ABC):
    """Parameters for trial n from the history; `state` is what the run store keeps per trial."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int], prune: Optional[Prune] = None):
        self.space, self.goal, self.seed = space, goal, seed
        self.prune: Prune = prune or (lambda params: params)
        self.parents: list[Past] = []  # a warm start's trials (numbers below 0)
        self.skip_parents = False  # same_data: their configurations have run

    def warm(self, parents: Iterable[Past], *, skip: bool) -> None:
        """Start from earlier sweeps' finished trials; `skip`: their configurations count as run here."""
        self.parents = [p for p in parents if p.finished]
        self.skip_parents = skip

    @property
    def size(self) -> Optional[int]:
        """How many distinct trials there are (grid), or None."""
        return None

    def suggest(self, number: int, history: Iterable[Past] = ()) -> Optional[tuple[dict[str, Scalar], dict[str, Any]]]:
        """(parameters, state) of trial `number`, never a configuration of `history`; None when none is left."""
        history = [p for p in history if p.number != number]
        seen = {config_key(p.params) for p in history}
        if self.skip_parents:
            seen |= {config_key(p.params) for p in self.parents}
        history = [*self.parents, *history]
        for attempt in range(ATTEMPTS):
            params, state = self._draw(number, attempt, history)
            params = self.prune(params)
            if config_key(params) not in seen:
                return params, state
        return self._unseen(seen)

    def _unseen(self, seen: set[str]) -> Optional[tuple[dict[str, Scalar], dict[str, Any]]]:
        """After ATTEMPTS duplicates: the first point of a discrete space that has not run, or None (all have)."""
        if not self.space.is_discrete or self.space.grid_size() > MAX_GRID_POINTS:
            # a continuous (or vast) space repeats itself only by a vanishing chance: keep drawing
            return self._keep_drawing(seen)
        for index, point in enumerate_space(self.space):
            params = self.prune(point)
            if config_key(params) not in seen:
                return params, {"subspace": index}
        return None

    def _keep_drawing(self, seen: set[str]) -> Optional[tuple[dict[str, Scalar], dict[str, Any]]]:
        rng = random.Random(f"cloudauto:{self.seed}:fallback:{len(seen)}")
        for _ in range(1000):
            index = rng.randrange(len(self.space.subspaces))
            params = self.prune({n: sample(d, rng) for n, d in self.space.subspaces[index].items()})
            if config_key(params) not in seen:
                return params, {"subspace": index}
        return None

    @abc.abstractmethod
    def _draw(self, number: int, attempt: int, history: list[Past]) -> tuple[dict[str, Scalar], dict[str, Any]]:
        """One proposal for trial `number` (attempt 0, then 1, 2 ... while they repeat earlier trials)."""


def enumerate_space(space: SearchSpace) -> Iterable[tuple[int, dict[str, Scalar]]]:
    for index, sub in enumerate(space.subspaces):
        for point in SearchSpace(subspaces=(sub,)).grid():
            yield index, point


class GridSampler(Sampler):
    """Every point once, in a stable order; points that prune to the same configuration run once."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int], prune: Optional[Prune] = None):
        super().__init__(space, goal, seed, prune)
        points: dict[str, tuple[dict[str, Scalar], int]] = {}
        for index, point in enumerate_space(space):
            pruned = self.prune(point)
            points.setdefault(config_key(pruned), (pruned, index))
        self._points = list(points.values())
        self.ran_in_parents = 0  # points a same_data warm start's parents ran: left out of `size`

    @property
    def size(self) -> int:
        return len(self._points)

    def warm(self, parents: Iterable[Past], *, skip: bool) -> None:
        super().warm(parents, skip=skip)
        if skip:  # the parents' points have run: the grid is what is left of it
            ran = {config_key(p.params) for p in self.parents}
            left = [point for point in self._points if config_key(point[0]) not in ran]
            self.ran_in_parents += len(self._points) - len(left)
            self._points = left

    def suggest(self, number: int, history: Iterable[Past] = ()) -> Optional[tuple[dict[str, Scalar], dict[str, Any]]]:
        if number >= len(self._points):
            return None
        params, index = self._points[number]
        return dict(params), {"subspace": index}

    def _draw(self, number: int, attempt: int, history: list[Past]) -> tuple[dict[str, Scalar], dict[str, Any]]:
        raise NotImplementedError  # suggest walks the grid itself


class RandomSampler(Sampler):
    def _draw(self, number: int, attempt: int, history: list[Past]) -> tuple[dict[str, Scalar], dict[str, Any]]:
        key = f"cloudauto:{self.seed}:{number}" + (f":{attempt}" if attempt else "")  # trial n's draw depends on n alone
        rng = random.Random(key)
        index = rng.randrange(len(self.space.subspaces))
        sub = self.space.subspaces[index]
        return {name: sample(dist, rng) for name, dist in sub.items()}, {"subspace": index}


class BayesianSampler(Sampler):
    """Optuna's TPE: each proposal asks a study rebuilt from the history, with a sampler seeded by (seed, n)."""

    def __init__(self, space: SearchSpace, goal: Goal, seed: Optional[int], prune: Optional[Prune] = None):
        super().__init__(space, goal, seed, prune)
        import optuna  # only when a bayesian sweep runs

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._direction = "maximize" if goal is Goal.MAXIMIZE else "minimize"

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
            elif isinstance(dist, (QUniform, RandInt)):
                steps = _int_range(dist)
                out[key] = d.IntDistribution(*steps) if steps else d.FloatDistribution(float(dist.low), float(dist.high))
            elif isinstance(dist, (Normal, LogNormal)):
                out[key] = d.FloatDistribution(_EPS, 1 - _EPS)  # a quantile, mapped through the inverse CDF
        return out

    def _decode(self, index: int, raw: dict[str, Any]) -> dict[str, Scalar]:
        params: dict[str, Scalar] = {}
        for name, dist in self.space.subspaces[index].items():
            key = self._key(index, name)
            if key not in raw and not isinstance(dist, Fixed):
                continue  # pruned: the trial does not use it
            value = raw.get(key)
            if isinstance(dist, Fixed):
                params[name] = dist.value
            elif isinstance(dist, QUniform):
                params[name] = (
                    q_multiple(value, dist.q, dist.low, dist.high)
                    if _int_range(dist)
                    else quantize(value, dist.q, dist.low, dist.high)
                )
            elif isinstance(dist, RandInt) and not _int_range(dist):
                params[name] = min(max(round(value), dist.low), dist.high - 1)
            elif isinstance(dist, QLogUniform):
                params[name] = quantize(value, dist.q, dist.low, dist.high)
            elif isinstance(dist, Normal):
                params[name] = NormalDist(dist.mu, dist.sigma).inv_cdf(value)
            elif isinstance(dist, LogNormal):
                params[name] = math.exp(NormalDist(dist.mu, dist.sigma).inv_cdf(value))
            else:
                params[name] = value
        return params

    def _study(self, number: int, attempt: int, history: list[Past]) -> Any:
        optuna = self._optuna
        sampler = optuna.samplers.TPESampler(seed=derived_seed(self.seed, number, attempt))
        study = optuna.create_study(direction=self._direction, sampler=sampler)
        State = optuna.trial.TrialState
        for past in sorted(history, key=lambda p: p.number):
            raw = past.state.get("optuna") if past.number >= 0 else self._encode(past.params)
            if raw is None:
                continue
            index = int(raw.get(SUBSPACE_KEY, 0) if past.number < 0 else past.state.get("subspace", 0))
            distributions = {k: v for k, v in self._distributions(index).items() if k in raw and _holds(v, raw[k])}
            if not distributions:
                continue  # a parent's trial that shares nothing this space can hold
            if past.finished and past.value is not None and math.isfinite(past.value):
                state, value = State.COMPLETE, past.value
            else:
                state, value = (State.FAIL if past.finished else State.RUNNING), None
            study.add_trial(
                optuna.trial.create_trial(
                    params={k: raw[k] for k in distributions}, distributions=distributions, value=value, state=state
                )
            )
        return study

    def _encode(self, params: dict[str, Scalar]) -> Optional[dict[str, Any]]:
        """A parent's parameters as this study's raw values (the inverse of `_decode`), in the sub-space that tunes
        the most of them; None where no sub-space tunes any."""
        best: Optional[dict[str, Any]] = None
        for index, sub in enumerate(self.space.subspaces):
            raw: dict[str, Any] = {}
            for name, dist in sub.items():
                if isinstance(dist, Fixed) or params.get(name) is None:
                    continue
                encoded = _encode_value(dist, params[name])
                if encoded is not None:
                    raw[self._key(index, name)] = encoded
            if raw and (best is None or len(raw) > len(best) - (1 if self.space.is_conditional else 0)):
                best = {SUBSPACE_KEY: index, **raw} if self.space.is_conditional else raw
        return best

    def _draw(self, number: int, attempt: int, history: list[Past]) -> tuple[dict[str, Scalar], dict[str, Any]]:
        trial = self._study(number, attempt, history).ask()
        index = 0
        if self.space.is_conditional:
            index = trial.suggest_categorical(SUBSPACE_KEY, list(range(len(self.space.subspaces))))
        raw: dict[str, Any] = {SUBSPACE_KEY: index} if self.space.is_conditional else {}
        distributions = self._distributions(index)
        # parameters the engine may prune (a family's settings) come after the ones that decide it (models)
        sub = self.space.subspaces[index]
        names = sorted(sub, key=lambda n: n != "models" and n != "model_name")
        chosen: dict[str, Scalar] = {}
        for name in names:
            key = self._key(index, name)
            if key not in distributions:
                chosen[name] = sub[name].value if isinstance(sub[name], Fixed) else None
                continue
            if name not in self.prune({**chosen, name: 0}):
                continue
            raw[key] = self._suggest(trial, key, distributions[key])
            chosen[name] = raw[key]
        return self._decode(index, raw), {"subspace": index, "optuna": raw}

    def _suggest(self, trial: Any, key: str, dist: Any) -> Any:
        d = self._optuna.distributions
        if isinstance(dist, d.CategoricalDistribution):
            return trial.suggest_categorical(key, dist.choices)
        if isinstance(dist, d.IntDistribution):
            return trial.suggest_int(key, dist.low, dist.high)
        return trial.suggest_float(key, dist.low, dist.high, log=dist.log)


def _holds(distribution: Any, value: Any) -> bool:
    """Whether an Optuna distribution holds a raw value (a transferred parent's may lie outside this space)."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _encode_value(dist: Any, value: Any) -> Any:
    """One decoded value as the raw value TPE holds for it; None where it cannot be (a wrong type, a log of <= 0)."""
    try:
        if isinstance(dist, Choice):
            return value if value in dist.values else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(dist, QUniform) and _int_range(dist):
            return round(value / dist.q)
        if isinstance(dist, Normal):
            return min(max(NormalDist(dist.mu, dist.sigma).cdf(value), _EPS), 1 - _EPS)
        if isinstance(dist, LogNormal):
            return min(max(NormalDist(dist.mu, dist.sigma).cdf(math.log(value)), _EPS), 1 - _EPS)
        if isinstance(dist, RandInt) and _int_range(dist):
            return int(value)
        return float(value)
    except (ValueError, ZeroDivisionError):
        return None


def engine_prune(spec: JobSpec) -> Optional[Prune]:
    """The engine's pruning of unused parameters: an AutoGluon tabular or forecasting trial uses a family's (a
    model's) settings only with it."""
    from ..spec.metrics import Task
    from ..spec.models import Engine

    pruned = (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING)
    if spec.engine is Engine.COMMAND or spec.task not in pruned:
        return None
    from ..runtime.autogluon_params import active_parameters

    return active_parameters


def make_sampler(spec: JobSpec) -> Sampler:
    """The sampler a spec asks for (one fixed trial when there is no sweep), pruning as its engine does."""
    sampling = spec.sweep.sampling.value if spec.sweep else "grid"
    seed = spec.sweep.seed if spec.sweep else 0
    cls = {"grid": GridSampler, "random": RandomSampler, "bayesian": BayesianSampler}[sampling]
    return cls(spec.space, spec.objective.goal, seed, engine_prune(spec))


def planned_trials(spec: JobSpec, parents: Iterable[Any] = ()) -> int:
    """How many trials a job runs at most: max_trials, or fewer where a grid has fewer distinct points.

    Grid points that prune to one configuration run once, and under `warm_start` `same_data` the
    parents' points (`parents`: their finished trials) do not run again: the scheduler's own count.
    """
    if spec.sweep is None or spec.sweep.sampling.value != "grid" or not spec.space.is_discrete:
        return spec.max_trials
    sampler = make_sampler(spec)
    warm = spec.sweep.warm_start
    parents = list(parents)
    if warm is not None and parents:  # as the scheduler seeds its sampler (cloudauto_local.endings.seed)
        sampler.warm(warm_pasts((t, {}) for t in parents), skip=warm.mode.value == "same_data")
    return min(spec.max_trials, sampler.size)


def warm_pasts(parents: Iterable[tuple[Any, dict[str, Any]]]) -> list[Past]:
    """Parents' finished trials (a Trial-like with params, status and objective; its sampler state) as a sampler's
    history, numbered -1, -2 ... so they never collide with this sweep's own trials."""
    out = []
    for i, (trial, state) in enumerate(parents):
        value = trial.objective if trial.status.value == "completed" else None
        out.append(Past(-(i + 1), dict(trial.params), dict(state), value, True))
    return out


__all__ = [
    "BayesianSampler",
    "GridSampler",
    "Past",
    "RandomSampler",
    "Sampler",
    "config_key",
    "engine_prune",
    "make_sampler",
    "planned_trials",
    "quantize",
    "sample",
    "warm_pasts",
]
