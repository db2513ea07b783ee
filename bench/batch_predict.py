"""Rows per second of local batch inference against one in-process `predictor.predict` on the same rows.

One iris trial (GBM) is trained, then 1M iris-shaped rows in a CSV are scored two ways, each
from reading the CSV to writing the predictions as CSV:

1. in process: `pd.read_csv`, one `TabularPredictor.predict` over every row, `to_csv`;
2. `job.predict_batch` with 2 worker processes (chunks of 100k rows), from the call to the
   written output file;
3. why: `predictor.predict` on 100k rows in a fresh process with OMP_NUM_THREADS=1 and =2 (the
   median of 5), which says how much of the second core the model's own threads already use.

    python bench/batch_predict.py [--rows 1000000] [--workers 2] [--json bench/results/batch_predict.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


THREADS = """
import json, statistics, sys, time
import numpy as np, pandas as pd
from autogluon.tabular import TabularPredictor
predictor = TabularPredictor.load(sys.argv[1])
predictor.persist()
rng = np.random.default_rng(1)
rows = pd.DataFrame(np.round(rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(100_000, 4)), 1),
                    columns=json.loads(sys.argv[2]))
predictor.predict(rows)
times = []
for _ in range(5):
    t = time.perf_counter()
    predictor.predict(rows)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def predict_seconds(model_dir: str, features: list[str], threads: int) -> float:
    """predict on 100k rows in a fresh process whose OpenMP has `threads` threads (set before LightGBM loads)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", THREADS, model_dir, json.dumps(features)], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="cloudauto-bench-batch-") as tmp:
        root = Path(tmp)
        os.environ["CLOUDAUTO_HOME"] = str(root / "home")
        import cloudauto
        from job_specs import make_data

        make_data.iris(root)
        spec = cloudauto.JobSpec.from_file(
            ROOT / "job_specs" / "iris.yaml",
            overrides=[
                f"data.train={root}/iris/train.csv",
                f"data.test={root}/iris/test.csv",
                "sweep.space={models: GBM, time_limit: 30}",
                "limits.max_trials=1",
                "limits.max_concurrent_trials=1",
            ],
        )
        job = cloudauto.submit(spec, backend="local")
        job.wait(progress=False)
        features = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
        rng = np.random.default_rng(0)
        low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
        frame = pd.DataFrame(np.round(rng.uniform(low, high, size=(args.rows, 4)), 1), columns=features)
        source = root / "rows.csv"
        frame.to_csv(source, index=False)

        from autogluon.tabular import TabularPredictor

        t = time.perf_counter()
        predictor = TabularPredictor.load(str(Path(job.best_trial().artifacts["dir"]) / "model"))
        rows = pd.read_csv(source)
        pd.DataFrame({"prediction": predictor.predict(rows).to_numpy()}).to_csv(root / "in_process.csv", index=False)
        in_process = time.perf_counter() - t

        t = time.perf_counter()
        batch = job.predict_batch(source, root / "batch.csv", chunk_rows=args.chunk_rows, workers=args.workers)
        status = batch.wait(progress=False, poll=0.1)
        batched = time.perf_counter() - t
        assert status.value == "completed", batch.logs()
        same = pd.read_csv(root / "batch.csv")["prediction"].equals(pd.read_csv(root / "in_process.csv")["prediction"])
        model_dir = str(Path(job.best_trial().artifacts["dir"]) / "model")
        one, two = predict_seconds(model_dir, features, 1), predict_seconds(model_dir, features, 2)

    result = {
        "rows": args.rows,
        "workers": args.workers,
        "chunk_rows": args.chunk_rows,
        "cores": len(os.sched_getaffinity(0)),
        "in_process_s": round(in_process, 2),
        "in_process_rows_per_s": round(args.rows / in_process),
        "predict_batch_s": round(batched, 2),
        "predict_batch_rows_per_s": round(args.rows / batched),
        "speedup": round(in_process / batched, 2),
        "same_predictions": bool(same),
        "predict_100k_s_1_thread": round(one, 3),
        "predict_100k_s_2_threads": round(two, 3),
        "thread_speedup": round(one / two, 2),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
