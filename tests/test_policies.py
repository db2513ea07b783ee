"""The early-termination engine against histories whose outcome is worked out by hand.

Each case feeds reports in a fixed order (round-robin over trials, interval by interval),
stops feeding a trial once it is terminated, and compares the terminations with the
expected (trial, interval) pairs. The arithmetic is in the comments.
"""

from __future__ import annotations

import math

import pytest

from cloudauto.spec.metrics import Goal
from cloudauto.spec.models import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy
from cloudauto.tuning.policies import PolicyEngine


def run(engine: PolicyEngine, histories: dict[int, list[float]], order: list[int] | None = None) -> set[tuple[int, int]]:
    stopped: dict[int, int] = {}
    longest = max(len(h) for h in histories.values())
    for interval in range(1, longest + 1):
        for trial in order or list(histories):
            if trial in stopped or interval > len(histories[trial]):
                continue
            if engine.report(trial, histories[trial][interval - 1]).stop:
                stopped[trial] = interval
    return set(stopped.items())


def bandit(**kw) -> BanditPolicy:
    return BanditPolicy(policy="bandit", **kw)


def test_evaluation_points():
    engine = PolicyEngine(bandit(slack_factor=0.2, evaluation_interval=2, delay_evaluation=6), Goal.MAXIMIZE)
    assert [n for n in range(1, 13) if engine.applies_at(n)] == [8, 10, 12]  # after the first 6 intervals
    engine = PolicyEngine(MedianStoppingPolicy(policy="median_stopping", evaluation_interval=3), Goal.MAXIMIZE)
    assert [n for n in range(1, 10) if engine.applies_at(n)] == [3, 6, 9]


def test_delay_evaluation_skips_that_many_intervals():
    # Azure ML: delay_evaluation is the number of intervals by which the first evaluation is delayed
    def first(delay: int, every: int = 1) -> int:
        engine = PolicyEngine(bandit(slack_factor=0.1, evaluation_interval=every, delay_evaluation=delay), Goal.MAXIMIZE)
        return next(n for n in range(1, 50) if engine.applies_at(n))

    assert [first(0), first(1), first(2), first(5)] == [1, 2, 3, 6]
    assert [first(0, 3), first(2, 3), first(3, 3), first(4, 3)] == [3, 3, 6, 6]
    engine = PolicyEngine(bandit(slack_factor=0.1, delay_evaluation=1), Goal.MAXIMIZE)
    engine.report(0, 0.9)
    assert not engine.report(1, 0.1).stop  # interval 1 is the delayed one
    assert engine.report(1, 0.1).stop


def test_bandit_maximize_slack_factor_the_fridge_policy():
    # interval 2, delay 6: judged at 8 only. At 8 the best value so far is trial 0's 0.86, bound
    # 0.86 / 1.2 = 0.7167: trial 1 (best 0.64) stops, trial 2 (0.76) goes on. At 6, trial 1's
    # 0.60 against 0.82 / 1.2 = 0.6833 would have been outside the slack, but the delay protects it.
    engine = PolicyEngine(bandit(slack_factor=0.2, evaluation_interval=2, delay_evaluation=6), Goal.MAXIMIZE)
    histories = {
        0: [0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.85, 0.86],
        1: [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.62, 0.64],
        2: [0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.74, 0.76],
    }
    assert run(engine, histories) == {(1, 8)}


def test_bandit_minimize_slack_amount():
    # interval 1, no delay. Interval 1: best 2.0, bound 2.5: 2.2 passes. Interval 2: best 1.5,
    # bound 2.0: trial 1's best so far 2.1 is above it and stops.
    engine = PolicyEngine(bandit(slack_amount=0.5), Goal.MINIMIZE)
    assert run(engine, {0: [2.0, 1.5, 1.0], 1: [2.2, 2.1, 2.0]}) == {(1, 2)}


def test_bandit_minimize_slack_factor():
    # interval 1: best 1.0, bound 1.0 * 1.5 = 1.5: trial 1 (1.6) stops at once; trial 2 (1.4) passes;
    # interval 2: best 0.5, bound 0.75: trial 2's best so far 1.3 stops.
    engine = PolicyEngine(bandit(slack_factor=0.5), Goal.MINIMIZE)
    assert run(engine, {0: [1.0, 0.5], 1: [1.6, 1.5], 2: [1.4, 1.3]}) == {(1, 1), (2, 2)}


def test_bandit_compares_only_up_to_the_interval():
    # trial 0 ran ahead to 0.99 at interval 3; trial 1 is judged at its interval 1 against what
    # anyone reported up to interval 1 (0.5), not against 0.99.
    engine = PolicyEngine(bandit(slack_factor=0.1), Goal.MAXIMIZE)
    for v in (0.5, 0.9, 0.99):
        assert not engine.report(0, v).stop
    assert not engine.report(1, 0.46).stop  # bound 0.5 / 1.1 = 0.4545
    assert engine.report(1, 0.5).stop  # interval 2: best up to 2 is 0.9, bound 0.818


def test_median_stopping_maximize():
    # delay 2: judged at interval 3 only. Trial 0 alone (0.8 vs its average 0.7) passes; trial 1: its
    # best 0.7 against median(0.7, 0.6) = 0.65 passes; trial 2: median(0.7, 0.6, 0.2833) = 0.6 and its
    # best 0.35 is worse: stops.
    engine = PolicyEngine(MedianStoppingPolicy(policy="median_stopping", delay_evaluation=2), Goal.MAXIMIZE)
    assert run(engine, {0: [0.6, 0.7, 0.8], 1: [0.5, 0.6, 0.7], 2: [0.2, 0.3, 0.35]}) == {(2, 3)}


def test_median_stopping_minimize():
    # interval 1: trial 1's 1.2 is above median(1.0, 1.2) = 1.1: stops. Trial 2's 0.9 is below
    # median(1.0, 1.2, 0.9) = 1.0. Interval 2: trial 2's best 0.9 is below median(0.9, 0.925).
    engine = PolicyEngine(MedianStoppingPolicy(policy="median_stopping"), Goal.MINIMIZE)
    assert run(engine, {0: [1.0, 0.8], 1: [1.2, 1.1], 2: [0.9, 0.95]}) == {(1, 1)}


def test_truncation_selection_maximize():
    # 50 %, delay 1: judged from interval 2. Trial 0 alone -> cut 0; 2 runs -> cut 1: trial 1 (0.6) is
    # the worst, stops; 3 runs -> cut 1: trial 2 (0.8) has one worse run, stays; 4 runs -> cut 2:
    # trial 3 (0.65) has one worse (0.6), stops.
    policy = TruncationSelectionPolicy(policy="truncation_selection", truncation_percentage=50, delay_evaluation=1)
    engine = PolicyEngine(policy, Goal.MAXIMIZE)
    histories = {0: [0.9, 0.95], 1: [0.5, 0.6], 2: [0.7, 0.8], 3: [0.6, 0.65]}
    assert run(engine, histories) == {(1, 2), (3, 2)}


def test_truncation_selection_minimize():
    # 25 %, judged at interval 2 only. The fourth run to reach interval 2 is trial 2 with 4.0, the
    # highest loss of four: cut floor(4 * 0.25) = 1 and no run is worse than it, so it stops.
    policy = TruncationSelectionPolicy(policy="truncation_selection", truncation_percentage=25, evaluation_interval=2)
    engine = PolicyEngine(policy, Goal.MINIMIZE)
    histories = {0: [3, 2], 1: [3, 1], 3: [2, 2.5], 2: [4, 4]}
    assert run(engine, histories, order=[0, 1, 3, 2]) == {(2, 2)}


def test_no_policy_never_stops():
    engine = PolicyEngine(None, Goal.MAXIMIZE)
    assert run(engine, {0: [1.0, 0.1], 1: [0.0, 0.0]}) == set()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_report_at_an_evaluation_point_stops(bad):
    engine = PolicyEngine(MedianStoppingPolicy(policy="median_stopping"), Goal.MAXIMIZE)
    assert engine.report(0, bad).stop


def test_restored_histories_count_for_later_trials():
    engine = PolicyEngine(bandit(slack_factor=0.1), Goal.MAXIMIZE)
    engine.load(0, [0.9, 0.95])  # a trial finished before a resume
    assert engine.report(1, 0.7).stop  # 0.7 < 0.9 / 1.1


SPEC = """\
name: ag
task: tabular_classification
data: {train: train.csv, label: y}
metric: accuracy
limits: {trial_timeout: 5m}
sweep:
  space:
"""


def test_time_limit_is_a_duration_as_limits_timeout_is(load):
    spec = load(SPEC + "    models: GBM\n    time_limit: 2m\n")
    assert spec.space.subspaces[0]["time_limit"].value == 120.0
    from cloudauto.runtime.autogluon_trial import fit_arguments

    assert fit_arguments({"time_limit": spec.space.subspaces[0]["time_limit"].value})["time_limit"] == 120.0
    choice = load(SPEC + "    time_limit: {choice: [30s, 1m, 90]}\n")
    assert choice.space.subspaces[0]["time_limit"].values == (30.0, 60.0, 90)
    assert not [w for w in choice.warnings if "time_limit" in w.field]


def test_a_time_limit_above_the_trial_timeout_is_a_warning(load):
    spec = load(SPEC + "    time_limit: 10m\n")
    (warning,) = [w for w in spec.warnings if w.field.endswith("time_limit")]
    assert "time_limit (600s) is above limits.trial_timeout (300s)" in warning.message and "240s" in warning.hint


def test_a_time_limit_above_the_whole_jobs_timeout_is_a_warning_too(load):
    spec = load(SPEC.replace("trial_timeout: 5m", "timeout: 5m") + "    time_limit: 10m\n")
    (warning,) = [w for w in spec.warnings if w.field.endswith("time_limit")]
    assert "time_limit (600s) is above limits.timeout (300s)" in warning.message and "the job is stopped" in warning.message
    assert "240s" in warning.hint
    both = load(SPEC.replace("trial_timeout: 5m", "trial_timeout: 5m, timeout: 4m") + "    time_limit: 10m\n")
    (warning,) = [w for w in both.warnings if w.field.endswith("time_limit")]  # one warning, for the shorter limit
    assert "limits.timeout (240s)" in warning.message


def test_more_concurrent_trials_than_trials_says_what_to_lower(problems):
    (issue,) = problems(SPEC.replace("trial_timeout: 5m", "trial_timeout: 5m, max_trials: 1, max_concurrent_trials: 2") + "    models: GBM\n")
    assert "max_concurrent_trials (2) exceeds max_trials (1)" in issue.message
    assert issue.hint and "lower limits.max_concurrent_trials to 1" in issue.hint
