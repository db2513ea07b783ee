"""Samplers: exact grids, reproducible random draws, Optuna TPE through ask/tell."""

from __future__ import annotations

import math

import pytest

from cloudauto.spec import JobSpec
from cloudauto.spec.metrics import Goal
from cloudauto.tuning.samplers import BayesianSampler, GridSampler, RandomSampler, make_sampler

SPACE = [
    {
        "model": "a",
        "lr": {"loguniform": [1e-4, 1e-1]},
        "n": {"randint": [2, 5]},
        "q": {"quniform": [8, 64, 8]},
        "opt": {"choice": ["sgd", "adam"]},
    },
    {
        "model": "b",
        "mu": {"normal": [0, 1]},
        "ln": {"lognormal": [0, 0.5]},
        "ql": {"qloguniform": [1, 1000, 10]},
        "u": "uniform(0.5, 1.5)",
    },
]


def spec(sampling: str, space=SPACE, seed: int | None = 3) -> JobSpec:
    return JobSpec.from_dict(
        {
            "name": "s",
            "task": "tabular_regression",
            "data": {"train": "a.csv", "label": "y"},
            "metric": "r2",
            "sweep": {"sampling": sampling, "space": space, "seed": seed},
        }
    )


def check_in_space(params: dict) -> None:
    if params["model"] == "a":
        assert set(params) == {"model", "lr", "n", "q", "opt"}
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["n"] in (2, 3, 4)  # high excluded
        assert params["q"] in range(8, 65, 8) and isinstance(params["q"], int)
        assert params["opt"] in ("sgd", "adam")
    else:
        assert set(params) == {"model", "mu", "ln", "ql", "u"}
        assert params["ln"] > 0 and 0.5 <= params["u"] <= 1.5
        assert params["ql"] % 10 == 0 and 0 <= params["ql"] <= 1000


def test_random_is_reproducible_per_trial_number_and_covers_both_subspaces():
    s = spec("random")
    first = [make_sampler(s).suggest(n)[0] for n in range(40)]
    again = make_sampler(s)
    assert [again.suggest(n)[0] for n in reversed(range(40))][::-1] == first  # order does not matter
    assert {p["model"] for p in first} == {"a", "b"}
    for p in first:
        check_in_space(p)
    other = [make_sampler(spec("random", seed=4)).suggest(n)[0] for n in range(5)]
    assert other != first[:5]


def test_random_loguniform_is_uniform_in_log_space():
    sampler = RandomSampler(spec("random", space={"lr": {"loguniform": [1e-4, 1.0]}}).space, Goal.MAXIMIZE, 0)
    logs = [math.log10(sampler.suggest(n)[0]["lr"]) for n in range(4000)]
    below = sum(1 for v in logs if v < -2) / len(logs)
    assert below == pytest.approx(0.5, abs=0.03)  # half the mass below 1e-2, as log-uniform


def test_grid_enumerates_every_point_once():
    space = [{"m": "a", "d": {"choice": [1, 2, 3]}, "k": {"randint": [0, 2]}}, {"m": "b", "q": {"quniform": [0, 1, 0.5]}}]
    sampler = make_sampler(spec("grid", space))
    assert isinstance(sampler, GridSampler) and sampler.size == 9
    points = [sampler.suggest(n)[0] for n in range(sampler.size)]
    assert len({tuple(sorted(p.items())) for p in points}) == 9
    assert points[-3:] == [{"m": "b", "q": 0}, {"m": "b", "q": 0.5}, {"m": "b", "q": 1}]


def test_bayesian_suggests_inside_the_space_and_finds_the_optimum():
    sampler = make_sampler(spec("bayesian"))
    assert isinstance(sampler, BayesianSampler)
    for n in range(12):
        params, state = sampler.suggest(n)
        check_in_space(params)
        assert state["subspace"] in (0, 1)
        sampler.observe(n, None if n == 3 else float(n))

    # a 1-D problem: maximise -(x - 0.3)^2; TPE must get close within 40 trials
    tpe = make_sampler(spec("bayesian", space={"x": {"uniform": [0, 1]}}, seed=0))
    best = -1.0
    for n in range(40):
        x = tpe.suggest(n)[0]["x"]
        value = -((x - 0.3) ** 2)
        tpe.observe(n, value)
        best = max(best, value)
    assert best > -0.0025  # within 0.05 of the optimum


def test_bayesian_restore_rebuilds_the_study_from_the_store():
    s = spec("bayesian")
    first = make_sampler(s)
    stored = []
    for n in range(5):
        params, state = first.suggest(n)
        first.observe(n, float(n))
        stored.append((n, params, state, float(n)))
    resumed = make_sampler(s)
    for record in stored:
        resumed.restore(*record)
    assert len(resumed.study.trials) == 5
    assert resumed.study.best_value == 4.0
    check_in_space(resumed.suggest(5)[0])
