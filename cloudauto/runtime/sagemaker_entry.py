"""The trial entry point in SageMaker's training-container contract.

SageMaker's training toolkit (`sagemaker-training`, the launcher of the PyTorch training DLC
on which the AutoGluon DLC is built) starts this script with the hyperparameters decoded:
it runs `json.loads` on every value of `/opt/ml/input/config/hyperparameters.json`
(keeping the raw string where that fails) and exports the result as `SM_HPS`. The compiler
therefore writes every static value as JSON, as the SageMaker Python SDK does, and every
categorical value as JSON too (the SDK's `as_json_range`); tuned numbers arrive as plain
number strings. `decode` restores each parameter exactly with the `cloudauto_space` table,
whatever typing the toolkit applied. Run bare (no toolkit: no `SM_HPS`), the script decodes
`hyperparameters.json` the same way itself.

Data comes from the channels (`SM_CHANNEL_<NAME>`, or `/opt/ml/input/data/<name>`), the
model goes to `SM_MODEL_DIR`, every report is a `[cloudauto-metric]` line that the tuning
job's metric definition matches, and a failure is written to `/opt/ml/output/failure`,
where SageMaker shows it as the job's reason.

    python cloudauto_entry.py [--cloudauto-spec spec.json]
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

from ..tuning.flat import GRID_PARAM, SUBSPACE_PARAM, DecodeError, check_point, grid_point, number_of

SPACE_PARAM = "cloudauto_space"


def wire(value: Any) -> str:
    """A number as a SageMaker range bound (MinValue / MaxValue)."""
    return repr(value) if isinstance(value, float) else str(value)


def as_json(value: Any) -> str:
    """A static or categorical value as the SageMaker SDK writes it: JSON, so the toolkit's json.loads gives it back."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def toolkit_decoded(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the toolkit makes of hyperparameters.json: json.loads of each string, the string where that fails."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def encode(params: Mapping[str, Any]) -> dict[str, str]:
    """Known values as hyperparameters.json holds them for a training job (static JSON plus the table): docker mode."""
    table = {"subspaces": [{name: name for name in params}], "params": {name: {"type": "fixed"} for name in params}}
    return {**{name: as_json(v) for name, v in params.items()}, SPACE_PARAM: as_json(table)}


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # 1, 1.0 and True stay apart; "1" and 1 too


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DecodeError(f"hyperparameter {key}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise DecodeError(f"hyperparameter {key}: expected a number, got {value!r}") from None


def decode(hyperparameters: Mapping[str, Any], spec: Any = None) -> dict[str, Any]:
    """The trial's parameters, with their types and exact values, from the toolkit's decoded hyperparameters; with
    the trial's `spec`, a grid point is checked to be one of its grid's."""
    from ..tuning.samplers import quantize

    table = hyperparameters.get(SPACE_PARAM)
    if isinstance(table, str):  # run bare, or a table some other tool wrote as a string
        try:
            table = json.loads(table)
        except ValueError:
            pass
    if not isinstance(table, dict) or not ("subspaces" in table or "grid" in table):
        raise DecodeError(f"hyperparameter {SPACE_PARAM} is missing or not cloudauto's decoding table: {table!r:.200}")
    if "grid" in table:  # grid sampling over sub-spaces: the trial is one of the local grid's numbered points
        if GRID_PARAM not in hyperparameters:
            raise DecodeError(f"hyperparameter {GRID_PARAM} is missing (the grid's table needs it)")
        where, raw = f"hyperparameter {SPACE_PARAM}'s grid", hyperparameters[GRID_PARAM]
        point = grid_point(table["grid"], raw, where)
        return point if spec is None else check_point(spec, point, where, raw)
    subspaces = table["subspaces"] if isinstance(table["subspaces"], list) else []
    what = f"hyperparameter {SUBSPACE_PARAM} (one of the {len(subspaces)} sub-spaces)"
    index = number_of(hyperparameters.get(SUBSPACE_PARAM, 0), len(subspaces), what)
    params: dict[str, Any] = {}
    for name, key in table["subspaces"][index].items():
        if key not in hyperparameters:
            raise DecodeError(f"hyperparameter {key} is missing (sub-space {index} needs it)")
        value = hyperparameters[key]
        rule = table["params"].get(key, {"type": "float"})
        kind = rule["type"]
        if kind == "fixed":
            params[name] = value
        elif kind == "choice":
            found = [v for v in rule["values"] if _key(v) == _key(value)]
            if not found:
                raise DecodeError(f"hyperparameter {key}: {value!r} is none of its choices {rule['values']}")
            params[name] = found[0]
        elif kind == "quniform":
            params[name] = quantize(int(_number(key, value)) * rule["q"], rule["q"], rule["low"], rule["high"])
        elif kind == "qloguniform":
            params[name] = quantize(_number(key, value), rule["q"], rule["low"], rule["high"])
        elif kind == "int":
            params[name] = int(_number(key, value))
        else:
            params[name] = _number(key, value)
    return params


def hyperparameters_of(env: Mapping[str, str]) -> dict[str, Any]:
    """The toolkit's SM_HPS when it launched us, else hyperparameters.json decoded as the toolkit would."""
    if "SM_HPS" in env:
        return json.loads(env["SM_HPS"])
    config = Path(env.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / "hyperparameters.json"
    return toolkit_decoded(json.loads(config.read_text()))


def channel_folder(name: str, env: Mapping[str, str]) -> Optional[Path]:
    folder = env.get(f"SM_CHANNEL_{name.upper()}") or str(Path(env.get("SM_INPUT_DIR", "/opt/ml/input")) / "data" / name)
    path = Path(folder)
    return path if path.is_dir() else None


def _channel(name: str, env: Mapping[str, str], written: Optional[str] = None) -> Optional[Path]:
    """A role's data in its channel: the file the spec named (an image table arrives with its folder),
    else the channel's only file, else the folder (an image folder)."""
    path = channel_folder(name, env)
    if path is None:
        return None
    if written and (path / Path(written).name).is_file():
        return path / Path(written).name
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


def spec_data(spec_path: Path, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(spec.json's data, the `${NAME}` values it took from `env`).

    A bundle written with references (references.json beside spec.json: every bundle cloudauto
    writes) keeps each `${NAME}`; its value comes from this container's environment (docker `-e`,
    SageMaker's `Environment`, Azure's `environment_variables`). A variable the
    spec needs and the environment lacks is an error naming it.
    """
    from ..secrets import remember
    from ..spec.loader import resolve_references
    from .bundle import REFERENCES

    data = json.loads(spec_path.read_text())
    if not (spec_path.parent / REFERENCES).is_file():
        return data, {}
    data, used, _, missing = resolve_references(data, env)
    if missing:
        raise RuntimeError(
            f"the spec reads ${{{missing[0]}}} and the trial's environment lacks {', '.join(missing)}; "
            "the code bundle keeps the reference, never the value"
        )
    masked = [name for name, value in used.items() if value == f"<secret:{name}>"]
    if masked:  # a file from `compile -o` submitted as it is: it shows credentials, never holds them
        raise RuntimeError(
            f"the trial's environment holds <secret:{masked[0]}> for ${{{masked[0]}}}: `compile -o` writes a credential "
            "masked; set its value in the job's environment (or submit with cloudauto, which does)"
        )
    remember(used)  # hidden wherever this process prints or writes them
    return data, used


def main(argv: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    # the toolkit also passes every hyperparameter as --name value: one option of our own, never abbreviated
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--cloudauto-spec", dest="spec", default=str(Path(__file__).resolve().parents[2] / "spec.json"))
    args, _ = parser.parse_known_args(argv)
    output = Path(env.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    try:
        from ..reporting import POSITIVE_CLASS, positive_class_line, report
        from ..spec import JobSpec
        from .autogluon_trial import run_trial
        from .trial_inputs import spec_with_checkpoints, with_checkpoints

        hyperparameters = hyperparameters_of(env)
        spec_path = Path(env.get("CLOUDAUTO_SPEC", args.spec)).resolve()
        data, used = spec_data(spec_path, env)
        from ..spec.models import DATA_ROLES

        for role in DATA_ROLES:
            found = _channel(role, env, data.get("data", {}).get(role))
            if found is not None:
                data.setdefault("data", {})[role] = str(found)
            elif role != "train":
                data.get("data", {}).pop(role, None)
        data = spec_with_checkpoints(data, lambda channel: channel_folder(channel, env), spec_path.parent)
        spec = JobSpec.from_dict(data, source="sagemaker")
        spec._interpolated = used
        params = decode(hyperparameters, spec)
        print(f"[cloudauto] trial parameters: {json.dumps(params)}", flush=True)
        from ..checkpoints import ENV_CHECKPOINT_DIR, sagemaker_folder, say_restart

        checkpoints = sagemaker_folder(env)  # synced with S3 by the CheckpointConfig of compute.spot
        say_restart(checkpoints, autogluon=spec.command is None)
        if spec.command is not None:
            return _run_command(spec, params, spec_path.parent, {**env, ENV_CHECKPOINT_DIR: str(checkpoints)})
        name = spec.objective.name
        result = run_trial(
            spec,
            with_checkpoints(params, lambda channel: channel_folder(channel, env), spec_path.parent),
            Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            lambda value: report(**{name: value}).should_stop,
            default_time_limit=default_time_limit(spec),
        )
        if result.objective is not None:
            report(**{name: result.objective})  # the last line is the trial's objective for the tuner
        for key, value in result.metrics.items():  # the positive class as JSON: a label value may be any text
            print(positive_class_line(value) if key == POSITIVE_CLASS else f"[cloudauto] {key}: {value}", flush=True)
        extra = {k: v for k, v in result.metrics.items() if k.startswith(("val_", "test_")) and isinstance(v, (int, float))}
        if extra:  # val_/test_ of the spec's metrics, as lines its metric definitions match
            report(**extra)
        return 0
    except Exception as exc:
        from ..secrets import Redactor

        hide = Redactor()  # this environment's secrets and every ${NAME} value read: the failure file is kept
        sys.stderr.write(hide(traceback.format_exc()))
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text(hide(f"{type(exc).__name__}: {exc}")[:1024])
        return 1


if __name__ == "__main__":
    sys.exit(main())
