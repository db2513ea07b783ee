"""Compile time of each example spec for a backend, in a new process, next to the SDK import.

python bench/compile_time.py [--backend sagemaker] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted([*ROOT.glob("job_specs/*.yaml"), *ROOT.glob("job_specs/*/*.yaml")])
SDK_IMPORT = {"sagemaker": "import sagemaker.core.image_uris", "azureml": "import azure.ai.ml", "local": "import cloudauto"}


def timed(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sagemaker")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("cloudauto"))
    rows = {}
    for spec in SPECS:
        rows[str(spec.relative_to(ROOT))] = round(timed([cli, "compile", str(spec), "--backend", args.backend], args.repeat), 3)
    rows[f"python -c '{SDK_IMPORT[args.backend]}'"] = round(
        timed([sys.executable, "-c", SDK_IMPORT[args.backend]], args.repeat), 3
    )
    for name, seconds in rows.items():
        print(f"{seconds:7.3f} s  {name}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"backend": args.backend, "median_s": rows}, indent=2))


if __name__ == "__main__":
    main()
