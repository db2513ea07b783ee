"""Local endpoint latency and throughput against the predictor in this process.

Single rows: p50/p99 of POST /invocations (keep-alive, one client) against in-process
`predictor.predict` and against the in-process handler (parse + predict_proba + render,
the work the endpoint does per request). Batches: rows/s for 1,000-row requests against
in-process predict on the same rows. Blocks alternate (see settle()); medians of the calls.

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


BLOCK, BATCH_BLOCK = 50, 5


def settle() -> None:
    """Between blocks: LightGBM's OpenMP threads spin for a while after each predict, in this
    process and in the server's; measured back to back, each side would run on the cores the
    other's spinning threads hold (a client does not run LightGBM next to the endpoint)."""
    time.sleep(0.3)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--batch-reps", type=int, default=100)  # 1,000-row calls per side
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

        http_lat, predict_lat, handler_lat = [], [], []
        for start in range(0, len(bodies), BLOCK):  # alternating blocks; see settle()
            for fn, items, out in (
                (scorer.post, bodies, http_lat),
                (model.predictor.predict, singles, predict_lat),
                (lambda b: model.handle(b, "text/csv", "application/json"), bodies, handler_lat),
            ):
                settle()
                out += timed(fn, items[start : start + BLOCK])

        big = pd.concat([rows] * 34, ignore_index=True).iloc[:1000]
        big_body = big.to_csv(index=False).encode()
        http_t, predict_t, handler_t = [], [], []
        for _ in range(args.batch_reps // BATCH_BLOCK):
            for fn, out in (
                (lambda: scorer.post(big_body), http_t),
                (lambda: model.predictor.predict(big), predict_t),
                (lambda: model.handle(big_body, "text/csv", "application/json"), handler_t),
            ):
                settle()
                out += timed(lambda _, f=fn: f(), range(BATCH_BLOCK))
        http_rps = len(big) / statistics.median(http_t)
        predict_rps = len(big) / statistics.median(predict_t)
        handler_rps = len(big) / statistics.median(handler_t)
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
