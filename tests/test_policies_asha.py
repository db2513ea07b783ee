"""asha and hyperband against decisions worked out by hand (Ray Tune's AsyncHyperBandScheduler rule).

η = 3, min_resource 1, max_resource 9: rungs at steps 1, 3 and 9. At a rung a trial's value is
compared with the cutoff, the 66.67th percentile (linear interpolation) of the values recorded
at that rung before it; strictly below stops it. Reaching step 9 stops it as completed (final).
Trials run one after another here, each to its end, as a sweep with max_concurrent_trials 1.
Each curve is (value at steps 1-2, value at step 3, rising by 0.001 a step after).
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from cloudauto.spec.metrics import Goal
from cloudauto.spec.models import AshaPolicy, HyperbandPolicy
from cloudauto.tuning.policies import PolicyEngine, percentile

CURVES = {0: (0.50, 0.60), 1: (0.55, 0.58), 2: (0.45, 0.70), 3: (0.70, 0.80), 4: (0.52, 0.90), 5: (0.60, 0.65), 6: (0.58, 0.70)}

# trial: (the step it ends at, how), worked by hand:
# 0: rung 1 empty -> on; rung 3 empty -> on; step 9: max_resource -> completed
# 1: rung 1 [.50] cutoff .50, .55 on; rung 3 [.60] cutoff .60, .58 < -> stops at 3
# 2: rung 1 [.50 .55] cutoff .50 + .05 × 2/3 = .5333, .45 < -> stops at 1
# 3: rung 1 [.45 .50 .55] position 2 × 2/3 = 1.333: .50 + .05/3 = .5167, .70 on;
#    rung 3 [.58 .60] .58 + .02 × 2/3 = .5933, .80 on; completed at 9
# 4: rung 1 [.45 .50 .55 .70] position 2: .55, .52 < -> stops at 1
# 5: rung 1 [.45 .50 .52 .55 .70] position 2.667: .52 + .03 × 2/3 = .54, .60 on;
#    rung 3 [.58 .60 .80] position 1.333: .60 + .20/3 = .6667, .65 < -> stops at 3
# 6: rung 1 [.45 .50 .52 .55 .60 .70] position 3.333: .55 + .05/3 = .5667, .58 on;
#    rung 3 [.58 .60 .65 .80] position 2: .65, .70 on; completed at 9
ASHA_TABLE = {
    0: (9, "completed"),
    1: (3, "stopped"),
    2: (1, "stopped"),
    3: (9, "completed"),
    4: (1, "stopped"),
    5: (3, "stopped"),
    6: (9, "completed"),
}


def value(curve: tuple[float, float], step: int) -> float:
    early, late = curve
    return early if step < 3 else round(late + 0.001 * (step - 3), 6)


def run(engine: PolicyEngine, curves: dict[int, tuple[float, float]], flip: bool = False, steps: int = 12) -> dict:
    ended = {}
    for trial, curve in curves.items():
        for step in range(1, steps + 1):
            v = value(curve, step)
            decision = engine.report(trial, 1 - v if flip else v)
            if decision.stop:
                ended[trial] = (step, "completed" if decision.final else "stopped")
                break
        else:
            ended[trial] = (steps, "ran out")
    return ended


def asha(**kw) -> AshaPolicy:
    return AshaPolicy(policy="asha", max_resource=9, **kw)


def test_percentile_is_numpys_linear_one():
    np = pytest.importorskip("numpy")
    for values in ([0.5], [0.5, 0.55], [0.45, 0.5, 0.55, 0.7], [3.0, 1.0, 2.0, 9.0, 4.0]):
        for q in (100 / 3, 50, 200 / 3, 75):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-15)


def test_rungs_are_min_resource_times_eta_to_the_k():
    assert asha().rungs() == [1, 3, 9]
    assert AshaPolicy(policy="asha", min_resource=2, max_resource=100, reduction_factor=4).rungs() == [2, 8, 32]
    # Ray's float logarithm makes log(1000)/log(10) = 2.9999999999999996 and drops the rung at 1000; integers do not
    assert AshaPolicy(policy="asha", max_resource=1000, reduction_factor=10).rungs() == [1, 10, 100, 1000]
    hb = HyperbandPolicy(policy="hyperband", max_resource=9)
    assert [hb.rungs(s) for s in range(hb.bracket_count)] == [[1, 3, 9], [3, 9], [9]]


def test_asha_promotions_and_stops_trial_by_trial():
    engine = PolicyEngine(asha(resource="epoch"), Goal.MAXIMIZE)
    assert run(engine, CURVES) == ASHA_TABLE


def test_asha_minimising_decides_alike():
    engine = PolicyEngine(asha(), Goal.MINIMIZE)  # losses 1 - v: the same order, the same decisions
    assert run(engine, CURVES, flip=True) == ASHA_TABLE


def test_the_log_line_says_the_rung_and_its_figures():
    engine = PolicyEngine(asha(resource="epoch"), Goal.MAXIMIZE)
    run(engine, {t: CURVES[t] for t in (0, 1)})
    decision = engine.report(2, 0.45)
    assert decision.stop and not decision.final
    assert decision.reason == (
        "asha, rung epoch 1: 0.45 is outside the top 1/3: the cutoff 0.533333 is the 66.67th percentile "
        "of the 2 values recorded here before it (0.55, 0.5); it stops"
    )
    assert engine.report(3, 0.7).reason.endswith("it goes on")
    assert engine.report(3, 0.7).reason == ""  # step 2: no rung, nothing to say


def test_a_trial_reaching_max_resource_is_stopped_as_completed():
    engine = PolicyEngine(AshaPolicy(policy="asha", min_resource=2, max_resource=4, reduction_factor=2), Goal.MAXIMIZE)
    decisions = [engine.report(0, 0.1 * s) for s in range(1, 5)]
    assert [d.stop for d in decisions] == [False, False, False, True] and decisions[-1].final
    assert "reached max_resource, step 4" in decisions[-1].reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_at_a_rung_stops(bad):
    engine = PolicyEngine(asha(), Goal.MAXIMIZE)
    assert engine.report(0, bad).stop  # step 1 is a rung, even an empty one
    assert not engine.report(1, 0.1).stop  # its value was not recorded: 0.1 is the rung's first
    engine = PolicyEngine(asha(), Goal.MAXIMIZE)
    engine.report(0, 0.5)
    assert engine.report(1, bad).stop
    assert not engine.report(2, 0.5).stop  # its value was not recorded: trial 0's 0.5 alone sets the cutoff


def test_a_trial_that_jumps_a_rung_is_judged_at_the_highest_it_passed():
    engine = PolicyEngine(asha(), Goal.MAXIMIZE)
    run(engine, {0: CURVES[0], 3: CURVES[3]})  # rung 3 holds .60 and .80: cutoff .7333
    engine.histories[5] = [0.6, 0.6, 0.6]  # as if steps 1-3 went unreported to the policy
    decision = engine.report(5, 0.7)  # step 4: judged at rung 3, not rung 1
    assert decision.stop and "rung step 3" in decision.reason and "0.733333" in decision.reason


def test_resume_records_the_finished_trials_at_their_rungs_again():
    first = PolicyEngine(asha(), Goal.MAXIMIZE)
    run(first, {t: CURVES[t] for t in range(4)})
    again = PolicyEngine(asha(), Goal.MAXIMIZE)
    for trial, history in first.histories.items():
        again.load(trial, history)
    assert run(again, {t: CURVES[t] for t in range(4, 7)}) == {t: ASHA_TABLE[t] for t in range(4, 7)}


# hyperband: brackets s = 0, 1, 2 with rungs [1, 3, 9], [3, 9], [9]; Ray's draw puts a trial in bracket s
# with probability e^(rungs - 3) / (1 + e^-1 + e^-2): 0.6652, 0.2447, 0.0900
HB_BRACKETS = [0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 2, 1]  # the draw of sweep.seed 0 for trials 0-11
HB_CURVES = {**CURVES, 7: (0.62, 0.75), 8: (0.30, 0.40), 9: (0.40, 0.9), 10: (0.20, 0.25), 11: (0.50, 0.70)}
# trial (bracket): worked by hand, each compared with its own bracket only
# 0-3 (0): as under asha (trial 4 is not in bracket 0)
# 4 (1): its bracket's rung 3 is empty -> on; completed at 9
# 5 (0): rung 1 [.45 .50 .55 .70] position 2: .55, .60 on; rung 3 [.58 .60 .80]: .6667, .65 < -> stops at 3
# 6 (0): rung 1 [.45 .50 .55 .60 .70] position 2.667: .55 + .05 × 2/3 = .5833, .58 < -> stops at 1 (asha let it on)
# 7 (0): rung 1 [.45 .50 .55 .58 .60 .70] position 3.333: .58 + .02/3 = .5867, .62 on;
#        rung 3 [.58 .60 .65 .80] position 2: .65, .75 on; completed at 9
# 8 (2): bracket 2 has only rung 9: never compared, completed at 9 however poor (Hyperband's full-budget bracket)
# 9 (0): rung 1 [.45 .50 .55 .58 .60 .62 .70] position 4: .60, .40 < -> stops at 1
# 10 (2): as 8
# 11 (1): rung 3 [.90] (trial 4's) cutoff .90, .70 < -> stops at 3
HB_TABLE = {
    **{t: ASHA_TABLE[t] for t in range(4)},
    4: (9, "completed"),
    5: (3, "stopped"),
    6: (1, "stopped"),
    7: (9, "completed"),
    8: (9, "completed"),
    9: (1, "stopped"),
    10: (9, "completed"),
    11: (3, "stopped"),
}


def hyperband() -> HyperbandPolicy:
    return HyperbandPolicy(policy="hyperband", max_resource=9, resource="epoch")


def test_hyperband_brackets_are_drawn_as_ray_draws_them():
    engine = PolicyEngine(hyperband(), Goal.MAXIMIZE, seed=0)
    assert [engine.halving.bracket_of(t) for t in range(12)] == HB_BRACKETS
    counts = Counter(engine.halving.bracket_of(t) for t in range(6000))
    total = 1 + math.exp(-1) + math.exp(-2)
    for bracket, weight in enumerate((1, math.exp(-1), math.exp(-2))):
        assert counts[bracket] / 6000 == pytest.approx(weight / total, abs=0.025)
    other = PolicyEngine(hyperband(), Goal.MAXIMIZE, seed=1)
    assert [other.halving.bracket_of(t) for t in range(40)] != [engine.halving.bracket_of(t) for t in range(40)]


def test_hyperband_promotions_and_stops_trial_by_trial():
    engine = PolicyEngine(hyperband(), Goal.MAXIMIZE, seed=0)
    assert run(engine, HB_CURVES) == HB_TABLE
    decision = PolicyEngine(hyperband(), Goal.MAXIMIZE, seed=0)
    run(decision, {t: HB_CURVES[t] for t in range(11)})
    assert decision.report(11, 0.5).reason == ""  # bracket 1: step 1 is no rung of it
    assert "hyperband bracket 1, rung epoch 3" in [decision.report(11, v) for v in (0.5, 0.7)][-1].reason


def test_brackets_limit_the_hyperband_draw():
    engine = PolicyEngine(HyperbandPolicy(policy="hyperband", max_resource=9, brackets=2), Goal.MAXIMIZE, seed=0)
    assert set(engine.halving.bracket_of(t) for t in range(200)) == {0, 1}
