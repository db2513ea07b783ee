"""The local scheduler's own cost, without AutoGluon: N command trials of a fixed length.

Each trial is a Python script that takes a fixed time (0.5 s by default) from its first
line, then reports its objective (one round trip through the worker and the scheduler)
and exits; Python's start before that line and its exit count as overhead. For each
concurrency:

- overhead per trial = (wall - ceil(N / c) x trial) x c / N at concurrency c: what the
  scheduler adds to each trial's slot; at concurrency 1 that is (wall - N x trial) / N. The
  job's wall is the store's, from the scheduler's start to the job's end, as
  bench/local_overhead.py takes it.
- beyond a bare process: the same, less what the same script costs beyond its fixed time
  when run directly, N times, one after another (Python's start and exit, `import cloudauto`).
- submit to first trial: from `submit` returning to the first trial script's first line
  (the scheduler's start, a worker's start, the command's start).

    python bench/scheduler_overhead.py [--trials 12] [--seconds 0.5] [--concurrency 1,2]
                                       [--json bench/results/scheduler_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRIAL = """\
import time
START = time.time()  # the script's first line: the Python start before it counts as overhead, as its exit does
import os, sys
import cloudauto
out = os.environ.get("CLOUDAUTO_OUTPUT_DIR")
if out:
    with open(os.path.join(out, "started.json"), "w") as fh:
        fh.write(repr(START))
time.sleep(max(0.0, START + SECONDS - time.time()))
cloudauto.report(score=float(sys.argv[1]))
"""


def write_code(folder: Path, seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trial.py").write_text(TRIAL.replace("SECONDS", repr(seconds)))
    return folder


def spec_for(code: Path, trials: int, concurrency: int):
    import cloudauto

    text = textwrap.dedent(f"""\
        name: sched-bench
        task: custom
        engine: command
        command:
          run: python trial.py ${{{{sweep.value}}}}
          code: {code}
        metric: {{name: score, goal: maximize}}
        sweep:
          sampling: grid
          space:
            value: {{choice: {list(range(trials))}}}
        limits:
          max_trials: {trials}
          max_concurrent_trials: {concurrency}
        """)
    path = code.parent / f"spec-{concurrency}.yaml"
    path.write_text(text)
    return cloudauto.JobSpec.from_file(path)


def sweep(code: Path, trials: int, seconds: float, concurrency: int) -> dict:
    import cloudauto

    spec = spec_for(code, trials, concurrency)
    called = time.time()
    job = cloudauto.submit(spec, backend="local")
    returned = time.time()
    status = job.wait(progress=False, poll=0.1)
    waited = time.time()
    row = job.store.job()
    done = job.trials()
    if str(status.value) != "completed" or len(done) != trials:
        raise SystemExit(f"the sweep did not complete: {status.value}, {len(done)} trials ({job.dir})")
    first = min(float((Path(t.artifacts["dir"]) / "started.json").read_text()) for t in done)
    wall = row.ended - row.started
    slots = math.ceil(trials / concurrency)  # the trials' own time on the critical path
    return {
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "overhead_per_trial_s": round((wall - slots * seconds) * concurrency / trials, 4),
        "submit_call_s": round(returned - called, 3),
        "submit_return_to_first_trial_start_s": round(first - returned, 3),
        "submit_call_to_job_seen_ended_s": round(waited - called, 3),
    }


def bare(code: Path, trials: int, seconds: float) -> float:
    """What the trial script costs beyond its fixed time when run directly, per run (median)."""
    extra = []
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    for n in range(trials):
        start = time.perf_counter()
        subprocess.run([sys.executable, "trial.py", str(n)], cwd=code, env=env, check=True, capture_output=True)
        extra.append(time.perf_counter() - start - seconds)
    return statistics.median(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--concurrency", default="1,2")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cloudauto-sched-bench-"))
    os.environ["CLOUDAUTO_HOME"] = str(work / "home")
    code = write_code(work / "code", args.seconds)
    process = bare(code, args.trials, args.seconds)
    rows = []
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        row = sweep(code, args.trials, args.seconds, concurrency)
        row["overhead_beyond_bare_process_s"] = round(row["overhead_per_trial_s"] - process, 4)
        rows.append(row)
    figures = {
        "trials": args.trials,
        "trial_seconds": args.seconds,
        "bare_process_extra_s": round(process, 4),
        "sweeps": rows,
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
