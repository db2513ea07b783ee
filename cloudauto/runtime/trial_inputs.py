"""What a trial needs beside its spec when it runs in a cloud: image files and checkpoint / foundation-weights folders.

A local image table (CSV or JSON Lines) names its images relative to itself, so on a cloud
the table travels with its folder: the folder is the input, and the trial reads the table by
its name inside it. A local checkpoint folder (`model.timm_image.checkpoint_name:
./checkpoints/resnet10t`) travels as an input of its own, `checkpoint_<i>`; the trial's
parameters keep the value the spec wrote (the leaderboard shows it), and the trial is told
where each such value arrived through `checkpoints.json` in its code bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..spec.errors import SpecIssue
from ..spec.metrics import Task
from ..spec.types import scheme_of
from .data import resolve

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

CHECKPOINTS_FILE = "checkpoints.json"
CHECKPOINT_SUFFIX = ".checkpoint_name"


# where a trial can fetch a checkpoint itself; a backend adds the schemes its inputs mount (Azure ML: azureml://)
FETCHED_SCHEMES = frozenset({"s3"})


@dataclass(frozen=True)
class Checkpoint:
    value: str  # as the spec writes it
    source: str  # the folder here, or the URI the backend mounts
    input: str  # the trial input that carries it: checkpoint_0, checkpoint_1 ...
    size: int = 0  # the bytes of a folder here

    @property
    def upload_note(self) -> str:
        """The folder, with its size when it is big: what the upload on submit carries."""
        return f"{self.source} ({size_text(self.size)})" if self.size > BIG_FOLDER_BYTES else self.source


def shown(value: Any) -> str:
    """A value as a file:line message shows it: as written when printable, else quoted with its escapes (a newline
    in `"./w\\n"` would break the message's line)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def _path_like(value: str) -> bool:
    return value.startswith((".", "/", "~")) or scheme_of(value) == "file"


def _checkpoint_values(spec: JobSpec) -> list[tuple[tuple, str]]:
    """(spec path, value) of every string a checkpoint parameter can take: in the sweep space, and a foundation
    model's weights in the autogluon block (`autogluon.hyperparameters.Chronos2.model_path`)."""
    from .foundation import block_weights

    found = [(path, value) for _, path, value in block_weights(spec) if isinstance(value, str)]
    for index, name, dist in spec.space.distributions():
        if not is_checkpoint_parameter(name):
            continue
        values = dist.values if dist.kind == "choice" else [dist.value] if dist.kind == "fixed" else []
        path = ("sweep", "space", *((index,) if spec.space.is_conditional else ()), name)
        found += [(path, v) for v in values if isinstance(v, str)]
    return found


def is_checkpoint_parameter(name: str) -> bool:
    """An AutoMM checkpoint (`model.timm_image.checkpoint_name`) or a foundation model's weights (`Chronos2.model_path`)."""
    from .foundation import is_weights_parameter

    return (name.startswith("model.") and name.endswith(CHECKPOINT_SUFFIX)) or is_weights_parameter(name)


def weights_place(value: str, base_dir: Optional[str]) -> tuple[str, Optional[Path]]:
    """Where a checkpoint or weights value points: ("folder" | "file" | "missing", the path here), ("hub", None) or
    ("remote", None) for a URI (s3://, azureml://).

    A value that exists relative to the spec file (`base_dir`) is that path, with or without `./`; else a value
    written as a path (`./`, `/`, `~`, file://) or with two slashes or more is a missing folder: a hub id (Hugging
    Face's `org/name`, timm's and Chronos' bare names) has at most one slash.
    """
    place, path, _ = _place(value, base_dir)
    return place, path


def _place(value: str, base_dir: Optional[str]) -> tuple[str, Optional[Path], str]:
    """weights_place, and why a path cannot be read ("bad": `~nosuchuser/x`, a folder this user cannot read)."""
    if scheme_of(value) not in (None, "file"):
        return "remote", None, ""
    text = value.removeprefix("file://")
    try:
        path = Path(resolve(str(Path(text).expanduser()), base_dir))
    except RuntimeError:  # Path.expanduser: `~name` of no user here
        return "bad", None, f"{text.split('/')[0]} names no such user here (its home folder is unknown); write the folder's path"
    try:
        if path.is_dir():
            return "folder", path, ""
        if path.exists():
            return "file", path, ""
    except OSError as error:
        return "bad", path, f"cannot read {path} ({error.strerror or error})"
    if _path_like(value) or text.count("/") > 1:
        return "missing", path, ""
    return "hub", None, ""


def local_folder(value: str, base_dir: Optional[str]) -> Optional[Path]:
    """The folder a checkpoint value names here (it may be missing or a file), or None for a hub name or a URI."""
    place, path = weights_place(value, base_dir)
    return path if place in ("folder", "file", "missing") else None


def spec_reads(spec: JobSpec) -> list[tuple[str, Path]]:
    """What the spec reads on this machine, each with the field that names it: its own file, the command's code
    folder, local data files or folders, a conda file, checkpoint and weights folders. `compile -o` must replace none
    of them (nor a folder holding one)."""
    from .data_check import local_path

    base = spec.base_dir
    found: list[tuple[str, Path]] = [("the spec", Path(spec.source))] if spec.source else []
    if spec.command is not None:
        found.append(("command.code", Path(resolve(spec.command.code, base))))
        environment = spec.command.environment
        if environment and scheme_of(environment) is None and not environment.startswith("azureml:"):
            found.append(("command.environment", Path(resolve(environment, base))))
    for role, uri in spec.data.uris().items():
        path = local_path(uri, base)
        if path is not None:
            found.append((f"data.{role}", path))
    for path, value in _checkpoint_values(spec):
        folder = local_folder(value, base)
        if folder is not None:
            found.append((".".join(str(p) for p in path), folder))
    return found


class FolderProblem(ValueError):
    """A weights folder that cannot travel as it is: a link loop, a link to a folder, a part this user cannot read."""


def links_out(folder: Path) -> list[tuple[Path, Path]]:
    """(link, target) of each symbolic link in `folder` that leads out of it: the folder travels whole (a SageMaker
    channel, an Azure ML input, docker mode), links to files followed. A Hugging Face cache snapshot
    (`models--org--name/snapshots/<rev>`) links each file into its repo's `blobs/`: those are its weights.

    Raises FolderProblem for a link loop, a link to a folder inside (`ln -s . self`: docker mode would copy it without
    end, the clouds' upload does not enter it) and a part that cannot be read.
    """
    return walk_weights(folder)[0]


def walk_weights(folder: Path) -> tuple[list[tuple[Path, Path]], int]:
    """links_out, and the bytes the folder carries (its files, linked ones counted at their target)."""
    root = folder.resolve()
    blobs = root.parent.parent / "blobs" if root.parent.name == "snapshots" else None
    found = []
    size = 0

    def unreadable(error: OSError) -> None:
        raise FolderProblem(f"cannot read {error.filename} ({error.strerror or error})")

    for where, dirs, files in os.walk(folder, onerror=unreadable):  # links to folders are listed, not entered
        for name in (*dirs, *files):
            path = Path(where) / name
            inside = path.relative_to(folder)
            try:
                if not path.is_symlink():
                    size += path.stat().st_size if name in files else 0
                    continue
                target = path.resolve()
                is_folder = target.is_dir()
                size += target.stat().st_size if target.is_file() else 0
            except RuntimeError:  # Path.resolve: a loop of links
                raise FolderProblem(f"{inside} is a link loop (it leads back to itself); remove it") from None
            except OSError as error:
                raise FolderProblem(f"cannot read {path} ({error.strerror or error})") from None
            if not (target.is_relative_to(root) or (blobs is not None and target.is_relative_to(blobs))):
                found.append((inside, target))
            elif is_folder:
                raise FolderProblem(
                    f"{inside} is a link to a folder ({target}); docker mode would copy it again (a link to its own folder "
                    "without end) and the clouds' upload does not enter it: replace the link with the folder, or remove it"
                )
    return sorted(found), size


WEIGHTS_FILES = ("config.json", "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt")
BIG_FOLDER_BYTES = 1 << 30  # over this, the upload note says the folder's size


def looks_like_weights(folder: Path) -> bool:
    """Whether a folder holds model weights at its top, or in a Hugging Face cache layout (`snapshots/<rev>/`): not a
    home folder or `/`, which would travel whole."""
    try:
        tops = [folder, *sorted(p for p in folder.glob("snapshots/*") if p.is_dir())]
        return any(next(top.glob(pattern), None) is not None for top in tops for pattern in WEIGHTS_FILES)
    except OSError:
        return False


def size_text(size: int) -> str:
    return f"{size / (1 << 30):.1f} GB"


def _made_by_make_data() -> frozenset[str]:
    """The folders `make_data.py foundation` writes: the tabular families' (foundation.TINY_FOLDERS) and the others."""
    from .foundation import MADE_FOLDERS, TINY_FOLDERS

    return frozenset(MADE_FOLDERS.values()).union(*TINY_FOLDERS.values())


def _missing_hint(value: str, path: Path, *, offline: bool) -> str:
    """What to write instead of a folder that is not there: the command that makes make_data.py's folders, and
    what this backend takes (offline, a hub name needs CLOUDAUTO_ALLOW_HUB=1)."""
    hint = ""
    if path.name in _made_by_make_data() and path.parent.name == "checkpoints":
        out = path.parent.parent
        default = out.name == "data" and out.parent.name == "job_specs"
        hint = f" (python job_specs/make_data.py foundation{'' if default else f' --out {out}'} makes it)"
    slash = "" if _path_like(value) else "; not a hub name either: a hub name has exactly one slash (org/name)"
    if offline:
        from .foundation import ALLOW_HUB

        return f"{hint}{slash}; name a folder (relative to the spec file) or an s3:// folder, or a hub name with {ALLOW_HUB}=1"
    return f"{hint}{slash}; a hub name (org/name), a folder (relative to the spec file) or an s3:// folder"


def _is_weights(path: tuple) -> bool:
    """Whether a checkpoint value's spec path holds a foundation model's weights (not an image/text checkpoint)."""
    from .foundation import is_weights_parameter

    return path[0] == "autogluon" or is_weights_parameter(str(path[-1]))


def _missing_issue(path: tuple, value: str, folder: Path, *, offline: bool) -> SpecIssue:
    hint = _missing_hint(value, folder, offline=offline and _is_weights(path))
    return SpecIssue(f"checkpoint {shown(value)}: no such folder ({shown(folder)}){hint}", path)


def missing_weights(spec: JobSpec) -> list[SpecIssue]:
    """Foundation weights written as a local folder that is not there (`Chronos2.model_path: ./nope`), in the space or
    the autogluon block: no backend can take them, so `validate` refuses them as compile does, at their line."""
    found = []
    for path, value in _checkpoint_values(spec):
        if not _is_weights(path):
            continue
        place, folder = weights_place(value, spec.base_dir)
        if place == "missing" and folder is not None:
            found.append(_missing_issue(path, value, folder, offline=False))
    return found


def local_checkpoints(
    spec: JobSpec, mounted: frozenset[str] = frozenset(), *, base_dir: Optional[str] = None, offline: bool = False
) -> tuple[list[Checkpoint], list[SpecIssue]]:
    """The checkpoints that travel as trial inputs (local folders, and URIs of the `mounted` schemes), and the problems.

    A problem is a path that is no folder, a folder holding a link out of it, or a scheme that neither the trial
    fetches nor the backend mounts. Paths are relative to `base_dir` (default: the spec's folder). `offline`: the
    backend refuses hub names for foundation weights (its messages offer CLOUDAUTO_ALLOW_HUB=1 instead).
    """
    from .foundation import WEIGHTS_FILE, folder_here_hint, task_problem, weights_family

    base_dir = base_dir or spec.base_dir
    checkpoints: dict[str, Checkpoint] = {}
    problems = []
    for path, value in _checkpoint_values(spec):
        if value in checkpoints:
            continue
        scheme = scheme_of(value)
        if scheme in mounted:
            checkpoints[value] = Checkpoint(value, value, f"checkpoint_{len(checkpoints)}")
            continue
        if scheme not in (None, "file"):
            if scheme not in FETCHED_SCHEMES:
                readable = ", ".join(f"{s}://" for s in sorted(FETCHED_SCHEMES | mounted))
                problems.append(
                    SpecIssue(f"checkpoint {shown(value)}: {scheme}:// is not read here; a hub name, a folder or {readable}", path)
                )
            continue
        place, folder, why = _place(value, base_dir)
        if place == "bad":
            problems.append(SpecIssue(f"checkpoint {shown(value)}: {why}", path))
            continue
        if folder is None:
            fam = weights_family(path)
            if fam in WEIGHTS_FILE:  # a hub name
                problems.append(
                    SpecIssue(
                        f"checkpoint {shown(value)}: {fam} reads its weights from a checkpoint file ({WEIGHTS_FILE[fam]}), not a "
                        f"hub name{folder_here_hint([value], base_dir)}: name the folder that holds it (or an s3:// folder), "
                        f"or leave {path[-1]} out to let AutoGluon download its default checkpoint (on sagemaker/azureml, "
                        "or with CLOUDAUTO_ALLOW_HUB=1)",
                        path,
                    )
                )
            continue  # a hub name
        if place == "file":
            problems.append(SpecIssue(f"checkpoint {shown(value)}: is a file, not a folder ({folder}); name the folder that holds it", path))
            continue
        if place == "missing":
            problems.append(_missing_issue(path, value, folder, offline=offline))
            continue
        if not looks_like_weights(folder):
            tops = ", ".join(WEIGHTS_FILES)
            problems.append(
                SpecIssue(
                    f"checkpoint {shown(value)}: {shown(folder)} does not look like model weights (no {tops} at its top or in "
                    "snapshots/<rev>/) and would travel whole; name the folder that holds the model's files",
                    path,
                )
            )
            continue
        try:
            outside, size = walk_weights(folder)
        except FolderProblem as problem:
            problems.append(SpecIssue(f"checkpoint {shown(value)}: {problem} ({folder})", path))
            continue
        if outside:
            link, target = outside[0]
            more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
            problems.append(
                SpecIssue(
                    f"checkpoint {shown(value)}: {link} is a link to {target}, outside the folder{more}; the folder travels whole "
                    "(a SageMaker channel, an Azure ML input, docker mode) and would carry that file: copy it in or "
                    "remove the link",
                    path,
                )
            )
            continue
        wrong = task_problem(weights_family(path) or "", spec.task, value, folder)
        if wrong:
            problems.append(SpecIssue(wrong, path))
            continue
        checkpoints[value] = Checkpoint(value, str(folder), f"checkpoint_{len(checkpoints)}", size)
    return list(checkpoints.values()), problems


def checkpoints_file(checkpoints: list[Checkpoint]) -> dict[str, bytes]:
    """The bundle file that tells the trial which input holds each value (empty when no checkpoint is local)."""
    if not checkpoints:
        return {}
    return {CHECKPOINTS_FILE: (json.dumps({c.value: c.input for c in checkpoints}, indent=2) + "\n").encode()}


def with_checkpoints(params: Mapping[str, Any], folder_of: Callable[[str], Optional[Path]], root: Path) -> dict[str, Any]:
    """The trial's parameters with each travelling checkpoint value replaced by the folder its input arrived in.

    `folder_of` gives an input's folder (None when it did not arrive); `root` holds the bundle's checkpoints.json.
    """
    table_file = root / CHECKPOINTS_FILE
    if not table_file.is_file():
        return dict(params)
    table = json.loads(table_file.read_text())
    out = dict(params)
    for name, value in params.items():
        if is_checkpoint_parameter(name) and isinstance(value, str) and value in table:
            folder = folder_of(table[value])
            if folder is None:
                raise FileNotFoundError(f"checkpoint {shown(value)}: its input {table[value]} did not reach the trial")
            out[name] = str(folder)
    return out


def spec_with_checkpoints(data: dict[str, Any], folder_of: Callable[[str], Optional[Path]], root: Path) -> dict[str, Any]:
    """The trial's spec (as spec.json holds it) with each travelling weights value of its autogluon block replaced by
    the folder its input arrived in, as `with_checkpoints` does for the sweep's parameters."""
    from .foundation import _canonical, weights_parameters

    table_file = root / CHECKPOINTS_FILE
    block = (data.get("autogluon") or {}).get("hyperparameters") or {}
    if not table_file.is_file() or not block:
        return data
    table = json.loads(table_file.read_text())
    for key, configs in block.items():
        for param in weights_parameters(_canonical(key)):
            for config in configs if isinstance(configs, list) else [configs]:
                value = config.get(param) if isinstance(config, dict) else None
                if isinstance(value, str) and value in table:
                    folder = folder_of(table[value])
                    if folder is None:
                        raise FileNotFoundError(f"checkpoint {shown(value)}: its input {table[value]} did not reach the trial")
                    config[param] = str(folder)
    return data


def image_table_folder(
    spec: JobSpec, role: str, uri: str, *, base_dir: Optional[str] = None
) -> tuple[Optional[Path], Optional[SpecIssue]]:
    """(the folder that travels with a local image table, a problem): None for anything else.

    An image folder travels as it is; a table's images are found relative to the table, so its
    folder goes along, and an image outside that folder is an error (it would not arrive).
    """
    if spec.task is not Task.IMAGE_CLASSIFICATION or scheme_of(uri) not in (None, "file"):
        return None, None
    local = Path(resolve(uri.removeprefix("file://"), base_dir or spec.base_dir))
    if not local.is_file():
        return None, None
    from .image_data import ImageDataError, image_records

    try:
        records = image_records(local, spec.data.label)
    except ImageDataError as exc:
        return None, SpecIssue(str(exc), ("data", role))
    root = local.parent.resolve()
    outside = [r.image for r in records if not r.image.is_relative_to(root)]
    if outside:
        return None, SpecIssue(
            f"{local.name} names {len(outside)} image(s) outside its folder ({outside[0]}): the table travels with "
            f"its folder {root}, so every image it names must be under it",
            ("data", role),
        )
    return root, None


__all__ = [
    "CHECKPOINTS_FILE",
    "FETCHED_SCHEMES",
    "Checkpoint",
    "checkpoints_file",
    "image_table_folder",
    "is_checkpoint_parameter",
    "local_checkpoints",
    "missing_weights",
    "local_folder",
    "spec_reads",
    "spec_with_checkpoints",
    "with_checkpoints",
]
