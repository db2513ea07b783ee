"""Foundation models (Chronos-2, Chronos-Bolt, Toto, Mitra, TabICL, TabPFN ...): pretrained weights the user controls.

Each family reads its weights from one hyperparameter AutoGluon names (`Chronos2.model_path`,
`MITRA.hf_model`): a hub name, a local folder or an s3:// folder. A local folder travels as a
trial input on the clouds and in docker mode, as image/text checkpoints do (trial_inputs.py).
Offline is the default here: a foundation model whose weights are no folder would spend every
trial's time limit retrying the hub, so the local backend refuses it at compile unless
CLOUDAUTO_ALLOW_HUB=1. SageMaker and Azure ML containers reach the hub. After a fit, the
weights a time-series model read are copied into the saved predictor (`embed_weights`), so an
endpoint or a batch job loads it with the folder gone. Standard library only at import time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..spec.errors import SpecIssue
from ..spec.metrics import Task

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

ALLOW_HUB = "CLOUDAUTO_ALLOW_HUB"

# family -> the hyperparameter AutoGluon 1.6.3 reads its weights from (None: the family takes no folder)
TIMESERIES_WEIGHTS = {"Chronos": "model_path", "Chronos2": "model_path", "Chronos-2": "model_path", "Toto": "model_path", "Toto2": "model_path"}
TABULAR_WEIGHTS: dict[str, Optional[str]] = {
    "MITRA": "hf_model",  # MitraModel: a local folder (Tab2D.save_pretrained) or a hub name
    "TABPFNMIX": "model_path",  # TabPFNMixModel: FoundationTransformer.from_pretrained
    "TABICL": "model_path",  # TabICLClassifier / TabICLRegressor: a checkpoint file, named here by its folder (WEIGHTS_FILE)
    "TABPFN-2.6": None,
    "TABPFN-3": None,
    "REALTABPFN-V2": None,
    "REALTABPFN-V2.5": None,
    "TABDPT": "model_weight_path",  # TabDPTClassifier / TabDPTRegressor: a .safetensors file, named by its folder
    "TABDPT-TURBO": None,
}
# settings a family also reads its weights from, ahead of the one above (MitraModel._resolve_hf_model: the task's own,
# then hf_general_model, then hf_model); a task's own setting is read on that task only (TASK_WEIGHTS)
MORE_WEIGHTS = {"MITRA": ("hf_cls_model", "hf_reg_model", "hf_general_model")}
TASK_WEIGHTS = {"hf_cls_model": "tabular_classification", "hf_reg_model": "tabular_regression"}
# a setting AutoGluon overwrites whatever it says (a folder there would travel and never be read), and the family
# that reads it
IGNORED_WEIGHTS = {"TABDPT-TURBO": ("model_weight_path", "TABDPT")}
# families whose weights hyperparameter names a file, not a folder: the spec names the folder that holds it (the folder
# travels as every weights folder does) and the trial hands AutoGluon the file in it (`weights_file`); a hub name is no
# file, so it is refused (AutoGluon's default, model_path left out, downloads on the clouds)
WEIGHTS_FILE = {"TABICL": "*.ckpt", "TABDPT": "*.safetensors"}
# the packages a tabular family imports in its fit, and the extra that installs them; FOUNDATION_EXTRA: those the
# local backend's `foundation` extra installs (pinned in constraints.txt)
TABULAR_PACKAGES = {
    "MITRA": (("loguru", "einx"), "autogluon.tabular[mitra]"),
    "TABICL": (("tabicl",), "autogluon.tabular[tabicl]"),
    "TABPFN-2.6": (("tabpfn",), "autogluon.tabular[tabpfn]"),
    "TABPFN-3": (("tabpfn",), "autogluon.tabular[tabpfn]"),
    "REALTABPFN-V2": (("tabpfn",), "autogluon.tabular[tabpfn]"),
    "REALTABPFN-V2.5": (("tabpfn",), "autogluon.tabular[tabpfn]"),
    "TABDPT": (("tabdpt",), "autogluon.tabular[tabdpt]"),
    "TABDPT-TURBO": (("tabdpt",), "autogluon.tabular[tabdpt]"),
}
# why a family without a weights setting here still needs the hub (tabpfn 8.2.0 loads a local file without any
# network call, but the v2.5/v2.6/v3 downloads are licence-gated: tabpfn's browser_auth.ensure_license_accepted)
_GATED = (
    "its weights are licence-gated on the hub (Prior Labs' licence: a download needs TABPFN_TOKEN or the Hugging Face "
    "token of an account that accepted it), and cloudauto does not carry AutoGluon's custom_model_dir folder for it yet"
)
NO_FOLDER_REASON = {
    "TABPFN-2.6": _GATED,
    "TABPFN-3": _GATED,
    "REALTABPFN-V2.5": _GATED,
    "REALTABPFN-V2": "cloudauto does not carry AutoGluon's custom_model_dir folder for it yet",
    "TABDPT-TURBO": "AutoGluon's TabDPT-Turbo always fetches its pinned checkpoint (tabdpt1_2.safetensors), whatever model_weight_path says",
}
FOUNDATION_EXTRA = frozenset({"MITRA", "TABICL", "TABDPT"})
FOUNDATION_FAMILIES = frozenset({*TIMESERIES_WEIGHTS, *TABULAR_WEIGHTS})
# the memory a serving container needs for a family's default weights, an estimate (not measured here): the fp32
# weights (Chronos-2 120M parameters, Chronos-Bolt small 48M, Toto 151M, Toto2 up to 313M) beside torch and
# AutoGluon (about 2 GB); the tabular ones keep their training table in context (MitraModel's own estimate, 5 GB)
SERVING_MEMORY_MB = {"Chronos": 3072, "Chronos2": 4096, "Chronos-2": 4096, "Toto": 4096, "Toto2": 4096}
SERVING_MEMORY_DEFAULT_MB = 6144


def weights_parameter(family: str) -> Optional[str]:
    """`<family>.<name>` that holds the family's weights (None when it is no foundation family or takes no folder)."""
    return TIMESERIES_WEIGHTS.get(family) or TABULAR_WEIGHTS.get(family)


def weights_parameters(family: str, task: Optional[Task] = None) -> tuple[str, ...]:
    """Every setting the family's weights come from, the one AutoGluon prefers first; with `task`, those it reads on
    that task (Mitra's hf_reg_model is not read on a classification task)."""
    main = weights_parameter(family)
    found = (*MORE_WEIGHTS.get(family, ()), main) if main else ()
    return tuple(p for p in found if task is None or TASK_WEIGHTS.get(p, task.value) == task.value)


def is_weights_parameter(name: str) -> bool:
    """Whether a sweep parameter name is a foundation family's weights (`Chronos2.model_path`, `MITRA.hf_model`,
    `MITRA.hf_cls_model`)."""
    fam, _, hp = name.partition(".")
    return bool(hp) and hp in weights_parameters(_canonical(fam))


def weights_setting_issues(spec: JobSpec, backend: str) -> list[SpecIssue]:
    """Weights settings AutoGluon would not read: Mitra's setting of the other task (hf_cls_model on a regression
    spec), TabDPT-Turbo's model_weight_path (overwritten). Every trial would fit the hub's default instead."""
    found = []
    block = [(key, path, path[-1]) for key, path, _ in block_weights(spec)]
    block += [
        ("TABDPT-TURBO", ("autogluon", "hyperparameters", key, *((i,) if isinstance(configs, list) else ()), "model_weight_path"), "model_weight_path")
        for key, configs in ((spec.autogluon.hyperparameters or {}) if spec.autogluon else {}).items()
        if _canonical(key) in IGNORED_WEIGHTS
        for i, config in enumerate(configs if isinstance(configs, list) else [configs])
        if isinstance(config, dict) and IGNORED_WEIGHTS[_canonical(key)][0] in config
    ]
    space = [
        (name.partition(".")[0], ("sweep", "space", *((index,) if spec.space.is_conditional else ()), name), name.partition(".")[2])
        for index, name, _ in spec.space.distributions()
    ]
    for key, path, param in block + space:
        fam = _canonical(str(key))
        if param in TASK_WEIGHTS and param in weights_parameters(fam) and param not in weights_parameters(fam, spec.task):
            right = [p for p in weights_parameters(fam, spec.task) if p in TASK_WEIGHTS]
            reads = f"{right[0]} (else hf_general_model, hf_model)" if right else "hf_general_model or hf_model"
            found.append(
                SpecIssue(
                    f"{backend}: {fam}.{param}: AutoGluon reads {param} on a {TASK_WEIGHTS[param]} task only; on a "
                    f"{spec.task.value} spec it reads {reads}, so every trial would fit the hub's default weights: "
                    f"write {right[0] if right else 'hf_model'} instead",
                    path,
                )
            )
        elif fam in IGNORED_WEIGHTS and IGNORED_WEIGHTS[fam][0] == param:
            other = IGNORED_WEIGHTS[fam][1]
            found.append(
                SpecIssue(
                    f"{backend}: {fam}.{param}: {NO_FOLDER_REASON[fam]}, so the value would never be read; leave it out "
                    f"(the trial downloads that checkpoint), or fit {other} with `{other}.{weights_parameter(other)}` "
                    "for weights of your own",
                    path,
                )
            )
    return found


# the task Mitra's Tab2D folder records in config.json (Tab2D.save_pretrained), what each tabular task needs
MITRA_TASKS = {Task.TABULAR_CLASSIFICATION: ("CLASSIFICATION", "classifier"), Task.TABULAR_REGRESSION: ("REGRESSION", "regressor")}


def weights_family(path: tuple) -> Optional[str]:
    """The family whose weights a spec path gives: `sweep.space[.i].MITRA.hf_model` or
    `autogluon.hyperparameters.MITRA[.i].hf_model` (None for other paths)."""
    if path[:2] == ("autogluon", "hyperparameters") and len(path) > 3:
        return _canonical(str(path[2]))
    name = str(path[-1]) if path else ""
    return _canonical(name.partition(".")[0]) if is_weights_parameter(name) else None


# what make_data.py's tiny folders are called, by family and kind (the messages name the one to use)
TINY_FOLDERS = {
    "MITRA": ("mitra-tiny", "mitra-tiny-regressor"),
    "TABICL": ("tabicl-tiny", "tabicl-tiny-regressor"),
    "TABDPT": ("tabdpt-tiny", "tabdpt-tiny"),  # one TabDPT checkpoint serves both tasks
}


# make_data.py's tiny folders of the other families it makes
MADE_FOLDERS = {"Chronos2": "chronos2-tiny", "Chronos-2": "chronos2-tiny", "Chronos": "chronos-bolt-tiny", "TABPFNMIX": "tabpfnmix-tiny"}


def made_path(fam: str, task: Task, base_dir: Optional[str]) -> str:
    """The folder `python job_specs/make_data.py foundation` writes for the family (`<folder>` there for one it makes
    none of), as a spec in `base_dir` names it (its full path outside that folder). make_data writes to its --out
    default, job_specs/data beside the script, in the layout <out>/checkpoints/<folder>."""
    script = Path(__file__).resolve().parents[2] / "job_specs" / "make_data.py"  # a checkout; installed: from here
    out = (script.parent if script.is_file() else Path.cwd() / "job_specs") / "data"
    name = TINY_FOLDERS[fam][task is Task.TABULAR_REGRESSION] if fam in TINY_FOLDERS else MADE_FOLDERS.get(fam, "<folder>")
    folder = out / "checkpoints" / name
    if base_dir:
        try:
            return f"./{folder.relative_to(Path(base_dir).resolve()).as_posix()}"
        except ValueError:
            pass
    return str(folder)


CONFIG_BYTES = 4 << 20  # a model's config.json is a few KB: one larger is no model's config (and is not read whole)


def _json_file(path: Path, limit: int = CONFIG_BYTES, skip: int = 0, exact: bool = False) -> Any:
    """The JSON a weights file holds (the whole file after `skip`, at most `limit` bytes; with `exact`, the `limit`
    bytes after `skip`, as a .safetensors header whose length the file gives), None when it is no such JSON: not a
    regular file (a named pipe would hang the read, a device never end), larger than `limit` (or shorter, `exact`),
    not JSON, or nested deeper than Python's parser goes (a RecursionError, never an internal error)."""
    from .weights_bytes import read_json

    return read_json(path, limit, skip, exact)[0]


def _safetensors_metadata(path: Path) -> dict[str, Any]:
    """The `__metadata__` of a .safetensors file's header (its first 8 bytes give the JSON header's length); {} when
    the file is no safetensors file. TabDPT's checkpoint keeps its network's config there (`cfg`)."""
    from .weights_bytes import safetensors_header

    header = safetensors_header(path)[0]
    meta = header.get("__metadata__") if header is not None else None
    return meta if isinstance(meta, dict) else {}


def _checkpoint_files(fam: str, folder: Path) -> list[Path]:
    """A WEIGHTS_FILE family's checkpoint files in a folder: files (not folders named so); TabDPT's only where the
    file's metadata holds TabDPT's config (a Mitra or Chronos model.safetensors does not)."""
    files = [f for f in sorted(folder.glob(WEIGHTS_FILE[fam])) if f.is_file()]
    if fam == "TABDPT":
        files = [f for f in files if "cfg" in _safetensors_metadata(f)]
    return files


def weights_file(fam: str, folder: Path, regression: bool) -> Optional[Path]:
    """The checkpoint file of a WEIGHTS_FILE family in its folder: one whose name says the task's kind
    (`tabicl-regressor-*.ckpt`), else one whose name does not say the other kind; None when there is none.
    TabDPT's one file serves both tasks."""
    files = _checkpoint_files(fam, folder)
    if fam == "TABDPT":
        return files[0] if files else None
    want, other = ("regressor", "classifier") if regression else ("classifier", "regressor")
    for group in ([f for f in files if want in f.name.lower()], [f for f in files if other not in f.name.lower()]):
        if group:
            return group[0]
    return None


# what each family reads from its weights folder, as the messages say it
LAYOUTS = {
    "MITRA": "a folder holding config.json and model.safetensors (Tab2D.save_pretrained)",
    "TABICL": "a checkpoint file (*.ckpt) per task, tabicl-classifier-*.ckpt or tabicl-regressor-*.ckpt",
    "TABDPT": "one .safetensors file whose metadata holds TabDPT's config (cfg), for both tasks",
    "Chronos": "a folder holding config.json with its chronos_config (a Chronos or Chronos-Bolt model)",
    "Chronos2": "a folder holding config.json with its chronos_config and chronos_pipeline_class Chronos2Pipeline",
}
LAYOUTS["Chronos-2"] = LAYOUTS["Chronos2"]


def task_problem(fam: str, task: Task, value: str, folder: Path) -> Optional[str]:
    """Why a family's weights folder does not fit: it is not laid out as the family's weights are (another family's
    folder, a folder named like a checkpoint file), or its weights are for the other task (a classifier's on a
    regression spec would fit, and each trial then fail on its output count). None when it fits, or when a family or
    folder says nothing to judge by."""
    from .trial_inputs import shown

    wrong = _layout_problem(fam, folder)
    if wrong:
        return f"checkpoint {shown(value)}: {wrong}; {fam} reads {LAYOUTS[fam]}: name such a folder{_made_hint(fam, task)}"
    broken = _bytes_problem(fam, task, folder)
    if broken:
        return (
            f"checkpoint {shown(value)}: {broken}; every trial would fail loading it: download the weights again or name "
            f"another folder{_made_hint(fam, task)}"
        )
    if fam == "MITRA":
        return _mitra_task_problem(task, value, folder)
    if fam not in WEIGHTS_FILE or task not in MITRA_TASKS or fam == "TABDPT":
        return None
    regression = task is Task.TABULAR_REGRESSION
    if weights_file(fam, folder, regression) is not None:
        return None
    kind = MITRA_TASKS[task][1]
    files = [p.name for p in _checkpoint_files(fam, folder)]
    return (
        f"checkpoint {shown(value)}: the folder holds only {', '.join(files)} (not a {kind}'s, by its name); a {task.value} spec "
        f"needs a {kind}'s checkpoint: name a folder holding one{_made_hint(fam, task)}"
    )


def _made_hint(fam: str, task: Task) -> str:
    if fam not in TINY_FOLDERS:
        return ""
    return f" (python job_specs/make_data.py foundation makes {TINY_FOLDERS[fam][task is Task.TABULAR_REGRESSION]})"


def _config(folder: Path) -> Optional[dict[str, Any]]:
    """The folder's config.json (at its top, else in a Hugging Face cache's snapshots/<rev>/), None when there is none
    or it is no JSON object."""
    for path in [folder / "config.json", *sorted(folder.glob("snapshots/*/config.json"))]:
        held = _json_file(path)
        if held is None:
            continue
        return held if isinstance(held, dict) else None
    return None


def _holds(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") if names else "nothing"


def _model_top(folder: Path) -> Path:
    """The folder whose files a model loads: the folder itself, or a Hugging Face cache's snapshots/<rev>/ (as _config)."""
    tops = [folder, *sorted(p.parent for p in folder.glob("snapshots/*/config.json"))]
    return next((top for top in tops if (top / "config.json").exists()), folder)


def _files_read(fam: str, task: Task, folder: Path) -> list[Path]:
    """The files of a weights folder whose bytes a family's load reads: a WEIGHTS_FILE family's checkpoint for the
    task; else the model's config.json, its safetensors files and shard indexes, and pytorch_model*.bin."""
    if fam in WEIGHTS_FILE:
        found = weights_file(fam, folder, task is Task.TABULAR_REGRESSION)
        return [found] if found is not None else []
    top = _model_top(folder)
    patterns = ("config.json", "*.safetensors", "*.index.json", "pytorch_model*.bin")
    return [p for pattern in patterns for p in sorted(top.glob(pattern)) if not p.is_dir()]


def _bytes_problem(fam: str, task: Task, folder: Path) -> Optional[str]:
    """Which weights file holds wrong bytes and what is wrong with it (weights_bytes), or None: cheap checks of the
    files the family reads, never the whole of a large file."""
    from .weights_bytes import index_problem, json_object_problem, safetensors_problem, torch_problem

    if weights_parameter(fam) is None:
        return None
    for path in _files_read(fam, task, folder):
        name = path.name
        if name.endswith(".safetensors"):
            wrong = safetensors_problem(path)
        elif name.endswith(".index.json"):
            wrong = index_problem(path, CONFIG_BYTES)
        elif name == "config.json":
            wrong = json_object_problem(path, CONFIG_BYTES)
        else:  # a .ckpt, pytorch_model*.bin: torch.save's
            wrong = torch_problem(path)
        if wrong:
            return f"{path.relative_to(folder)} {wrong}"
    return None


def _unread_safetensors(folder: Path) -> str:
    """For a folder with no TabDPT checkpoint: why its first .safetensors file is no safetensors file ('' if none is)."""
    from .weights_bytes import safetensors_header

    for path in sorted(folder.glob("*.safetensors")):
        wrong = safetensors_header(path)[1]
        if wrong and not path.is_dir():
            return f"; {path.name} {wrong}"
    return ""


def _unread_config(folder: Path) -> str:
    """For a folder with no readable config: why its config.json is no JSON object ('' when there is none)."""
    from .weights_bytes import json_object_problem

    path = _model_top(folder) / "config.json"
    if not (path.exists() or path.is_symlink()):
        return ""
    wrong = json_object_problem(path, CONFIG_BYTES)
    return f"; its config.json {wrong}" if wrong else ""


def _layout_problem(fam: str, folder: Path) -> Optional[str]:
    """Why a folder is not laid out as `fam`'s weights are (LAYOUTS), or None."""
    if fam in WEIGHTS_FILE:
        if _checkpoint_files(fam, folder):
            return None
        named = [p.name for p in folder.glob(WEIGHTS_FILE[fam]) if p.is_dir()]
        if named:
            return f"{named[0]} in it is a folder, not a checkpoint file"
        unread = _unread_safetensors(folder) if fam == "TABDPT" else ""
        return f"the folder holds no {fam} checkpoint (it holds {_holds(folder)}){unread}"
    if fam not in LAYOUTS:
        return None
    config = _config(folder)
    chronos = config is not None and ("chronos_config" in config or "chronos_pipeline_class" in config)
    pipeline = str((config or {}).get("chronos_pipeline_class", ""))
    if fam == "MITRA":
        if config is None or not any(folder.glob("*.safetensors")):
            unread = (
                "; its config.json is not a regular file of at most 4 MB holding a JSON object"
                if config is None and (folder / "config.json").exists()
                else ""
            )
            return f"the folder holds no Mitra weights (it holds {_holds(folder)}){unread}"
        if chronos:
            return f"the folder holds a Chronos model ({pipeline or 'chronos_config'} in config.json)"
        return None
    if not chronos:
        unread = _unread_config(folder)
        return f"the folder holds no Chronos config (config.json with chronos_config; it holds {_holds(folder)}){unread}"
    if fam in ("Chronos2", "Chronos-2") and pipeline and pipeline != "Chronos2Pipeline":
        return f"the folder holds a {pipeline} model (config.json), not Chronos-2's (use Chronos.model_path for it)"
    if fam == "Chronos" and pipeline == "Chronos2Pipeline":
        return "the folder holds a Chronos-2 model (config.json: Chronos2Pipeline; use Chronos2.model_path for it)"
    return None


def _mitra_task_problem(task: Task, value: str, folder: Path) -> Optional[str]:
    """Why a Mitra folder is for the other task (config.json's `task`), or None."""
    from .trial_inputs import shown

    if task not in MITRA_TASKS:
        return None
    config = _json_file(folder / "config.json")
    held = config.get("task") if isinstance(config, dict) else None
    needed, kind = MITRA_TASKS[task]
    if not isinstance(held, str) or held.upper() == needed:
        return None
    other = next(((t, k) for t, k in MITRA_TASKS.values() if t == held.upper()), None)
    holds = f"a Mitra {other[1]} (config.json: task {held})" if other else f"Mitra weights for task {held} (config.json)"
    made = TINY_FOLDERS["MITRA"][needed == "REGRESSION"]
    return (
        f"checkpoint {shown(value)}: the folder holds {holds}; a {task.value} spec needs a {kind}'s weights (task {needed}): "
        f"name a {kind}'s folder (python job_specs/make_data.py foundation makes {made})"
    )


def _canonical(name: str) -> str:
    return name if name in TIMESERIES_WEIGHTS else name.upper()


def _split(value: Any) -> list[str]:
    return [m.strip() for m in str(value).split(",") if m.strip()]


def _values(dist: Any) -> list[Any]:
    return list(dist.values) if dist.kind == "choice" else [dist.value] if dist.kind == "fixed" else []


# the foundation families each AutoGluon 1.6.3 time-series preset fits (its hyperparameter table; checked against the
# installed AutoGluon by tests/backends/test_cloud_foundation.py): without weights given, a trial leaves them out
_QUALITY = ("Chronos2", "Toto2")
PRESET_FOUNDATION: dict[str, tuple[str, ...]] = {
    **{p: _QUALITY for p in ("best_quality", "high_quality", "medium_quality", "experimental_quality")},
    **{p: _QUALITY for p in ("best", "high", "medium", "experimental", "bq", "hq", "mq", "fast_training")},
    **{p: ("Chronos2",) for p in ("chronos2", "chronos2_small", "chronos2_ensemble")},
    **{p: ("Chronos",) for p in ("bolt_tiny", "bolt_mini", "bolt_small", "bolt_base")},
}
# the presets made of foundation models alone: without weights given, a trial lets them fetch their weights from the
# hub (else it would fit nothing); offline (local) that is refused at compile
PRESET_FOUNDATION_ONLY = frozenset(
    {"experimental_quality", "experimental", "chronos2", "chronos2_small", "chronos2_ensemble"}
    | {"bolt_tiny", "bolt_mini", "bolt_small", "bolt_base"}
)


# the foundation families each AutoGluon 1.6.3 tabular preset's portfolio holds (its `hyperparameters` table; checked
# against the installed AutoGluon by tests/backends/test_cloud_foundation.py). A trial with no family settings fits the
# whole portfolio, these too; one that gives any family settings hands AutoGluon `hyperparameters`, which replace the
# portfolio (autogluon_trial.fit_arguments): it fits only the families given. The *_v140 presets pick the tabfm
# portfolio on tables up to 30000 rows (the size is not known at compile).
_EXTREME = ("TABDPT-TURBO", "TABICL")
_TABFM = ("MITRA", "REALTABPFN-V2", "TABICL")
_V150 = ("MITRA", "REALTABPFN-V2", "TABDPT", "TABICL")
TABULAR_PRESET_FOUNDATION: dict[str, tuple[str, ...]] = {
    **{p: _EXTREME for p in ("extreme_quality", "extreme", "eq", "extreme_v160")},
    **{p: ("TABDPT-TURBO", "TABICL", "TABPFN-3") for p in ("noncommercial", "noncommercial_v160")},
    **{p: _TABFM for p in ("tabarena", "extreme_quality_v140", "extreme_v140", "experimental_quality_v140")},
    **{p: _V150 for p in ("extreme_quality_v150", "extreme_v150")},
    "experimental_quality_v120": ("TABPFNMIX",),
}


def preset_families(task: Task, preset: Any) -> tuple[str, ...]:
    """The foundation families an AutoGluon preset of this task holds."""
    table = PRESET_FOUNDATION if task is Task.TIME_SERIES_FORECASTING else TABULAR_PRESET_FOUNDATION
    return table.get(str(preset), ())


def _fitted(task: Task, models: list[Any], presets: list[Any], given: list[str]) -> list[str]:
    """The foundation families a trial fits, as the trial's fit arguments decide (autogluon_trial.fit_arguments,
    autogluon_timeseries.timeseries_fit_arguments): the families `models` names; else, for a time-series preset,
    those of its families the spec gives settings (weights) for (the preset's others download weights and are left
    out); a preset of foundation models alone, with no weights given, fits them all (from the hub); a tabular preset
    with no family settings given (`given`: every family the trial gives settings for) fits its whole portfolio; else
    the families the spec gives settings for (the fit trains only those)."""
    if models:
        return list(dict.fromkeys(f for m in models for f in map(_canonical, _split(m)) if f in FOUNDATION_FAMILIES))
    if presets and task is not Task.TIME_SERIES_FORECASTING and not given:
        return list(dict.fromkeys(f for p in presets for f in TABULAR_PRESET_FOUNDATION.get(str(p), ())))
    if presets and task is Task.TIME_SERIES_FORECASTING and any(g in TIMESERIES_WEIGHTS for g in given):
        return list(dict.fromkeys(f for p in presets for f in PRESET_FOUNDATION.get(str(p), ()) if f in given))
    if presets and task is Task.TIME_SERIES_FORECASTING and any(str(p) in PRESET_FOUNDATION_ONLY for p in presets):
        only = [p for p in presets if str(p) in PRESET_FOUNDATION_ONLY]
        return list(dict.fromkeys([f for p in only for f in PRESET_FOUNDATION[str(p)]] + [g for g in given if g in FOUNDATION_FAMILIES]))
    return list(dict.fromkeys(g for g in given if g in FOUNDATION_FAMILIES))


def _block_families(spec: JobSpec) -> list[str]:
    settings = spec.autogluon
    return [_canonical(name) for name in ((settings.hyperparameters or {}) if settings else {})]


def chosen_families(spec: JobSpec) -> list[tuple[int, str, tuple]]:
    """(sub-space index, family, spec path) of each foundation family a trial of this spec can fit: named in
    `models`, reached through a preset with its weights given, or given settings (`Chronos2.model_path`) alone."""
    found = []
    block = _block_families(spec)
    for index, sub in enumerate(spec.space.subspaces):
        at = ("sweep", "space", *((index,) if spec.space.is_conditional else ()))
        key = next((k for k in ("models", "model_name") if k in sub), None)
        models = _values(sub[key]) if key else []
        presets = _values(sub["presets"]) if "presets" in sub else []
        keyed = {}
        others = []  # the other families given settings (a tabular preset's portfolio is then not fitted)
        for name in sub:
            fam, dot, _ = name.partition(".")
            if dot and _canonical(fam) in FOUNDATION_FAMILIES:
                keyed.setdefault(_canonical(fam), (*at, name))
            elif dot:
                others.append(_canonical(fam))
        for fam in _fitted(spec.task, models, presets, [*keyed, *block, *others]):
            if key and models:
                path = (*at, key)
            elif presets and any(fam in preset_families(spec.task, p) for p in presets):
                path = (*at, "presets")
            else:
                path = keyed.get(fam) or _block_path(spec, fam)
            found.append((index, fam, path))
    return found


def _block_path(spec: JobSpec, fam: str) -> tuple:
    names = (spec.autogluon.hyperparameters or {}) if spec.autogluon else {}
    return ("autogluon", "hyperparameters", next(n for n in names if _canonical(n) == fam))


def trial_families(spec: JobSpec, params: dict[str, Any]) -> list[str]:
    """The foundation families one trial (its parameters) fits: what its saved model serves."""
    chosen = params.get("models", params.get("model_name"))
    given = [_canonical(n.partition(".")[0]) for n in params if "." in n] + _block_families(spec)
    presets = [params["presets"]] if params.get("presets") is not None else []
    return _fitted(spec.task, [chosen] if chosen is not None else [], presets, given)


def uses_foundation(spec: JobSpec, params: Optional[dict[str, Any]] = None) -> bool:
    """Whether any trial (the one of `params`) fits a foundation model (their clouds' default instance has a GPU)."""
    if spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION, Task.TIME_SERIES_FORECASTING):
        return False
    return bool(trial_families(spec, params) if params is not None else chosen_families(spec))


# tasks whose endpoints default to a GPU instance on the clouds (image and text models)
GPU_SERVING_TASKS = frozenset({Task.IMAGE_CLASSIFICATION, Task.IMAGE_OBJECT_DETECTION, Task.TEXT_CLASSIFICATION})


def serves_on_gpu(spec: JobSpec, params: Optional[dict[str, Any]] = None) -> bool:
    """Whether an endpoint's default instance has a GPU: an image or text model, or a foundation model in the trial
    being served (its `params`: a sweep whose best trial is ETS serves on a CPU; None: any trial of the spec)."""
    return spec.task in GPU_SERVING_TASKS or uses_foundation(spec, params)


def gpu_note(training: str) -> str:
    """The compile note of a cloud backend for a spec that fits foundation models: where its trials train (`training`,
    the backend's own words) and where an endpoint of it serves, so a GPU instance is never chosen in silence."""
    return (
        f"foundation models train and serve best on GPUs: {training}; an endpoint's default instance follows the trial "
        "it serves: a GPU one where that trial fits a foundation model, a CPU one otherwise (cloudauto deploy "
        "--instance-type chooses)"
    )


def weights_given(spec: JobSpec, index: int, fam: str) -> tuple[list[Any], Optional[tuple]]:
    """The weights values a sub-space's trials give `fam` (from the space, else the autogluon block), and the spec
    path of the field that gives them (None when none does)."""
    param = weights_parameter(fam)
    if param is None:
        return [], None
    read = weights_parameters(fam, spec.task)  # AutoGluon's order: the one it reads first
    sub = spec.space.subspaces[index]
    given = [(n, d) for n, d in sub.items() if is_weights_parameter(n) and _canonical(n.partition(".")[0]) == fam]
    for name, dist in sorted((g for g in given if g[0].partition(".")[2] in read), key=lambda g: read.index(g[0].partition(".")[2])):
        return _values(dist), ("sweep", "space", *((index,) if spec.space.is_conditional else ()), name)
    block = [(path, value) for key, path, value in block_weights(spec) if _canonical(key) == fam and path[-1] in read]
    for path, value in sorted(block, key=lambda b: read.index(b[0][-1])):
        return [value], path
    return [], None


def block_weights(spec: JobSpec) -> list[tuple[str, tuple, Any]]:
    """(family as the block spells it, spec path, value) of each weights setting in `autogluon.hyperparameters`."""
    block = (spec.autogluon.hyperparameters or {}) if spec.autogluon else {}
    found = []
    for key, configs in block.items():
        listed = isinstance(configs, list)
        for param in weights_parameters(_canonical(key)):
            for i, config in enumerate(configs if listed else [configs]):
                if isinstance(config, dict) and param in config:
                    path = ("autogluon", "hyperparameters", key, *((i,) if listed else ()), param)
                    found.append((key, path, config[param]))
    return found


def weights_values(spec: JobSpec, index: int, fam: str) -> list[Any]:
    """The weights values a sub-space's trials give `fam`; [] when none."""
    return weights_given(spec, index, fam)[0]


def _is_folder_value(value: Any, base_dir: Optional[str]) -> bool:
    """Whether a weights value is no hub name: a folder (relative to the spec file, with or without `./`; missing
    ones are refused elsewhere) or a URI (s3://)."""
    from .trial_inputs import weights_place

    return isinstance(value, str) and weights_place(value, base_dir)[0] != "hub"


def folder_here_hint(values: list[Any], base_dir: Optional[str]) -> str:
    """For a hub name that is a folder from the current folder (not from the spec file, which weights paths are
    relative to): what to write instead. Empty when none is."""
    for value in values:
        if not isinstance(value, str) or _is_folder_value(value, base_dir):
            continue
        here = Path(value).absolute()
        if here.is_dir():
            wrote = os.path.relpath(here, base_dir or ".")
            return (
                f" (a folder {value} exists from the current folder ({here}), but weights paths are relative to the spec "
                f"file, so {value!r} is taken as a hub name: write `{wrote}` to use that folder)"
            )
    return ""


def hub_allowed() -> bool:
    return os.environ.get(ALLOW_HUB, "").strip().lower() in ("1", "true", "yes")


def offline_issues(spec: JobSpec, backend: str) -> list[SpecIssue]:
    """A foundation model whose weights would come from the hub, on a machine that is offline by default.

    Also a tabular family whose package is not installed here (its fit would fail in every trial).
    """
    import importlib.util

    found = []
    seen = set()
    for index, fam, path in chosen_families(spec):
        packages = TABULAR_PACKAGES.get(fam)
        missing = [p for p in packages[0] if importlib.util.find_spec(p) is None] if packages else []
        if missing:
            if (fam, path) not in seen:
                seen.add((fam, path))
                pip = f"pip install '{packages[1]}=={_autogluon_version()}'"
                if fam in FOUNDATION_EXTRA:
                    pip = f"pip install -c constraints.txt -e 'backends/local[foundation]' (it holds {packages[1]})"
                found.append(
                    SpecIssue(
                        f"{backend}: {fam} needs {', '.join(missing)}, not installed here: {pip} "
                        "(SageMaker and Azure ML trials install it: foundation_packages)",
                        path,
                    )
                )
            continue
        if hub_allowed():
            continue
        param = weights_parameter(fam)
        values, given = weights_given(spec, index, fam)
        at = given or path  # the line that gives the weights; the model's own line where none does
        if (fam, at) in seen:
            continue
        seen.add((fam, at))
        hub = [v for v in values if not _is_folder_value(v, spec.base_dir)]
        preset = _portfolio_hint(spec, index, at)
        if fam in WEIGHTS_FILE and hub:
            continue  # a hub name is no file: refused on every backend with the checkpoints (trial_inputs.local_checkpoints)
        if param is None:
            found.append(
                SpecIssue(
                    f"{backend}: {fam} downloads its weights from the Hugging Face hub; "
                    f"{NO_FOLDER_REASON.get(fam, 'AutoGluon takes no folder for it')}; "
                    f"this machine is offline by default: set {ALLOW_HUB}=1 to let trials download, or run it on sagemaker/azureml"
                    f"{preset}",
                    at,
                )
            )
        elif not values or hub:
            what = f"the hub name {hub[0]!r}{folder_here_hint(hub, spec.base_dir)}" if hub else (
                "no weights (AutoGluon's default is a hub name)"
            )
            in_block = given is not None and given[0] == "autogluon"
            made = made_path(fam, spec.task, spec.base_dir)
            field = f"{param}: {made}` in autogluon.hyperparameters.{given[2]}" if in_block else f"{fam}.{param}: {made}`"
            found.append(
                SpecIssue(
                    f"{backend}: {fam} has {what}; trials here are offline by default and would retry the hub until their "
                    f"time limit. Name a folder: `{field} (python job_specs/make_data.py "
                    f"foundation makes tiny random ones; a real one: hf download <repo> --local-dir <folder>), "
                    f"or set {ALLOW_HUB}=1 to let trials download{preset}",
                    at,
                )
            )
    return found


def _portfolio_hint(spec: JobSpec, index: int, at: tuple) -> str:
    """For a family a tabular preset's portfolio fits (`at` is the presets line): what the preset holds, which of
    its families take a folder, and that giving settings replaces the portfolio. Empty elsewhere."""
    if spec.task is Task.TIME_SERIES_FORECASTING or not at or at[-1] != "presets":
        return ""
    presets = [str(p) for p in _values(spec.space.subspaces[index]["presets"]) if TABULAR_PRESET_FOUNDATION.get(str(p))]
    if not presets:
        return ""
    families = list(dict.fromkeys(f for p in presets for f in TABULAR_PRESET_FOUNDATION[p]))
    folders = [f for f in families if weights_parameter(f)]
    hub = [f for f in families if not weights_parameter(f)]
    take = f"{', '.join(folders)} {'take' if len(folders) > 1 else 'takes'} a folder" if folders else "none takes a folder"
    only = f"; {', '.join(hub)}: hub only" if hub else ""
    return (
        f" (presets {', '.join(presets)}: AutoGluon's portfolio fits {', '.join(families)}; {take}{only}. A trial that "
        f"gives any family settings fits those families alone, not the portfolio: e.g. `models: {folders[0] if folders else 'GBM'}`"
        f"{f' with `{folders[0]}.{weights_parameter(folders[0])}: {made_path(folders[0], spec.task, spec.base_dir)}`' if folders else ''}"
        " beside the preset)"
    )


def hub_note(spec: JobSpec) -> Optional[str]:
    """The compile note of a cloud backend: which foundation weights its trials fetch from the hub."""
    hub = sorted(
        {
            fam
            for index, fam, _ in chosen_families(spec)
            if not any(_is_folder_value(v, spec.base_dir) for v in weights_values(spec, index, fam))
        }
    )
    if not hub:
        return None
    given = [v for index, fam, _ in chosen_families(spec) if fam in hub for v in weights_values(spec, index, fam)]
    return (
        f"foundation models {', '.join(hub)}: weights from the Hugging Face hub (AutoGluon's defaults or the hub names "
        f"given){folder_here_hint(given, spec.base_dir)}; the training container downloads them"
    )


def serving_memory_mb(spec: JobSpec, params: Optional[dict[str, Any]] = None) -> Optional[int]:
    """The memory a serving container needs for the foundation models of the trial served (its `params`), or of any
    trial of the spec without them (None: none)."""
    families = set(trial_families(spec, params)) if params is not None else {fam for _, fam, _ in chosen_families(spec)}
    if not families:
        return None
    return max(SERVING_MEMORY_MB.get(f, SERVING_MEMORY_DEFAULT_MB) for f in families)


def _autogluon_version() -> str:
    from .versions import AUTOGLUON_VERSION

    return AUTOGLUON_VERSION


def tabular_weights(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """TabPFNMix's classifier/regressor paths default to hub names that override `model_path`: a given one wins."""
    config = hyperparameters.get("TABPFNMIX")
    for c in config if isinstance(config, list) else [config] if isinstance(config, dict) else []:
        if c.get("model_path") is not None:
            c.setdefault("model_path_classifier", None)
            c.setdefault("model_path_regressor", None)
    return hyperparameters


def tabular_fit(
    kwargs: dict[str, Any], base_dir: Optional[str], scratch: Path, gpus: int = 0, regression: bool = False
) -> dict[str, Any]:
    """A tabular fit's arguments with each foundation family's weights resolved, and `num_gpus` from compute.gpus."""
    hyperparameters = kwargs.get("hyperparameters") or {}
    for fam in [f for f in hyperparameters if weights_parameter(f)]:
        configs = hyperparameters[fam]
        laid = [
            resolve_weights(c, fam, base_dir, scratch, regression) for c in (configs if isinstance(configs, list) else [configs])
        ]
        hyperparameters[fam] = laid if isinstance(configs, list) else laid[0]
    tabular_weights(hyperparameters)
    portfolio = not hyperparameters and str(kwargs.get("presets")) in TABULAR_PRESET_FOUNDATION
    if gpus and (portfolio or any(f in FOUNDATION_FAMILIES for f in hyperparameters)):
        kwargs.setdefault("num_gpus", gpus)
    return kwargs


def resolve_weights(
    config: dict[str, Any], fam: str, base_dir: Optional[str], scratch: Path, regression: bool = False
) -> dict[str, Any]:
    """A family's settings with its weights as AutoGluon takes them: a folder made absolute, s3:// fetched first; for
    a WEIGHTS_FILE family, the checkpoint file in that folder."""
    from .autogluon_multimodal import fetch_checkpoint

    laid = dict(config)
    for param in weights_parameters(fam):
        value = config.get(param)
        if not isinstance(value, str):
            continue
        folder = fetch_checkpoint(value, base_dir, scratch)
        if fam in WEIGHTS_FILE:
            found = weights_file(fam, Path(folder), regression)
            if found is None:
                kind = "regressor" if regression else "classifier"
                raise FileNotFoundError(f"checkpoint {value}: no {fam} {kind} checkpoint ({WEIGHTS_FILE[fam]}) in {folder}")
            folder = str(found)
        laid[param] = folder
    return laid


def _timeseries_models(predictor: Any) -> Iterator[Any]:
    trainer = predictor._learner.load_trainer()
    for name in trainer.get_model_names():
        model = trainer.load_model(name)
        yield model, getattr(model, "most_recent_model", None) or model


def embed_weights(predictor: Any) -> list[str]:
    """Copy the Chronos / Chronos-2 weights each model read into its own folder of the saved predictor.

    Both models load `<model folder>/fine-tuned-ckpt` when it exists; a zero-shot model would
    otherwise read its `model_path` (a folder here, a hub name) again on every load, and a LoRA
    fine-tuned Chronos-2 keeps only its adapter beside the base folder's path. Returns the models changed.
    """
    changed = []
    for outer, model in _timeseries_models(predictor):
        kind = type(model).__name__
        if kind not in ("Chronos2Model", "ChronosModel"):
            continue
        target = Path(model.path) / model.fine_tuned_ckpt_name
        if kind == "Chronos2Model":
            from chronos.chronos2.pipeline import Chronos2Pipeline
            from transformers.utils import find_adapter_config_file

            if model._is_fine_tuned and find_adapter_config_file(str(target)) is None:
                continue  # full fine-tuning saved every weight already
            source = str(target) if model._is_fine_tuned else model.get_hyperparameter("model_path")
            staging = target.with_name(target.name + ".embedding")
            shutil.rmtree(staging, ignore_errors=True)
            Chronos2Pipeline.from_pretrained(source).save_pretrained(staging)  # a LoRA adapter is merged in
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            model._is_fine_tuned = True
            model._model_pipeline = None
        else:
            if target.exists():
                continue
            # what AutoGluon's own fine-tuning saves there: the loaded model's config and weights, nothing else of the folder
            model.model_pipeline.inner_model.save_pretrained(target)
        (outer if outer is not model else model).save()
        changed.append(outer.name)
    return changed


def keep_tabular_weights(predictor: Any) -> list[str]:
    """Make each TabICL model of a fitted TabularPredictor carry its network, so it loads with the checkpoint gone.

    tabicl's estimator leaves its network out of its pickle and reads `model_path` again on load, unless its own save
    option `save_model_weights` (TabICLBaseEstimator.save) is on; AutoGluon pickles it with the default. The option
    is turned on and the model saved again (a bagged model's children each). Returns the models changed.
    """
    trainer = predictor._learner.load_trainer()
    changed = []
    for name in trainer.get_model_names():
        model = trainer.load_model(name)
        bagged = hasattr(model, "load_child") and isinstance(getattr(model, "models", None), list)
        children = [model.load_child(c) for c in model.models] if bagged else [model]
        kept = [c for c in children if type(c).__name__ == "TabICLModel" and c.model is not None]
        for child in kept:
            child.model._save_model_weights = True  # what TabICLBaseEstimator.save(save_model_weights=True) sets
            if bagged:
                model.save_child(child)
        if kept:
            model.save()  # a bagged model that holds its children in memory pickles them itself
            changed.append(name)
    return changed


def stable_names(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Chronos(-Bolt) configs whose weights are a local folder, named after the folder's name, not its path.

    AutoGluon names a Chronos model after its `model_path` (`Chronos[__home__me__weights__bolt]`: the user's path
    in every leaderboard and model folder). Its own aliases (`bolt_small`) give short names: the folder is
    registered as an alias under its own name, so the model is `Chronos[bolt]` and reads the same folder. A name
    already taken by another folder (`x1/weights` beside `x2/weights`) or by AutoGluon (`bolt_small`) gets a short
    hash of the folder's path (`weights-3f2a1c`): one alias per folder, so no config reads another's weights.
    """
    from autogluon.timeseries.models.chronos.model import MODEL_ALIASES

    configs = hyperparameters.get("Chronos")
    for config in configs if isinstance(configs, list) else [configs] if isinstance(configs, dict) else []:
        value = config.get("model_path")
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_dir():
            alias = Path(value).name
            if MODEL_ALIASES.get(alias, value) != value:
                alias = f"{alias}-{hashlib.sha256(value.encode()).hexdigest()[:6]}"
            MODEL_ALIASES[alias] = value
            config["model_path"] = alias
    return hyperparameters


__all__ = [
    "ALLOW_HUB",
    "block_weights",
    "FOUNDATION_FAMILIES",
    "PRESET_FOUNDATION",
    "PRESET_FOUNDATION_ONLY",
    "TABULAR_PRESET_FOUNDATION",
    "preset_families",
    "SERVING_MEMORY_MB",
    "TABULAR_WEIGHTS",
    "TIMESERIES_WEIGHTS",
    "chosen_families",
    "embed_weights",
    "hub_note",
    "keep_tabular_weights",
    "is_weights_parameter",
    "offline_issues",
    "resolve_weights",
    "serving_memory_mb",
    "stable_names",
    "trial_families",
    "tabular_fit",
    "tabular_weights",
    "serves_on_gpu",
    "task_problem",
    "uses_foundation",
    "weights_file",
    "weights_parameter",
    "weights_parameters",
    "weights_setting_issues",
]
