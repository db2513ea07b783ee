"""Early termination as Azure ML defines it, applied to the metrics trials report.

Each report counts as one interval (1, 2, 3 ...). A policy is applied at interval N when
N is a multiple of `evaluation_interval` after the first `delay_evaluation` intervals
(N > delay_evaluation: Azure ML's "number of intervals by which to delay the first
evaluation"; delay 6, interval 2 first acts at 8); a run evaluated at
N is compared only with what the other runs reported up to interval N, so a young run is
never judged against an older run's later, better numbers.

- bandit: the run's best value up to N is compared with the best value any run reported
  up to N; it is terminated when it is outside the slack: for a maximised metric below
  best / (1 + slack_factor) or best - slack_amount, for a minimised one above
  best * (1 + slack_factor) or best + slack_amount.
- median stopping: the run's best value up to N is compared with the median, over all
  runs that reached N, of their running averages over intervals 1..N; worse is terminated.
- truncation selection: the runs that reached N are ranked by their value at N; the run
  is terminated when it is among the lowest `truncation_percentage` percent of them
  (the k = floor(count * percentage / 100) worst).

Multi-fidelity policies (asha, hyperband) are asynchronous successive halving as Ray Tune's
`AsyncHyperBandScheduler` defines it (Syne Tune's stopping-type ASHA is the same rule). The
resource is the trial's step, the count of its reports (one per epoch where a script reports
once per epoch, as SageMaker counts them). Rungs sit at min_resource × η^k ≤ max_resource.
When a trial's step reaches a rung it has not been recorded at (the highest one it has
passed), its value is compared with the cutoff of that rung, the (1 - 1/η) quantile (linear
interpolation, numpy's default) of the values recorded there before it, in higher-is-better
form (a minimised metric is negated); it stops when strictly below, and its value is recorded
either way. The first trial at a rung always goes on; a trial that reaches max_resource is
stopped there, having had its whole budget (its verdict is `final`: it ends completed). Two
deliberate differences from Ray: a non-finite value at a rung stops the trial (as the other
policies here do; Ray lets a NaN through), and the rungs are counted with integers (Ray's
float logarithm drops the top rung when log(max/min)/log(η) rounds below an integer).

hyperband runs that over brackets as Ray's ASHA with brackets > 1 does (Syne Tune's `asha`
with `brackets` alike): bracket s has the rungs from min_resource × η^s up, each trial is
placed in one bracket with probability proportional to e^(its rung count - the largest rung
count), and a trial is compared only with the trials of its bracket. The draw is seeded by
`sweep.seed` and the trial number, so a resumed sweep puts each trial where it was.

The engine is event-driven (as Syne Tune's `on_trial_result`): `report()` records a value
and returns whether that trial should stop now. It knows nothing of how trials run.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Union

from ..spec.metrics import Goal

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import (
        AshaPolicy,
        BanditPolicy,
        HyperbandPolicy,
        MedianStoppingPolicy,
        NoPolicy,
        TruncationSelectionPolicy,
    )

    PolicySpec = Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, AshaPolicy, HyperbandPolicy, NoPolicy, None]


@dataclass
class Decision:
    stop: bool
    reason: str = ""  # the figures compared, whichever way it went (the scheduler logs it)
    final: bool = False  # the stop ends a trial that had its whole budget (max_resource): it is completed, not terminated


def percentile(values: list[float], q: float) -> float:
    """numpy's default (linear) percentile, q in [0, 100], of finite values."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class SuccessiveHalving:
    """asha (one bracket) and hyperband (several) over a trial's steps; see the module's docstring."""

    policy: AshaPolicy | HyperbandPolicy
    goal: Goal
    seed: int = 0
    rungs: list[list[tuple[int, dict[int, float]]]] = field(default_factory=list)  # per bracket: (level, trial -> score)
    brackets: dict[int, int] = field(default_factory=dict)  # trial -> its bracket

    def __post_init__(self) -> None:
        count = self.policy.bracket_count if self.policy.policy == "hyperband" else 1
        self.rungs = [[(level, {}) for level in self.policy.rungs(s)] for s in range(count)]

    def bracket_of(self, trial: int) -> int:
        """Ray's draw: bracket s with probability ∝ e^(rungs_s - max rungs), seeded by the sweep's seed and the trial."""
        if trial not in self.brackets:
            sizes = [len(r) for r in self.rungs]
            weights = [math.exp(n - max(sizes)) for n in sizes]
            pick = random.Random(f"{self.seed}:{trial}").random() * sum(weights)
            chosen = len(weights) - 1
            for index, weight in enumerate(weights):
                if pick < weight:
                    chosen = index
                    break
                pick -= weight
            self.brackets[trial] = chosen
        return self.brackets[trial]

    def score(self, value: float) -> float:
        return value if self.goal is Goal.MAXIMIZE else -value

    def report(self, trial: int, step: int, value: float, judge: bool = True) -> Decision:
        policy = self.policy
        bracket = self.bracket_of(trial)
        where = f"{policy.policy}" + (f" bracket {bracket}" if len(self.rungs) > 1 else "")
        for level, recorded in reversed(self.rungs[bracket]):
            if step < level or trial in recorded:
                continue
            if not judge:
                recorded[trial] = self.score(value)
                break
            if not math.isfinite(value):
                return Decision(True, f"{where}, rung {policy.resource} {level}: reported {value}")
            if step >= policy.max_resource:
                recorded[trial] = self.score(value)
                break  # stopped below, having had its budget
            others = [v for v in recorded.values() if math.isfinite(v)]
            recorded[trial] = self.score(value)
            if not others:
                return Decision(False, f"{where}, rung {policy.resource} {level}: the first value here ({value:.6g}); it goes on")
            q = (1 - 1 / policy.reduction_factor) * 100
            cutoff = percentile(others, q)
            shown = sorted((self.score(v) for v in others), reverse=self.goal is Goal.MAXIMIZE)
            figures = (
                f"the cutoff {self.score(cutoff):.6g} is the {q:.4g}th percentile of the {len(others)} values recorded here "
                f"before it ({', '.join(f'{v:.6g}' for v in shown[:12])}{' ...' if len(shown) > 12 else ''})"
            )
            if self.score(value) < cutoff:
                return Decision(
                    True,
                    f"{where}, rung {policy.resource} {level}: {value:.6g} is outside the top 1/{policy.reduction_factor}: "
                    f"{figures}; it stops",
                )
            return Decision(
                False,
                f"{where}, rung {policy.resource} {level}: {value:.6g} is in the top 1/{policy.reduction_factor}: "
                f"{figures}; it goes on",
            )
        if judge and step >= policy.max_resource:
            return Decision(
                True, f"{where}: reached max_resource, {policy.resource} {policy.max_resource}: its whole budget", final=True
            )
        return Decision(False)


@dataclass
class PolicyEngine:
    policy: PolicySpec
    goal: Goal
    histories: dict[int, list[float]] = field(default_factory=dict)
    seed: int | None = None
    halving: SuccessiveHalving | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy.policy in ("asha", "hyperband"):
            self.halving = SuccessiveHalving(self.policy, self.goal, self.seed or 0)

    def load(self, trial: int, values: list[float]) -> None:
        """Restore a trial's history (on resume) without judging it; asha / hyperband record its rung values again."""
        self.histories[trial] = list(values)
        if self.halving is not None:
            for step, value in enumerate(values, 1):
                self.halving.report(trial, step, value, judge=False)

    def report(self, trial: int, value: float) -> Decision:
        """Record the trial's next interval; say whether it must stop."""
        history = self.histories.setdefault(trial, [])
        history.append(float(value))
        interval = len(history)
        policy = self.policy
        if policy is None or policy.policy == "none":
            return Decision(False)
        if self.halving is not None:
            return self.halving.report(trial, interval, float(value))
        if not self.applies_at(interval):
            return Decision(False, f"{policy.policy} not applied at interval {interval}")
        if not math.isfinite(value):
            return Decision(True, f"reported {value} at interval {interval}")
        return {"bandit": self._bandit, "median_stopping": self._median, "truncation_selection": self._truncation}[policy.policy](
            trial, interval
        )

    def applies_at(self, interval: int) -> bool:
        policy = self.policy
        return interval % policy.evaluation_interval == 0 and interval > policy.delay_evaluation

    # helpers --------------------------------------------------------------------------
    def _best(self, values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return -math.inf if self.goal is Goal.MAXIMIZE else math.inf
        return max(finite) if self.goal is Goal.MAXIMIZE else min(finite)

    def _worse(self, a: float, b: float) -> bool:
        """a is strictly worse than b."""
        return a < b if self.goal is Goal.MAXIMIZE else a > b

    def _upto(self, interval: int) -> dict[int, list[float]]:
        return {t: h[:interval] for t, h in self.histories.items() if h}

    # the three policies ------------------------------------------------------------------
    def _bandit(self, trial: int, interval: int) -> Decision:
        policy = self.policy
        mine = self._best(self.histories[trial][:interval])
        best = self._best([v for h in self._upto(interval).values() for v in h])
        if policy.slack_factor is not None:
            bound = best / (1 + policy.slack_factor) if self.goal is Goal.MAXIMIZE else best * (1 + policy.slack_factor)
        else:
            bound = best - policy.slack_amount if self.goal is Goal.MAXIMIZE else best + policy.slack_amount
        if self._worse(mine, bound):
            return Decision(
                True,
                f"bandit at interval {interval}: best so far {mine:.6g} is outside the slack of "
                f"the best run's {best:.6g} (bound {bound:.6g})",
            )
        return Decision(False, f"bandit at interval {interval}: best so far {mine:.6g} is within the slack (bound {bound:.6g})")

    def _median(self, trial: int, interval: int) -> Decision:
        mine = self._best(self.histories[trial][:interval])
        averages = [statistics.fmean(h[:interval]) for h in self.histories.values() if len(h) >= interval]
        median = statistics.median(averages)
        if self._worse(mine, median):
            return Decision(
                True,
                f"median stopping at interval {interval}: best so far {mine:.6g} is worse than "
                f"the median {median:.6g} of {len(averages)} running averages",
            )
        return Decision(
            False,
            f"median stopping at interval {interval}: best so far {mine:.6g} is no worse than "
            f"the median {median:.6g} of {len(averages)} running averages",
        )

    def _truncation(self, trial: int, interval: int) -> Decision:
        at_n = {t: h[interval - 1] for t, h in self.histories.items() if len(h) >= interval}
        cut = math.floor(len(at_n) * self.policy.truncation_percentage / 100)
        mine = at_n[trial]
        worse_than_me = sum(1 for v in at_n.values() if self._worse(v, mine))
        if worse_than_me < cut:
            return Decision(
                True,
                f"truncation selection at interval {interval}: {mine:.6g} is among the lowest "
                f"{self.policy.truncation_percentage}% of {len(at_n)} runs ({worse_than_me} worse, {cut} cut)",
            )
        return Decision(
            False,
            f"truncation selection at interval {interval}: {mine:.6g} is above the lowest "
            f"{self.policy.truncation_percentage}% of {len(at_n)} runs",
        )


def make_engine(policy: Optional[PolicySpec], goal: Goal, seed: Optional[int] = None) -> PolicyEngine:
    return PolicyEngine(policy, goal, seed=seed)


__all__ = ["Decision", "PolicyEngine", "SuccessiveHalving", "make_engine", "percentile"]
