"""Local endpoint latency and throughput against the predictor in this process.

Single rows: p50/p99 of POST /invocations (keep-alive, one client) against in-process
`predictor.predict` and against the in-process handler (parse + predict_proba + render,
the work the endpoint does per request). Batches: rows/s for 1,000-row requests against
in-process predict on the same rows.

    python bench/endpoint_latency.py [--requests 1000] [--json bench/results/endpoint_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import pandas as pd

    import cloudauto
    from cloudauto.runtime.inference import Model
    from cloudauto.scoring import HTTPScorer
    from job_specs import make_data

    work = Path(tempfile.mkdtemp(prefix="cloudauto-bench-"))
    os.environ["CLOUDAUTO_RUNS_DIR"] = str(work / "runs")
    make_data.iris(work)
    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "iris.yaml",
        overrides=[
            f"data.train={work}/iris/train.csv",
            f"data.test={work}/iris/test.csv",
            "sweep.space={models: GBM, time_limit: 30}",
            "limits.max_trials=1",
            "limits.max_concurrent_trials=1",
        ],
    )
    job = cloudauto.submit(spec, backend="local")
    job.wait(progress=False)
    endpoint = job.deploy(name="bench-latency")
    try:
        model = Model(Path(job.best_trial().artifacts["dir"]) / "model")
        rows = pd.read_csv(work / "iris" / "test.csv").drop(columns=["target"])
        singles = [rows.iloc[[i % len(rows)]] for i in range(args.requests)]
        bodies = [r.to_csv(index=False).encode() for r in singles]
        scorer = HTTPScorer(endpoint.url, retries=0)
        for body in bodies[:50]:  # warm both sides
            scorer.post(body)
            model.predictor.predict(rows.iloc[[0]])

        def timed(fn, items) -> list[float]:
            out = []
            for item in items:
                start = time.perf_counter()
                fn(item)
                out.append(time.perf_counter() - start)
            return out

        http_lat = timed(scorer.post, bodies)
        predict_lat = timed(model.predictor.predict, singles)
        handler_lat = timed(lambda b: model.handle(b, "text/csv", "application/json"), bodies)

        big = pd.concat([rows] * 34, ignore_index=True).iloc[:1000]
        big_body = big.to_csv(index=False).encode()
        reps = 20
        start = time.perf_counter()
        for _ in range(reps):
            scorer.post(big_body)
        http_rps = reps * len(big) / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(reps):
            model.predictor.predict(big)
        predict_rps = reps * len(big) / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(reps):
            model.handle(big_body, "text/csv", "application/json")
        handler_rps = reps * len(big) / (time.perf_counter() - start)
    finally:
        endpoint.delete()

    figures = {
        "single_row_requests": args.requests,
        "endpoint_p50_ms": round(pct(http_lat, 50), 3),
        "endpoint_p99_ms": round(pct(http_lat, 99), 3),
        "inprocess_predict_p50_ms": round(pct(predict_lat, 50), 3),
        "inprocess_predict_p99_ms": round(pct(predict_lat, 99), 3),
        "inprocess_handler_p50_ms": round(pct(handler_lat, 50), 3),
        "inprocess_handler_p99_ms": round(pct(handler_lat, 99), 3),
        "overhead_vs_predict_p50_ms": round(pct(http_lat, 50) - pct(predict_lat, 50), 3),
        "overhead_vs_handler_p50_ms": round(pct(http_lat, 50) - pct(handler_lat, 50), 3),
        "batch1000_endpoint_rows_per_s": round(http_rps),
        "batch1000_inprocess_predict_rows_per_s": round(predict_rps),
        "batch1000_inprocess_handler_rows_per_s": round(handler_rps),
        "batch_endpoint_vs_predict": round(http_rps / predict_rps, 3),
    }
    for key, value in figures.items():
        print(f"{key:42s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
