"""Example specs run end to end on the local backend: wall time, trials, stopped trials, the best figure.

    python bench/example_sweeps.py [job_specs/hf_image_finetune/spec.yaml ...] [--json FILE]

Each spec runs as `cloudauto run` would run it (`cloudauto.submit` + `wait`), in a home of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=[str(ROOT / "job_specs" / "hf_image_finetune" / "spec.yaml")])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="cloudauto-bench-examples-") as tmp:
        os.environ["CLOUDAUTO_HOME"] = tmp
        import cloudauto
        from cloudauto.backend import TrialStatus

        for path in args.specs:
            spec = cloudauto.JobSpec.from_file(path)
            started = time.perf_counter()
            job = cloudauto.submit(spec, backend="local")
            status = job.wait(progress=False)
            wall = time.perf_counter() - started
            trials = job.trials()
            best = job.best_trial()
            results.append(
                {
                    "spec": str(Path(path).relative_to(ROOT)) if Path(path).resolve().is_relative_to(ROOT) else path,
                    "status": status.value,
                    "wall_s": round(wall, 1),
                    "trials": len(trials),
                    "stopped": sum(t.status is TrialStatus.TERMINATED for t in trials),
                    f"best_{spec.objective.name}": None if best is None else round(best.objective, 4),
                    "best_params": None if best is None else best.params,
                    "cores": len(os.sched_getaffinity(0)),
                }
            )
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
