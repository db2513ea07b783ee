"""Local endpoint latency and throughput against the predictor in this process.

Single rows: p50/p99 of POST /invocations (keep-alive, one client) against in-process
`predictor.predict` and the in-process handler (parse + predict + render, the endpoint's
own work per request).

1,000-row requests, rows/s, steady state (each block is args.block calls back to back),
each as CSV and as npy (a structured array, what `score()` sends for numeric rows, answered
in npy):
- one request in flight against a one-worker endpoint (the transport and parsing laid bare);
- two in flight against a two-worker endpoint (a worker per core, as SageMaker's model
  servers run; one request per worker);
- four in flight against the two-worker endpoint (two per worker, as `score()` sends by
  default: the next request is read while both workers predict);
- `endpoint.score(frame)` of 20,000 rows end to end, as a user calls it (numeric rows go
  as npy, two batches in flight per worker; the client writes the batches and reads the
  answers too, on the same two cores), and one batch at a time against one worker;
against in-process `predictor.predict` on the same 1,000-row slices. Blocks of the sides
alternate with a pause between them (see settle()); medians of the blocks.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


BLOCK, SCORE_ROWS = 50, 20_000


def settle() -> None:
    """Between blocks: LightGBM's OpenMP threads spin for a while after each predict, in this
    process and in the server's; measured back to back, each side would run on the cores the
    other's spinning threads hold (a client does not run LightGBM next to the endpoint)."""
    time.sleep(0.3)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


def wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=5)  # batch blocks per side
    parser.add_argument("--block", type=int, default=100)  # 1,000-row calls per block
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import pandas as pd

    import cloudauto
    from cloudauto.runtime.inference import Model
    from cloudauto.scoring import CSV, JSON, NPY, HTTPScorer, npy_body
    from job_specs import make_data

    work = Path(tempfile.mkdtemp(prefix="cloudauto-bench-"))
    os.environ["CLOUDAUTO_HOME"] = str(work / "home")
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
    one = job.deploy(name="bench-1w")
    two = job.deploy(name="bench-2w", workers=2)
    try:
        model = Model(Path(job.best_trial().artifacts["dir"]) / "model")
        rows = pd.read_csv(work / "iris" / "test.csv").drop(columns=["target"])
        singles = [rows.iloc[[i % len(rows)]] for i in range(args.requests)]
        bodies = [r.to_csv(index=False).encode() for r in singles]
        scorer, scorer2 = HTTPScorer(one.url, retries=0), HTTPScorer(two.url, retries=0)
        for body in bodies[:50]:  # warm every side
            scorer.post(body)
            scorer2.post(body)
            model.predictor.predict(rows.iloc[[0]])

        def timed(fn, items) -> list[float]:
            return [wall(lambda item=item: fn(item)) for item in items]

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
        csv_big, npy_big = big.to_csv(index=False).encode(), npy_body(big)
        frame = pd.concat([rows] * (SCORE_ROWS // len(rows) + 1), ignore_index=True).iloc[:SCORE_ROWS]
        pool = ThreadPoolExecutor(4)

        def post(scorer: HTTPScorer, body: bytes) -> bytes:
            kind = NPY if body is npy_big else CSV
            return scorer.post(body, kind, NPY if kind == NPY else JSON)

        def sequential(body: bytes) -> Callable[[], object]:
            return lambda: [post(scorer, body) for _ in range(args.block)]

        def in_flight(n: int, body: bytes) -> Callable[[], object]:
            """n threads, each on its own keep-alive connection, sending its share back to back."""

            def block() -> None:
                shares = [pool.submit(lambda: [post(scorer2, body) for _ in range(args.block // n)]) for _ in range(n)]
                for share in shares:
                    share.result()

            return block

        def predict_slices() -> None:
            for start in range(0, len(frame), 1000):
                model.predictor.predict(frame.iloc[start : start + 1000])

        block_rows = 1000 * args.block
        sides: dict[str, tuple[Callable[[], object], int]] = {  # what one block does, and its rows
            "inprocess_predict": (lambda: [model.predictor.predict(big) for _ in range(args.block)], block_rows),
            "inprocess_handler_csv": (lambda: [model.handle(csv_big, CSV, JSON) for _ in range(args.block)], block_rows),
            "inprocess_handler_npy": (lambda: [model.handle(npy_big, NPY, NPY) for _ in range(args.block)], block_rows),
            "sequential_1w_csv": (sequential(csv_big), block_rows),
            "sequential_1w_npy": (sequential(npy_big), block_rows),
            "two_in_flight_2w_csv": (in_flight(2, csv_big), 1000 * (args.block // 2 * 2)),
            "two_in_flight_2w_npy": (in_flight(2, npy_big), 1000 * (args.block // 2 * 2)),
            "four_in_flight_2w_csv": (in_flight(4, csv_big), 1000 * (args.block // 4 * 4)),
            "four_in_flight_2w_npy": (in_flight(4, npy_big), 1000 * (args.block // 4 * 4)),
            "score_2w": (lambda: two.score(frame), len(frame)),
            "score_1w": (lambda: one.score(frame), len(frame)),
            "score_1w_one_at_a_time": (lambda: one.score(frame, concurrency=1), len(frame)),
            "inprocess_predict_slices": (predict_slices, len(frame)),
        }
        for fn, _ in sides.values():  # warm: the two-worker endpoint's second worker, the threads
            fn()
        rates: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.blocks):
            for name, (fn, count) in sides.items():
                settle()
                rates[name].append(count / wall(fn))
        rps = {name: statistics.median(values) for name, values in rates.items()}
        pool.shutdown()
    finally:
        one.delete()
        two.delete()

    predict_rps = rps["inprocess_predict"]
    figures: dict[str, float] = {
        "single_row_requests": args.requests,
        "endpoint_p50_ms": round(pct(http_lat, 50), 3),
        "endpoint_p99_ms": round(pct(http_lat, 99), 3),
        "inprocess_predict_p50_ms": round(pct(predict_lat, 50), 3),
        "inprocess_predict_p99_ms": round(pct(predict_lat, 99), 3),
        "inprocess_handler_p50_ms": round(pct(handler_lat, 50), 3),
        "inprocess_handler_p99_ms": round(pct(handler_lat, 99), 3),
        "overhead_vs_predict_p50_ms": round(pct(http_lat, 50) - pct(predict_lat, 50), 3),
        "overhead_vs_handler_p50_ms": round(pct(http_lat, 50) - pct(handler_lat, 50), 3),
        "batch1000_inprocess_predict_rows_per_s": round(predict_rps),
    }
    for name in sides:
        if name.startswith(("sequential", "two_", "four_", "inprocess_handler")):
            figures[f"batch1000_{name}_rows_per_s"] = round(rps[name])
            figures[f"batch1000_{name}_vs_predict"] = round(rps[name] / predict_rps, 3)
    figures |= {
        "score_20k_rows_inprocess_slices_rows_per_s": round(rps["inprocess_predict_slices"]),
        "score_20k_rows_2workers_rows_per_s": round(rps["score_2w"]),
        "score_20k_rows_1worker_rows_per_s": round(rps["score_1w"]),
        "score_20k_rows_1worker_one_at_a_time_rows_per_s": round(rps["score_1w_one_at_a_time"]),
        "score_2workers_vs_predict": round(rps["score_2w"] / rps["inprocess_predict_slices"], 3),
        "score_1worker_vs_predict": round(rps["score_1w"] / rps["inprocess_predict_slices"], 3),
        "score_1worker_one_at_a_time_vs_predict": round(rps["score_1w_one_at_a_time"] / rps["inprocess_predict_slices"], 3),
    }
    for key, value in figures.items():
        print(f"{key:50s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
