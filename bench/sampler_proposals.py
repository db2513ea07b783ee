"""What a proposal costs now that each is a function of the run store's history.

The Bayesian sampler builds its Optuna study from the history for every proposal (so a
resumed sweep proposes what the uninterrupted one would have); that is O(trials) per
proposal. This times one proposal at several history sizes, for TPE and for random, on
diabetes.yaml's space (models, two LightGBM settings, a fixed time limit).

python bench/sampler_proposals.py [--sizes 10,100,300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from cloudauto.spec import JobSpec
from cloudauto.tuning.samplers import Past, make_sampler

ROOT = Path(__file__).resolve().parents[1]


def history_of(sampler, size: int) -> list[Past]:
    history: list[Past] = []
    for n in range(size):
        params, state = sampler.suggest(n, history)
        history.append(Past(n, params, state, float(params.get("GBM.learning_rate", 0.1)), True))
    return history


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,300")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for sampling in ("bayesian", "random"):
        spec = JobSpec.from_file(ROOT / "job_specs" / "diabetes.yaml", overrides=[f"sweep.sampling={sampling}"])
        for size in (int(s) for s in args.sizes.split(",")):
            sampler = make_sampler(spec)
            history = history_of(sampler, size)
            times = []
            for attempt in range(args.repeat):
                start = time.perf_counter()
                sampler.suggest(size + attempt, history)
                times.append(time.perf_counter() - start)
            row = {"sampling": sampling, "history": size, "median_ms": round(1000 * statistics.median(times), 2)}
            results.append(row)
            print(f"{sampling:>9}  history {size:>4}  one proposal {row['median_ms']:>8.2f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
