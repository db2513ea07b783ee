"""The folder a cloud trial runs from: cloudauto's own code, the spec, and the user's code.

One layout for SageMaker's `sagemaker_submit_directory` tarball, the Azure ML code upload
and the local docker mode, so each runs the same entry scripts from the same files:

    cloudauto_entry.py    the training entry (SageMaker's `sagemaker_program`)
    inference.py          model_fn / transform_fn for the inference container
    cloudauto/            this package, Python files only (the image brings its dependencies)
    spec.json             the normalised spec, each value taken from `${NAME}` kept as its reference
    references.json       the `${NAME}` variables spec.json reads: the entry takes their values
                          from the trial's environment (docker `-e`, SageMaker's training job
                          `Environment`, Azure's `environment_variables`), never from a file
    requirements.txt      what the core needs beyond an AutoGluon image
    code/                 engine: command only: the user's `command.code` folder

The tarball is deterministic (sorted names, fixed times), so the same spec uploads the same bytes.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..spec.errors import CloudautoError

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

PACKAGE = Path(__file__).resolve().parents[1]
ENTRY = "cloudauto_entry.py"
SERVE = "inference.py"
REFERENCES = "references.json"
REQUIREMENTS = "pydantic>=2.7,<3\npyyaml>=6.0\n"
_SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules", ".ipynb_checkpoints"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
# `compile -o` names what it wrote in the folder it wrote into, so a later snapshot of that folder leaves it out
COMPILED_MARKER = ".cloudauto-compiled"
# in each folder of the code, the first of these found there is read (gitignore syntax, its patterns relative to that
# folder, a deeper folder's rules over an outer one's, as git reads nested .gitignore files); azure-ai-ml reads only
# the top folder's .amlignore, else .gitignore, so cloudauto's snapshot (which Azure uploads as written) ships no more
IGNORE_FILES = (".cloudautoignore", ".amlignore", ".gitignore")
MAX_CODE_BYTES = 200 * 1024 * 1024
# written by the local backend's run store in each job folder it creates: a snapshot never ships a job's files (its
# run.db, logs, models) wherever a spec's run_dir put them; a job folder from before this marker is known by its
# run.db (an SQLite file) beside its orchestrator.log
RUN_STORE_MARKER = ".cloudauto-run"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MARKER_MAX_BYTES = 1 << 20  # a marker compile wrote names a few folders: more is not one

_ENTRY_TEXT = '''"""SageMaker runs this file; the work is in cloudauto.runtime.sagemaker_entry."""
import sys

from cloudauto.runtime.sagemaker_entry import main

sys.exit(main())
'''
_SERVE_TEXT = '''"""The SageMaker inference toolkit loads this module: cloudauto's handler."""
from cloudauto.runtime.inference import model_fn, transform_fn  # noqa: F401
'''


class BundleError(CloudautoError):
    exit_code = 2


class SnapshotRefused(BundleError):
    """The code snapshot would break every trial (its run line's script left out): compile refuses, on every backend."""


class FileBytes(bytes):
    """A file's bytes with its permission bits: what compile writes of it (write_folder, tar) is never more readable
    than the source (a 0600 file is written 0600). Plain bytes are written 0644."""

    mode: int

    def __new__(cls, data: bytes = b"", mode: int = 0o644) -> FileBytes:
        made = super().__new__(cls, data)
        made.mode = mode
        return made


def source_mode(st_mode: int) -> int:
    """The mode to write a copy of a file with `st_mode`: its read and execute bits, never writable by others (nor
    set-id), always readable and writable by its owner (compile replaces it next time)."""
    return (stat.S_IMODE(st_mode) & 0o755) | 0o600


def umask() -> int:
    """The process's umask (read by setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def folder_modes(written: Path, source: Path) -> None:
    """Each folder of a written code snapshot as source_mode has its source folder (plus the owner's search bit),
    within the umask: a private folder of the code stays private in compile's output."""
    mask = umask()
    for here, _dirs, _files in os.walk(written):
        try:
            mode = os.stat(source / Path(here).relative_to(written)).st_mode
        except OSError:
            continue
        os.chmod(here, (source_mode(mode) | 0o700) & ~mask)


def file_mode(data: bytes) -> int:
    """The permission bits to write `data` with: its source's (FileBytes), else 0644."""
    return getattr(data, "mode", 0o644)


def write_file(target: Path, data: bytes) -> None:
    """Write `data` to `target` with no wider permissions than its source's, from the first byte (an existing file is
    narrowed too)."""
    mode = file_mode(data)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, os.fstat(fd).st_mode & mode & 0o777)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def package_files() -> dict[str, bytes]:
    """cloudauto's Python files, keyed by their path inside the bundle."""
    return {
        f"cloudauto/{path.relative_to(PACKAGE).as_posix()}": path.read_bytes()
        for path in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def code_files(
    folder: Path, prefix: str = "code/", run: Optional[str] = None, leave_out: Iterable[Path] = ()
) -> dict[str, bytes]:
    """The user's `command.code` folder as a trial gets it, keyed by path under `prefix`; each file's bytes are
    FileBytes carrying its permission bits, so what compile writes is no more readable than the source.

    Left out: what `compile -o` wrote (named in each folder's COMPILED_MARKER), the usual
    junk (_SKIP_DIRS, virtualenvs, *.pyc), `.env` files (credentials, as a rule; under a link's name or in a
    `.env.d/` folder too) and what the ignore files
    name (IGNORE_FILES, in every folder, as git reads .gitignore files); the ignore files themselves stay out
    too, so Azure's upload of the written folder drops nothing more. The folders of `leave_out` (resolved: the spec's
    local run_dir, spec_leaves_out) and any local job folder (RUN_STORE_MARKER) stay out: they hold the run store,
    logs and models.
    A file linked from outside the folder is refused (its bytes would be uploaded unseen: a credentials file, a .env);
    a link inside it ships only a file that ships as itself, the very bytes read for that file.
    Sizes are added up before any file is read: a folder over MAX_CODE_BYTES is refused naming its biggest files.
    With `run` (command.run), a snapshot that leaves out the script it executes is refused: every trial would fail.
    """
    if not folder.is_dir():
        raise BundleError(f"command.code: {folder} is not a folder")
    with folder_lock(folder, exclusive=False):  # a `compile -o` into the folder writes no output meanwhile
        return _code_files(folder, prefix, run, {Path(p).resolve() for p in leave_out})


def spec_leaves_out(spec: JobSpec) -> tuple[Path, ...]:
    """What a snapshot of `spec`'s code leaves out beyond its rules: the local backend's run_dir (relative to the
    spec), where its jobs' stores, logs and models are written."""
    configured = spec.backends.local.run_dir
    if not configured:
        return ()
    return ((Path(spec.base_dir or ".") / Path(configured).expanduser()).resolve(),)


def _code_files(folder: Path, prefix: str, run: Optional[str], leave_out: set[Path]) -> dict[str, bytes]:
    root = folder.resolve()
    rules: dict[Path, _Rules] = {}
    found: list[tuple[str, Path, int]] = []  # (name, path, size) of each regular file that ships as itself
    links: list[tuple[str, Path]] = []
    for here, dirs, names in os.walk(folder):  # top-down: a folder left out is never read
        here_path = Path(here)
        rel_dir = here_path.relative_to(folder)
        # the run_dir rule leaves out a folder inside the code (`run_dir: .` is the code folder itself: its job folders
        # are left out by their marker, the code ships)
        if (rel_dir != Path(".") and (root / rel_dir) in leave_out) or _holds_run_store(here_path, names):
            dirs[:] = []
            continue
        rules[rel_dir] = ignored = rules.get(rel_dir.parent, _Rules()).below(here_path, rel_dir)
        compiled = compiled_outputs(here_path)
        dirs[:] = sorted(
            d
            for d in dirs
            if not _skipped_dir(d)
            and not _is_env_file(d)
            and d not in compiled
            and not _is_staging(d, compiled)
            and not ignored((rel_dir / d).as_posix() + "/")
        )
        for name in sorted(names):
            rel = (rel_dir / name).as_posix()
            path = here_path / name
            if name in compiled or _is_staging(name, compiled) or _skipped_file(name) or ignored(rel):
                continue
            try:
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    target = path.resolve()
                    if not target.is_file():
                        continue
                    if not target.is_relative_to(root):
                        raise SnapshotRefused(
                            f"command.code: {path} is a link to {target}, outside {folder}: the snapshot would upload "
                            f"that file's bytes; copy it into the folder, or leave the link out in {folder / IGNORE_FILES[0]}"
                        )
                    links.append((rel, target))
                elif stat.S_ISREG(info.st_mode):
                    found.append((rel, path, info.st_size))
            except (FileNotFoundError, NotADirectoryError):  # gone while we walked: it is not in the snapshot
                continue
            except OSError as exc:
                raise BundleError(f"command.code: cannot read {path} ({exc.strerror or exc})") from None
    # a link ships only a file that ships as itself, as the bytes read for that file (never read again through the
    # link, which may point elsewhere by then): one the rules leave out (an ignore line, a .env file, the compile
    # marker, a left-out folder) would otherwise upload its bytes under the link's name
    kept = {root / rel: rel for rel, _, _ in found}
    links = [(rel, kept[target]) for rel, target in links if target in kept]
    sizes = {rel: size for rel, _, size in found}
    _check_size(folder, [(rel, size) for rel, size in sizes.items()] + [(rel, sizes[of]) for rel, of in links])
    files: dict[str, bytes] = {}
    total = 0
    for rel, path, _ in found:
        data = _read_file(path, MAX_CODE_BYTES - total)
        if data is None:  # gone, or no longer a regular file, since the walk
            continue
        total += len(data)
        files[prefix + rel] = data
    for rel, of in links:
        if prefix + of in files:
            files[prefix + rel] = files[prefix + of]
    _check_size(folder, [(name[len(prefix) :], len(data)) for name, data in files.items()])  # a file grew meanwhile
    if run is not None:
        _check_entry(folder, run, {name[len(prefix) :] for name in files})
    return dict(sorted(files.items()))


def _holds_run_store(folder: Path, names: list[str]) -> bool:
    """Whether `folder` is a local job's folder: its store's marker, or (a job from before it) an SQLite run.db beside
    an orchestrator.log."""
    if RUN_STORE_MARKER in names:
        return True
    if "run.db" not in names or "orchestrator.log" not in names:
        return False
    try:
        with open(folder / "run.db", "rb") as db:
            return db.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _check_size(folder: Path, sizes: list[tuple[str, int]]) -> None:
    """Refuse a snapshot over MAX_CODE_BYTES, naming its biggest files."""
    total = sum(size for _, size in sizes)
    if total <= MAX_CODE_BYTES:
        return
    big = [(rel, size) for rel, size in sorted(sizes, key=lambda x: -x[1])[:3] if size >= 2**20]
    biggest = ", ".join(f"{rel} ({size / 2**20:.0f} MB)" for rel, size in big) or f"{len(sizes)} files, none of 1 MB"
    raise BundleError(
        f"command.code: {folder} holds {total / 2**20:.0f} MB, more than {MAX_CODE_BYTES // 2**20} MB (biggest: "
        f"{biggest}); ship data as data, not code (or leave files out in {folder / IGNORE_FILES[0]})"
    )


def _read_file(path: Path, most: int) -> Optional[FileBytes]:
    """A regular file's bytes (at most `most` + 1: more is over the limit) with its mode; None where it is gone or no
    longer a regular file (a link or a named pipe put in its place: never followed, never waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link now
            return None
        raise BundleError(f"command.code: cannot read {path} ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks, left = [], max(most, 0) + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return FileBytes(b"".join(chunks), source_mode(info.st_mode))
    except OSError as exc:
        raise BundleError(f"command.code: cannot read {path} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _skipped_dir(name: str) -> bool:
    return name in _SKIP_DIRS or name.startswith((".venv", "venv"))


def _skipped_file(name: str) -> bool:
    """Never shipped: compile's marker (and a write of it a kill cut short), the ignore files, compiled Python, and
    `.env` files (they hold credentials)."""
    return (
        name in (COMPILED_MARKER, *IGNORE_FILES)
        or _is_marker_tmp(name)
        or name.endswith(_SKIP_SUFFIXES)
        or _is_env_file(name)
    )


_MARKER_TMP = re.compile(re.escape(COMPILED_MARKER) + r"\.\d+\.tmp")  # mark_compiled's own: `.cloudauto-compiled.<pid>.tmp`


def _is_marker_tmp(name: str) -> bool:
    return _MARKER_TMP.fullmatch(name) is not None


_STAGING = re.compile(r"\.(.+)\.\d+\.cloudauto-(?:tmp|old)")


def staging_name(name: str, kind: str) -> str:
    """Where `compile -o` writes `name` before swapping it in (kind "tmp"), or puts the old one aside ("old")."""
    return f".{name}.{os.getpid()}.cloudauto-{kind}"


def _is_staging(name: str, compiled: set[str]) -> bool:
    """Whether `name` is a staging copy of an output compile wrote here (`compiled`: the folder's marker names): a
    user's `.backup.2024.cloudauto-old` is no such copy, so never removed nor left out."""
    found = _STAGING.fullmatch(name)
    return found is not None and found.group(1) in compiled


def remove_staging(folder: Path) -> None:
    """Remove the staging copies a `compile -o` killed half-way left in `folder` (under its exclusive folder_lock)."""
    import shutil

    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return
    compiled = compiled_outputs(folder)
    for name in names:
        if _is_staging(name, compiled):
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _is_env_file(name: str) -> bool:
    """`.env`, `.env.*`, `*.env` (prod.env) and direnv's `.envrc`: they hold credentials as a rule (a folder so named,
    `.env.d/`, too)."""
    return name in (".env", ".envrc") or name.startswith(".env.") or name.endswith(".env")


def entry_script(folder: Path, run: str) -> Optional[str]:
    """The file `run` executes, relative to `folder`: its first token naming a file inside the folder
    (`python train.py --lr 0.1` -> train.py); None when it names none (`python -m pkg`, a program on the PATH)."""
    import shlex

    try:
        tokens = shlex.split(run)
    except ValueError:  # an unbalanced quote: the shell will say so
        tokens = run.split()
    root = folder.resolve()
    for token in tokens:
        if token.startswith("-") or "${{" in token:
            continue
        path = folder / token
        try:
            if path.is_file() and path.resolve().is_relative_to(root):
                return path.resolve().relative_to(root).as_posix() if path.is_symlink() else Path(os.path.normpath(token)).as_posix()
        except OSError:
            continue
    return None


def _check_entry(folder: Path, run: str, shipped: set[str]) -> None:
    entry = entry_script(folder, run)
    if entry is None or entry in shipped:
        return
    raise SnapshotRefused(
        f"command.run executes {entry}, but the code snapshot of {folder} leaves it out ({_why_left_out(folder, entry)}): "
        f"every trial would fail with 'No such file'; keep {entry} in the snapshot"
    )


def _why_left_out(folder: Path, rel: str) -> str:
    """Which rule of code_files leaves `rel` (a file under `folder`) out, in words naming its file and line."""
    parts = Path(rel).parts
    rules = _Rules().below(folder, Path("."))
    for depth, part in enumerate(parts):
        here = folder.joinpath(*parts[:depth])
        if part in compiled_outputs(here):
            return f"{here / COMPILED_MARKER} names {part} as an output of `compile -o`; remove that line"
        if depth == len(parts) - 1:
            break
        if _skipped_dir(part):
            return f"cloudauto never ships a {part}/ folder"
        if _is_env_file(part):
            return f"cloudauto never ships a {part}/ folder: .env files hold credentials; move the script out of it"
        inner = Path(*parts[: depth + 1])
        found = rules.match(inner.as_posix() + "/")
        if found is not None and found[2]:
            source, index, _ = found
            return _folder_rule_advice(source, index, inner, rel)
        rules = rules.below(folder / inner, inner)
    name = parts[-1]
    if _is_env_file(name):
        return "cloudauto never ships .env files: they hold credentials; set the script's variables in command.env"
    if _skipped_file(name):
        return "cloudauto never ships compiled Python files, ignore files or its compile marker"
    found = rules.match(rel)
    if found is not None and found[2]:
        source, index, _ = found
        return f"{source.path}:{index + 1} ({source.lines[index].strip()}) ignores it; add !{source.relative(rel)} below it"
    return "it is not a regular file"


def _folder_rule_advice(source: _IgnoreFile, index: int, inner: Path, rel: str) -> str:
    """gitignore re-includes nothing inside a left-out folder: what to write instead of the line that leaves it out."""
    top, path = source.relative(inner.as_posix()), source.relative(rel)
    lines = [f"{top}/*"]
    middle = Path(path).parent
    for depth in range(len(Path(top).parts), len(middle.parts)):
        step = Path(*middle.parts[: depth + 1]).as_posix()
        lines += [f"!{step}/", f"{step}/*"]
    lines.append(f"!{path}")
    return (
        f"{source.path}:{index + 1} ({source.lines[index].strip()}) leaves out the folder {inner.as_posix()}/, and "
        f"gitignore re-includes nothing inside a left-out folder: write {', '.join(f'`{x}`' for x in lines)} "
        "in place of that line (or remove it)"
    )


def compiled_outputs(folder: Path) -> set[str]:
    """The names `compile -o` wrote in `folder` (its COMPILED_MARKER file), none if it wrote nothing there.

    Only a regular file is read (a named pipe so named is never waited on), and at most _MARKER_MAX_BYTES of it."""
    try:
        fd = os.open(folder / COMPILED_MARKER, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return set()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return set()
        text = os.read(fd, _MARKER_MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return set()
    finally:
        os.close(fd)
    names = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    # compile writes bare names of this folder's entries; a path (a hand edit, a merge) names nothing of compile's
    return {n for n in names if "/" not in n and "\\" not in n and n not in (".", "..")}


@contextmanager
def folder_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """An flock on the folder itself: `compile -o` holds it exclusively while it marks and writes its outputs there,
    a code snapshot of the folder shared while it reads, so a snapshot never sees an output not yet in the marker."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a folder we cannot open: nothing to hold (what reads or writes it says why)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def mark_compiled(folder: Path, names: set[str], drop: Iterable[str] = ()) -> None:
    """Add `names` to `folder`'s COMPILED_MARKER (kept across compiles, written atomically), leaving out `drop`
    (an earlier compile's outputs, removed).

    Called under folder_lock(folder, exclusive=True): a `.cloudauto-compiled.<pid>.tmp` there is what a killed compile
    left, removed here. A COMPILED_MARKER that is not a regular file (a folder, a named pipe) is an OutputError."""
    from ..backend import OutputError

    marker = folder / COMPILED_MARKER
    if (marker.exists() or marker.is_symlink()) and not (marker.is_file() and not marker.is_symlink()):
        raise OutputError(
            f"{marker}: not a file; compile names what it writes in {folder} in a file of that name: remove or "
            "rename it, or name another -o; nothing was written"
        )
    for leftover in folder.glob(f"{COMPILED_MARKER}.*.tmp"):
        if _is_marker_tmp(leftover.name) and (leftover.is_symlink() or leftover.is_file()):
            leftover.unlink(missing_ok=True)
    names = (compiled_outputs(folder) - set(drop)) | names
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    text = (
        "# written by `cloudauto compile -o`: what it wrote in this folder.\n"
        "# A command job's code snapshot (command.code) leaves these out.\n" + "".join(f"{n}\n" for n in sorted(names))
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise OutputError(f"{tmp}: is there and is not a file compile left; remove it; nothing was written") from None
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    tmp.replace(marker)


@dataclass(frozen=True)
class _IgnoreFile:
    """One folder's ignore file: its patterns apply to paths under `base` (relative to the code folder)."""

    path: Path
    base: Path
    lines: list[str]
    spec: Any  # pathspec.GitIgnoreSpec

    def relative(self, rel: str) -> str:
        """`rel` (relative to the code folder) as this file's patterns see it."""
        if self.base == Path("."):
            return rel
        return Path(rel).relative_to(self.base).as_posix() + ("/" if rel.endswith("/") else "")


@dataclass(frozen=True)
class _Rules:
    """The ignore files that apply in one folder of the code, outermost first; called with a path relative to the
    code folder (a folder's ending in "/"), True when it is left out."""

    files: tuple[_IgnoreFile, ...] = ()

    def below(self, folder: Path, rel_dir: Path) -> _Rules:
        """These rules and `folder`'s own ignore file (the first of IGNORE_FILES found there)."""
        found = next((folder / n for n in IGNORE_FILES if (folder / n).is_file()), None)
        if found is None:
            return self
        try:
            import pathspec
        except ImportError:  # pragma: no cover - a core dependency
            raise BundleError(f"{found}: reading an ignore file needs pathspec: pip install pathspec") from None
        try:
            lines = found.read_text(encoding="utf-8").splitlines()
            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BundleError(f"{found}: cannot read it as a gitignore file ({exc})") from None
        return _Rules((*self.files, _IgnoreFile(found, rel_dir, lines, spec)))

    def match(self, rel: str) -> Optional[tuple[_IgnoreFile, int, bool]]:
        """The line that decides `rel`: in the deepest ignore file with a matching line, its last; with whether it
        leaves `rel` out (False for a `!` line). None when no line matches."""
        for source in reversed(self.files):
            result = source.spec.check_file(source.relative(rel))
            if result.include is not None:
                return source, result.index, bool(result.include)
        return None

    def __call__(self, rel: str) -> bool:
        found = self.match(rel)
        return found is not None and found[2]


def requirements(spec: Optional[JobSpec] = None) -> str:
    """requirements.txt: what the core needs beyond an AutoGluon image, and the spec's foundation families' packages
    the AWS images lack (the toolkits install it before the entry or the handler runs)."""
    from .foundation_packages import image_requirements

    return REQUIREMENTS + "".join(f"{line}\n" for line in image_requirements(spec))


def serving_files(spec: Optional[JobSpec] = None) -> dict[str, bytes]:
    """What an inference container needs beside the model: the handler module, cloudauto, and requirements.txt
    (with the packages the model of `spec` loads through)."""
    return {SERVE: _SERVE_TEXT.encode(), "requirements.txt": requirements(spec).encode(), **package_files()}


def bundle_files(spec: JobSpec, extra: Optional[Mapping[str, bytes]] = None, *, references: bool = True) -> dict[str, bytes]:
    """The trial's code: the entry, spec.json, the serving code, the command's code, and `extra` (checkpoints.json).

    spec.json keeps each value taken from `${NAME}` as its reference, as the run store does, and
    references.json names them: the bundle is uploaded and written by `compile -o`, so it never
    holds a value; the trial gets them in its environment (`reference_environment`).
    `references=False` writes the values (only for tests of bundles made before references).
    """
    data = spec.to_stored() if references else spec.to_dict()
    files = {
        ENTRY: _ENTRY_TEXT.encode(),
        "spec.json": (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(),
        **serving_files(spec),
    }
    if references:
        files[REFERENCES] = (json.dumps(sorted(spec._interpolated)) + "\n").encode()
    if spec.command is not None:
        base = Path(spec.base_dir or ".")
        files.update(code_files((base / spec.command.code).resolve(), run=spec.command.run, leave_out=spec_leaves_out(spec)))
    files.update(extra or {})
    return files


def reference_environment(spec: JobSpec) -> dict[str, str]:
    """The `${NAME}` values the bundle's spec.json reads: what a trial's environment must hold."""
    return dict(sorted(spec._interpolated.items()))


def tar(files: dict[str, bytes]) -> bytes:
    """The files as an uncompressed tar, the same bytes for the same files (sorted names, no times, each file's
    mode: 0644, or its source's for FileBytes, so a private file stays private)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, file_mode(files[name])
            archive.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def gz(raw: bytes) -> bytes:
    import gzip

    return gzip.compress(raw, mtime=0)


def tar_gz(files: dict[str, bytes]) -> bytes:
    return gz(tar(files))


def write_folder(files: dict[str, bytes], dest: Path) -> Path:
    for name, data in files.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file(target, data)
    return dest


__all__ = [
    "COMPILED_MARKER",
    "ENTRY",
    "IGNORE_FILES",
    "REFERENCES",
    "SERVE",
    "RUN_STORE_MARKER",
    "BundleError",
    "FileBytes",
    "SnapshotRefused",
    "bundle_files",
    "code_files",
    "compiled_outputs",
    "file_mode",
    "folder_lock",
    "mark_compiled",
    "reference_environment",
    "serving_files",
    "spec_leaves_out",
    "gz",
    "tar",
    "tar_gz",
    "write_file",
    "write_folder",
]
