"""The trial entry point in SageMaker's training-container contract.

SageMaker (and the local backend's docker mode) runs it with the hyperparameters in
`/opt/ml/input/config/hyperparameters.json` (every value a string), one folder per data
channel (`SM_CHANNEL_<NAME>`, or `/opt/ml/input/data/<name>`), and the model folder
`SM_MODEL_DIR` (`/opt/ml/model`), which SageMaker tars up for the inference container.
The tuned values are decoded with the `cloudauto_space` table the compiler wrote, the trial
runs through the same runtime as everywhere else, and every report is a
`[cloudauto-metric]` line that the tuning job's metric definition matches. A failure is
written to `/opt/ml/output/failure`, where SageMaker shows it as the job's reason.

    python -m cloudauto.runtime.sagemaker_entry [--spec spec.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

SUBSPACE_PARAM = "cloudauto_subspace"
SPACE_PARAM = "cloudauto_space"


def wire(value: Any) -> str:
    """How a value travels as a SageMaker hyperparameter (the compiler writes, decode reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def encode(params: Mapping[str, Any]) -> dict[str, str]:
    """Known values as SageMaker would hand them over (strings plus the decoding table): the local docker mode."""
    kinds = {bool: "bool", int: "int", float: "float", str: "str"}
    types = {name: kinds.get(type(value), "json") for name, value in params.items()}
    table = {"subspaces": [{name: name for name in params}], "params": {name: {"type": t} for name, t in types.items()}}
    values = {name: json.dumps(v) if types[name] == "json" else wire(v) for name, v in params.items()}
    return {**values, SPACE_PARAM: json.dumps(table, separators=(",", ":"))}


def _typed(raw: str, kind: str) -> Any:
    if kind == "int":
        return int(float(raw))
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.lower() in ("true", "1", "yes")
    if kind == "json":
        return json.loads(raw)
    return raw


def decode(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """The trial's parameters, with their types and exact values, from SageMaker's strings."""
    from ..tuning.samplers import quantize

    table = json.loads(hyperparameters[SPACE_PARAM])
    index = int(hyperparameters.get(SUBSPACE_PARAM, "0"))
    params: dict[str, Any] = {}
    for name, key in table["subspaces"][index].items():
        raw = hyperparameters[key]
        rule = table["params"].get(key, {"type": "float"})
        kind = rule["type"]
        if kind == "choice":
            params[name] = next(v for v in rule["values"] if wire(v) == raw)
        elif kind == "quniform":
            params[name] = quantize(int(float(raw)) * rule["q"], rule["q"], rule["low"], rule["high"])
        elif kind == "qloguniform":
            params[name] = quantize(float(raw), rule["q"], rule["low"], rule["high"])
        else:
            params[name] = _typed(raw, kind)
    return params


def _channel(name: str, env: Mapping[str, str]) -> Optional[Path]:
    folder = env.get(f"SM_CHANNEL_{name.upper()}") or str(Path(env.get("SM_INPUT_DIR", "/opt/ml/input")) / "data" / name)
    path = Path(folder)
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return files[0] if len(files) == 1 else path


def _run_command(spec: Any, params: dict[str, Any], root: Path, env: Mapping[str, str]) -> int:
    """engine: command: the user's command, filled and run without a shell, from the code folder.

    The tarball's root is on PYTHONPATH so the script's `import cloudauto` finds the reporting
    module shipped beside it; its stdout is SageMaker's log, where the metric regex reads.
    """
    import subprocess

    from ..command import command_argv

    child_env = {**env, **spec.command.env}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    code = root / "code"
    argv = command_argv(spec.command.run, params)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # "python" is the image's Python, the one running this entry
    done = subprocess.run(argv, cwd=code if code.is_dir() else root, env=child_env)
    if done.returncode != 0:
        raise RuntimeError(f"the command exited with status {done.returncode}")
    return 0


def default_time_limit(spec: Any) -> Optional[float]:
    """Without a `time_limit` parameter, AutoGluon fits within 80 % of trial_timeout, as locally,
    instead of being killed at the limit with no model saved."""
    return 0.8 * spec.limits.trial_timeout if spec.limits.trial_timeout else None


def main(argv: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(Path(__file__).resolve().parents[2] / "spec.json"))
    args, _ = parser.parse_known_args(argv)  # SageMaker also passes the hyperparameters as --name value
    output = Path(env.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    try:
        from ..reporting import report
        from ..spec import JobSpec
        from .autogluon_trial import run_trial

        config = Path(env.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / "hyperparameters.json"
        hyperparameters = json.loads(env["SM_HPS"]) if "SM_HPS" in env else json.loads(config.read_text())
        hyperparameters = {k: str(v) for k, v in hyperparameters.items()}
        spec_path = Path(env.get("CLOUDAUTO_SPEC", args.spec)).resolve()
        data = json.loads(spec_path.read_text())
        for role in ("train", "validation", "test"):
            found = _channel(role, env)
            if found is not None:
                data.setdefault("data", {})[role] = str(found)
            elif role != "train":
                data.get("data", {}).pop(role, None)
        spec = JobSpec.from_dict(data, source="sagemaker")
        params = decode(hyperparameters)
        print(f"[cloudauto] trial parameters: {json.dumps(params)}", flush=True)
        if spec.command is not None:
            return _run_command(spec, params, spec_path.parent, env)
        name = spec.objective.name
        result = run_trial(
            spec,
            params,
            Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            lambda value: report(**{name: value}).should_stop,
            default_time_limit=default_time_limit(spec),
        )
        if result.objective is not None:
            report(**{name: result.objective})  # the last line is the trial's objective for the tuner
        for key, value in result.metrics.items():
            print(f"[cloudauto] {key}: {value}", flush=True)
        return 0
    except Exception as exc:
        traceback.print_exc()
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text(f"{type(exc).__name__}: {exc}"[:1024])
        return 1


if __name__ == "__main__":
    sys.exit(main())
