"""Per-trial overhead of the local backend, and a sweep against a plain loop of fits.

1. cloudauto, one trial at a time (warm workers): overhead per trial =
   (job wall time - the trials' own fit time) / trials.
2. The naive way, a fresh Python process per trial (the same parameters, the same
   runtime function): overhead = process wall time - fit time.
3. The same sweep through cloudauto at concurrency 2 against a plain loop of
   `TabularPredictor.fit` calls with the same parameters in one process. The loop's time
   leaves out `import autogluon.tabular` (done before it starts), which cloudauto's wall
   includes (each worker imports AutoGluon); `plain_loop_script_wall_s` is the same loop as a
   script a user would run, timed from its process start to its end, imports included.

    python bench/local_overhead.py [--trials 8] [--json bench/results/local_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAIVE = """
import json, sys, time
from pathlib import Path
import autogluon.tabular, cloudauto.runtime.ag_callbacks  # start-up and import: overhead, not fit
from cloudauto.spec import JobSpec
from cloudauto.runtime.autogluon_trial import run_trial
spec = JobSpec.from_dict(json.loads(sys.argv[1]))
t = time.perf_counter()
result = run_trial(spec, json.loads(sys.argv[2]), Path(sys.argv[3]), lambda v: False, num_cpus=int(sys.argv[4]))
print(json.dumps({"fit": result.metrics["fit_seconds"]}))
"""

LOOP = """
import json, sys
import pandas as pd
from autogluon.tabular import TabularPredictor
from cloudauto.runtime.autogluon_trial import fit_arguments
train = pd.read_csv(sys.argv[1])
for number, params in json.loads(sys.argv[2]):
    TabularPredictor(label="target", eval_metric="accuracy", path=f"{sys.argv[3]}{number}", verbosity=0).fit(
        train, **fit_arguments(params)
    )
"""


def sweep(spec, concurrency: int) -> tuple[float, list]:
    import cloudauto

    spec = spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_concurrent_trials": concurrency})})
    job = cloudauto.submit(spec, backend="local")
    job.wait(progress=False)
    row = job.store.job()
    return row.ended - row.started, job.trials()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import cloudauto
    from job_specs import make_data

    work = Path(tempfile.mkdtemp(prefix="cloudauto-bench-"))
    os.environ["CLOUDAUTO_HOME"] = str(work / "home")
    make_data.iris(work)
    base = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            f"data.train={work}/iris/train.csv",
            "sweep.sampling=random",
            "sweep.seed=1",
            f"limits.max_trials={args.trials}",
            # no configuration runs twice: the space has 9, so --trials up to 9 all run (three models alone gave
            # 3 trials whatever --trials said); the time limit is never reached on iris, so it changes no fit
            "sweep.space={models: {choice: [GBM, RF, XT]}, time_limit: {choice: [30, 31, 32]}}",
        ],
    )
    data = base.to_dict()
    data["data"].pop("test", None)  # fit only: the same work in all three ways
    spec = cloudauto.JobSpec.from_dict(data)
    if args.trials > 9:
        parser.error("--trials: the sweep's space has 9 configurations")

    # 1. warm workers, one at a time
    wall1, trials1 = sweep(spec, 1)
    fit1 = sum(t.scores["fit_seconds"] for t in trials1)
    warm = (wall1 - fit1) / len(trials1)

    # 2. a fresh process per trial
    naive = []
    for t in trials1:
        start = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                NAIVE,
                json.dumps(spec.to_dict()),
                json.dumps(t.params),
                str(work / f"naive{t.number}"),
                str(os.cpu_count()),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        naive.append(wall - json.loads(out.stdout.strip().splitlines()[-1])["fit"])

    # 3. concurrency 2 against a plain loop in one process
    wall2, _ = sweep(spec, 2)
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    from cloudauto.runtime.autogluon_trial import fit_arguments

    train = pd.read_csv(work / "iris" / "train.csv")
    start = time.perf_counter()
    for t in trials1:
        TabularPredictor(label="target", eval_metric="accuracy", path=str(work / f"loop{t.number}"), verbosity=0).fit(
            train, **fit_arguments(t.params)
        )
    loop = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOOP,
            str(work / "iris" / "train.csv"),
            json.dumps([[t.number, t.params] for t in trials1]),
            str(work / "script_loop"),
        ],
        check=True,
        capture_output=True,
    )
    script_loop = time.perf_counter() - start

    figures = {
        "trials": len(trials1),
        "warm_overhead_per_trial_s": round(warm, 3),
        "fresh_process_overhead_per_trial_s": round(statistics.mean(naive), 3),
        "cloudauto_concurrency1_wall_s": round(wall1, 2),
        "cloudauto_concurrency2_wall_s": round(wall2, 2),
        "plain_loop_one_process_wall_s": round(loop, 2),
        "plain_loop_script_wall_s": round(script_loop, 2),
        "cpus": os.cpu_count(),
    }
    for key, value in figures.items():
        print(f"{key:40s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
