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


def timed(cmd: list[str], repeat: int) -> tuple[float, int]:
    """(median seconds, exit code): a spec the backend refuses is timed too, and marked."""
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sagemaker")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("cloudauto"))
    rows, refused = {}, []
    for spec in SPECS:
        seconds, code = timed([cli, "compile", str(spec), "--backend", args.backend], args.repeat)
        name = str(spec.relative_to(ROOT))
        rows[name] = round(seconds, 3)
        if code != 0:
            refused.append(name)
    compiled = [seconds for name, seconds in rows.items() if name not in refused]
    summary = round(statistics.median(compiled), 3) if compiled else None
    rows["python -c pass (interpreter floor)"] = round(timed([sys.executable, "-c", "pass"], args.repeat)[0], 3)
    rows[f"python -c '{SDK_IMPORT[args.backend]}'"] = round(
        timed([sys.executable, "-c", SDK_IMPORT[args.backend]], args.repeat)[0], 3
    )
    for name, seconds in rows.items():
        print(f"{seconds:7.3f} s  {name}" + ("  (refused by the backend)" if name in refused else ""))
    print(f"{summary:7.3f} s  median over the {len(compiled)} specs that compile ({args.repeat} runs each)" if compiled else "")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"date": time.strftime("%Y-%m-%d"), "backend": args.backend, "runs": args.repeat, "median_s": rows}
        args.json.write_text(json.dumps({**figures, "compiled_median_s": summary, "refused": refused}, indent=2))


if __name__ == "__main__":
    main()
