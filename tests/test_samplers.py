"""Samplers: exact grids, reproducible random draws, Optuna TPE through ask/tell."""

from __future__ import annotations

import math

import pytest

from cloudauto.spec import JobSpec
from cloudauto.spec.metrics import Goal
from cloudauto.tuning.samplers import BayesianSampler, GridSampler, Past, RandomSampler, config_key, make_sampler

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


def spec(sampling: str, space=SPACE, seed: int | None = 3, engine: str = "command") -> JobSpec:
    command = {"command": {"run": "python train.py"}} if engine == "command" else {}
    return JobSpec.from_dict(
        {
            "name": "s",
            "task": "tabular_regression",
            "data": {"train": "a.csv", "label": "y"},
            "metric": "r2",
            "engine": engine,  # command: parameters of the sampler's own, which an AutoGluon fit would refuse
            **command,
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


def run_sweep(sampler, objective, trials: int, history=None):
    """A sequential sweep (concurrency 1): each proposal sees every earlier trial, finished."""
    history = list(history or [])
    for n in range(len(history), trials):
        proposal = sampler.suggest(n, history)
        if proposal is None:
            break
        params, state = proposal
        history.append(Past(n, params, state, objective(n, params), True))
    return history


def test_bayesian_suggests_inside_the_space_and_finds_the_optimum():
    sampler = make_sampler(spec("bayesian"))
    assert isinstance(sampler, BayesianSampler)
    history = run_sweep(sampler, lambda n, p: None if n == 3 else float(n), 12)
    for past in history:
        check_in_space(past.params)
        assert past.state["subspace"] in (0, 1)

    # a 1-D problem: maximise -(x - 0.3)^2; TPE must get close within 40 trials
    tpe = make_sampler(spec("bayesian", space={"x": {"uniform": [0, 1]}}, seed=0))
    history = run_sweep(tpe, lambda n, p: -((p["x"] - 0.3) ** 2), 40)
    assert max(p.value for p in history) > -0.0025  # within 0.05 of the optimum


def test_a_resumed_bayesian_sweep_proposes_what_the_uninterrupted_one_did():
    """The TPE start-up draws used to replay after a resume (trials 0 and 1's parameters again)."""
    s = spec("bayesian", seed=11)
    score = lambda n, p: float(p.get("lr", 0.01) * 10 + p.get("u", 0))  # noqa: E731
    whole = run_sweep(make_sampler(s), score, 14)
    for cut in (1, 2, 5, 11):  # the scheduler killed after `cut` trials; a fresh process carries on from the store
        resumed = run_sweep(make_sampler(s), score, 14, history=whole[:cut])
        assert [p.params for p in resumed] == [p.params for p in whole]
    keys = [config_key(p.params) for p in whole]
    assert len(set(keys)) == len(keys)
    other = run_sweep(make_sampler(spec("bayesian", seed=12)), score, 3)
    assert [p.params for p in other] != [p.params for p in whole[:3]]


@pytest.mark.parametrize("sampling", ["random", "bayesian"])
def test_no_configuration_runs_twice_and_a_spent_discrete_space_ends_the_sweep(sampling):
    space = {"a": {"choice": [1, 2, 3]}, "b": {"choice": ["x", "y"]}}  # six configurations
    sampler = make_sampler(spec(sampling, space))
    history = run_sweep(sampler, lambda n, p: float(p["a"]), 10)
    assert len(history) == 6
    assert {(p.params["a"], p.params["b"]) for p in history} == {(a, b) for a in (1, 2, 3) for b in "xy"}
    # running (unfinished) trials count too: their configurations are not proposed again
    running = [Past(n, p.params, p.state, None, False) for n, p in enumerate(history[:5])]
    params, _ = sampler.suggest(5, running)
    assert config_key(params) not in {config_key(p.params) for p in running}


def test_random_keeps_its_exact_draws_where_nothing_repeats():
    s = spec("random")
    plain = [make_sampler(s).suggest(n)[0] for n in range(20)]
    history = run_sweep(make_sampler(s), lambda n, p: 1.0, 20)
    assert [p.params for p in history] == plain


def test_autogluon_family_settings_are_drawn_only_for_their_family():
    diabetes = {
        "models": {"choice": ["GBM", "CAT", "XGB", "RF"]},
        "GBM.learning_rate": {"uniform": [0.01, 0.3]},
        "GBM.num_leaves": {"quniform": [8, 64, 8]},
        "time_limit": 30,
    }
    for sampling in ("random", "bayesian"):
        history = run_sweep(make_sampler(spec(sampling, diabetes, engine="autogluon")), lambda n, p: float(n), 12)
        for past in history:
            has_gbm = {"GBM.learning_rate", "GBM.num_leaves"} <= set(past.params)
            assert has_gbm == (past.params["models"] == "GBM"), past.params
        others = [p.params["models"] for p in history if p.params["models"] != "GBM"]
        assert len(others) == len(set(others))  # CAT, XGB and RF each run once: their trials would be the same
    grid = make_sampler(
        spec("grid", {"models": {"choice": ["GBM", "CAT"]}, "GBM.num_leaves": {"choice": [8, 16, 32]}}, engine="autogluon")
    )
    assert grid.size == 4  # three GBM trials and one CatBoost trial, not six
    assert [grid.suggest(n)[0] for n in range(4)][-1] == {"models": "CAT"} and grid.suggest(4) is None


# every distribution at the extreme edges validate accepts: each sampler draws from it without an exception
EDGES = {
    "uniform": [[-1e308, 7e307], [0, 1e-300], [5e-324, 1e-323], [-1e300, 1e300]],
    "loguniform": [[5e-324, 1.7e308], [1e-300, 1e300], [1, 1.0000000000000002]],
    "quniform": [
        [0, 1e300, 1e-10],
        [0, 1e20, 1e-300],
        [8, 64, 1e-300],
        [-1e300, 1e300, 1e290],
        [0, 1e300, 1],
        [0, 1, 1e300],
        [-9e15, 9e15, 1],
    ],
    "qloguniform": [[1e-300, 1e300, 1e-300], [1, 1e300, 1], [1, 10, 100], [1e-300, 1e-299, 1e-300], [1, 1.7e308, 1e300]],
    "randint": [[-(2**63), 2**63], [0, 1], [2**63 - 2, 2**63], [-(2**63), -(2**63) + 1]],
    "normal": [[0, 1e307], [1e307, 1e306], [-1e300, 1e-300], [0, 5e-324]],
    "lognormal": [[700, 0.9], [-700, 0.5], [0, 70], [-7000, 700]],
    "choice": [[1e308, -1e308, 5e-324], [2**63, -(2**63)]],
}


def _bounds(kind: str, args: list) -> tuple[float, float]:
    if kind in ("uniform", "loguniform", "quniform", "qloguniform"):
        return args[0], args[1]
    if kind == "randint":
        return args[0], args[1] - 1
    if kind == "lognormal":
        return 0.0, math.inf
    return -math.inf, math.inf


@pytest.mark.parametrize("sampling", ["random", "grid", "bayesian"])
@pytest.mark.parametrize(
    ("kind", "args"), [(k, a) for k, cases in EDGES.items() for a in cases], ids=lambda v: str(v).replace(" ", "")
)
def test_every_accepted_distribution_is_drawable(sampling, kind, args):
    from cloudauto.spec import SpecError

    try:
        s = spec(sampling, space={"x": {kind: args}})
    except SpecError:
        return  # refused by validate: nothing is drawn
    low, high = _bounds(kind, args)
    sampler = make_sampler(s)
    history: list[Past] = []
    for n in range(12 if sampling == "bayesian" else 4):  # past 10 trials TPE models the history
        proposal = sampler.suggest(n, history)
        if proposal is None:  # a space of few points (a grid, two floats) ends once each has run
            assert n > 0
            break
        params, state = proposal
        x = params["x"]
        assert isinstance(x, (int, float)) and not isinstance(x, bool), x
        assert math.isfinite(x), (kind, args, x)
        if kind == "choice":
            assert x in args
        else:
            assert low <= x <= high, (kind, args, x)
        history.append(Past(n, params, state, value=float(n % 5)))


def test_warm_parents_enter_tpe_as_completed_trials_and_their_configurations_are_skipped():
    """sweep.warm_start: the parents' trials are the study's first trials (with their objective), never proposed again."""
    space = spec("bayesian", space={"x": {"choice": [1, 2, 3]}, "lr": {"loguniform": [1e-4, 1e-1]}}).space
    parents = [Past(-1, {"x": 2, "lr": 0.01}, {}, 0.9, True), Past(-2, {"x": 3, "lr": 5.0}, {}, 0.5, True)]
    sampler = BayesianSampler(space, Goal.MAXIMIZE, 0)
    sampler.warm(parents, skip=True)
    study = sampler._study(0, 0, [*sampler.parents])
    values = [(t.params, t.value) for t in study.trials]
    # the second parent's lr lies outside this space: it informs x alone (transfer keeps what the spaces share)
    assert sorted(values, key=lambda v: v[1]) == [({"x": 3}, 0.5), ({"x": 2, "lr": 0.01}, 0.9)]
    seen = {config_key(p.params) for p in parents}
    for n in range(8):
        params, _ = sampler.suggest(n)
        assert config_key(params) not in seen


def test_forecasting_model_settings_are_drawn_only_for_their_model():
    """Chronos2.fine_tune in an ETS trial changes nothing: the grid runs ETS and Theta once each, not once per value."""
    from cloudauto.spec import JobSpec

    from .conftest import ROOT

    grid = make_sampler(JobSpec.from_file(ROOT / "job_specs" / "bike_forecast_chronos2.yaml"))
    points = [grid.suggest(n)[0] for n in range(grid.size)]
    assert grid.size == 5, points  # Chronos2 zero-shot and fine-tuned, ETS, Theta; then the seed's own fit
    *swept, seed = points
    assert sorted(p["models"] for p in swept) == ["Chronos2", "Chronos2", "ETS", "Theta"]
    assert all(("Chronos2.fine_tune" in p) == (p["models"] == "Chronos2") for p in swept)
    assert seed == {"presets": "medium_quality", "Chronos2.model_path": "./data/checkpoints/chronos2-tiny", "time_limit": 240}
