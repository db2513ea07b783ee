"""The trial entry point of an Azure ML sweep job (engine: autogluon).

Azure ML fills `${{search_space.<name>}}` and `${{inputs.<role>}}` in the command line, so
every tuned value arrives as a string: it is typed back from the spec's own search space
(a choice gives back the original value, integers stay integers). Metrics go through
`cloudauto.report`, which logs them to MLflow where Azure ML reads them; the model is
saved to the job's `model` output. A local checkpoint folder arrives as an input of its own
(`--input checkpoint_0=DIR`); the bundle's checkpoints.json says which value it carries.

    python -m cloudauto.runtime.azureml_entry --spec spec.json --output DIR \\
        --data-train PATH [--data-validation PATH] [--data-test PATH] [--data-static_features PATH] [--input checkpoint_0=DIR ...] \\
        [--checkpoints DIR] --param name=value ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional


def typed_params(
    spec: Any, raw: dict[str, str], grid: Optional[dict[str, Any]] = None, where: str = "the grid's table"
) -> dict[str, Any]:
    """String values back to the types and values of the spec's search space.

    Alternative sub-spaces arrive as cloudauto.tuning.flat encodes them: a grid's numbered point
    (`cloudauto_grid_point`: the local grid's own point, from `grid`, the table compile wrote from the
    spec as the user wrote it; `where` names it) or the chosen sub-space (`cloudauto_subspace`) with its
    parameters under their flat names. A grid point without its table is a DecodeError: a grid rebuilt
    from a spec whose keys were sorted (the code folder's spec.json) holds other points."""
    from ..spec.space import Choice, Fixed, QUniform, RandInt
    from ..tuning.flat import GRID_PARAM, SUBSPACE_PARAM, DecodeError, check_point, grid_point, number_of, subspace_keys

    if GRID_PARAM in raw:
        if grid is None:
            raise DecodeError(f"{GRID_PARAM} {raw[GRID_PARAM]}: {where} is missing; compile and submit the spec again")
        return check_point(spec, grid_point(grid, raw[GRID_PARAM], where), where, raw[GRID_PARAM])
    count = len(spec.space.subspaces)
    index = number_of(raw.get(SUBSPACE_PARAM, 0), count, f"{SUBSPACE_PARAM} (one of the spec's {count} sub-spaces)")
    sub, keys = spec.space.subspaces[index], subspace_keys(spec.space)[index]
    out: dict[str, Any] = {}
    for name, dist in sub.items():
        if isinstance(dist, Fixed):
            out[name] = dist.value
            continue
        text = raw[keys[name]]
        if isinstance(dist, Choice):
            out[name] = next((v for v in dist.values if str(v) == text or repr(v) == text), text)
        elif isinstance(dist, RandInt) or (
            isinstance(dist, QUniform) and all(float(x).is_integer() for x in (dist.q, dist.low, dist.high))
        ):
            out[name] = int(float(text))
        else:
            out[name] = float(text)
    return out


def trial_params(spec: Any, raw: dict[str, str], root: Path) -> dict[str, Any]:
    """The trial's parameters from its command line, with the grid's table of the code folder `root` (compile wrote
    it from the spec as the user wrote it: spec.json's keys are sorted, so the grid's order is the table's)."""
    from ..tuning.flat import GRID_FILE, GRID_PARAM, DecodeError

    table, grid = root / GRID_FILE, None
    if GRID_PARAM in raw and table.is_file():
        try:
            grid = json.loads(table.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise DecodeError(f"{GRID_PARAM} {raw[GRID_PARAM]}: the grid's table {table} is not JSON ({exc})") from None
    return typed_params(spec, raw, grid, f"the grid's table {table}")


def main(argv: Optional[list[str]] = None) -> int:
    from ..spec.models import DATA_ROLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--output", required=True)
    for role in DATA_ROLES:
        parser.add_argument(f"--data-{role}")
    parser.add_argument("--param", action="append", default=[], help="name=value (repeatable)")
    parser.add_argument("--input", action="append", default=[], help="checkpoint_<i>=folder: a mounted checkpoint (repeatable)")
    parser.add_argument("--checkpoints", help="compute.spot: the trial's checkpoints output (kept when a node is preempted)")
    args = parser.parse_args(argv)
    if args.checkpoints:
        from ..checkpoints import ENV_CHECKPOINT_DIR, say_restart

        os.environ[ENV_CHECKPOINT_DIR] = args.checkpoints
        say_restart(Path(args.checkpoints), autogluon=True)

    from ..reporting import POSITIVE_CLASS, positive_class_line, report
    from ..spec import JobSpec
    from .autogluon_trial import run_trial
    from .sagemaker_entry import spec_data

    # spec.json keeps `${NAME}` references; the job's environment_variables hold the values
    data, used = spec_data(Path(args.spec), os.environ)
    for role in DATA_ROLES:
        value = getattr(args, f"data_{role}")
        if value:
            data.setdefault("data", {})[role] = value
    from .trial_inputs import spec_with_checkpoints, with_checkpoints

    mounted = {name: Path(folder) for name, folder in (i.split("=", 1) for i in args.input)}
    data = spec_with_checkpoints(data, mounted.get, Path(args.spec).resolve().parent)
    spec = JobSpec.from_dict(data, source="azureml")
    spec._interpolated = used
    raw = dict(p.split("=", 1) for p in args.param)
    params = trial_params(spec, raw, Path(args.spec).resolve().parent)
    name = spec.objective.name
    print(f"[cloudauto] trial parameters: {json.dumps(params)}", flush=True)
    from .sagemaker_entry import default_time_limit

    result = run_trial(
        spec,
        with_checkpoints(params, mounted.get, Path(args.spec).resolve().parent),
        Path(args.output),
        lambda value: report(**{name: value}).should_stop,
        default_time_limit=default_time_limit(spec),
    )
    if result.objective is not None:
        report(**{name: result.objective})
    for key, value in result.metrics.items():
        if isinstance(value, (int, float)):
            report(**{key: value})
        elif key == POSITIVE_CLASS:  # text: in the trial's log, where the handle reads it back
            print(positive_class_line(value), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
