"""Cold start of `cloudauto validate` on every example spec, next to the cloud SDK imports.

Each figure is the wall time of a new process, repeated; the median and the minimum are
reported. `--core-python` is an interpreter with only the core installed (make bench
builds one in .venv-core); the SDK imports run in `--full-python` (the full .venv).

    python bench/validate_cold_start.py [--core-python .venv-core/bin/python] [--full-python .venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(str(p) for p in [*ROOT.glob("job_specs/*.yaml"), *ROOT.glob("job_specs/*/*.yaml")])


LIBRARIES = "import click, yaml; from pydantic import BaseModel, Field"


def timed(cmd: list[str], repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}")
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4), "runs": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core-python", default=sys.executable)
    parser.add_argument("--full-python", default=sys.executable)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    if not (ROOT / "job_specs" / "data" / "checkpoints" / "chronos2-tiny").is_dir():  # validate checks weights folders
        subprocess.run([args.full_python, str(ROOT / "job_specs" / "make_data.py"), "foundation"], check=True, cwd=ROOT)
    cli = str(Path(args.core_python).with_name("cloudauto"))
    rows = {
        f"cloudauto validate ({len(SPECS)} example specs), core only": timed([cli, "validate", *SPECS], args.repeat),
        "python -c pass (interpreter floor)": timed([args.core_python, "-c", "pass"], args.repeat),
        # what any validate must import before cloudauto's own code runs
        "python -c 'import click, yaml, pydantic.BaseModel' (the core's libraries)": timed(
            [args.core_python, "-c", LIBRARIES], args.repeat
        ),
        "python -c 'import azure.ai.ml'": timed([args.full_python, "-c", "import azure.ai.ml"], max(3, args.repeat // 3)),
        "python -c 'import sagemaker.core.image_uris'": timed(
            [args.full_python, "-c", "import sagemaker.core.image_uris"], max(3, args.repeat // 3)
        ),
    }
    validate = rows[next(iter(rows))]["median_s"]
    print(f"machine: {platform.machine()} {platform.python_version()}, {len(SPECS)} specs")
    for name, row in rows.items():
        ratio = "" if row["median_s"] == validate else f"   ({row['median_s'] / validate:.1f}x validate)"
        print(f"{row['median_s']:8.3f} s median {row['min_s']:8.3f} s min   {name}{ratio}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"date": time.strftime("%Y-%m-%d"), "specs": len(SPECS), "rows": rows}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
