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

The engine is event-driven (as Syne Tune's `on_trial_result`): `report()` records a value
and returns whether that trial should stop now. It knows nothing of how trials run.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Union

from ..spec.metrics import Goal

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import BanditPolicy, MedianStoppingPolicy, NoPolicy, TruncationSelectionPolicy

    PolicySpec = Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, NoPolicy, None]


@dataclass
class Decision:
    stop: bool
    reason: str = ""  # the figures compared, whichever way it went (the scheduler logs it)


@dataclass
class PolicyEngine:
    policy: PolicySpec
    goal: Goal
    histories: dict[int, list[float]] = field(default_factory=dict)

    def load(self, trial: int, values: list[float]) -> None:
        """Restore a trial's history (on resume) without judging it."""
        self.histories[trial] = list(values)

    def report(self, trial: int, value: float) -> Decision:
        """Record the trial's next interval; say whether it must stop."""
        history = self.histories.setdefault(trial, [])
        history.append(float(value))
        interval = len(history)
        policy = self.policy
        if policy is None or policy.policy == "none":
            return Decision(False)
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


def make_engine(policy: Optional[PolicySpec], goal: Goal) -> PolicyEngine:
    return PolicyEngine(policy, goal)


__all__ = ["Decision", "PolicyEngine", "make_engine"]
