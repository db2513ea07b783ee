"""Loading a spec: bytes -> YAML nodes with positions -> plain data -> JobSpec.

Every failure on the way becomes a `SpecError` whose issues carry the file, line,
column and field path. The YAML is composed (not constructed) so that each value keeps
its position; `${VAR}` interpolation and `--set` overrides happen on the plain data,
each value remembering where it came from.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError

from ..secrets import remember
from .errors import SpecError, SpecIssue

try:  # libyaml is several times faster; PyYAML's wheels ship it
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 1 << 20  # a spec is a page of YAML, not a data set
MAX_NODES = 100_000  # bounds alias expansion ("billion laughs")
MAX_DEPTH = 100  # lists and mappings within each other; libyaml's composer recurses and would overflow the C stack
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_VAR = re.compile(r"\$(\$?)\{(?!\{)([^}]*)\}")
_VAR_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null")}

Pos = tuple[Optional[int], Optional[int]]  # 1-based line, column


class _Positions:
    """Where each value (and each mapping key) of the document came from."""

    def __init__(self, source: str):
        self.source = source
        self.values: dict[tuple, Pos] = {}
        self.keys: dict[tuple, Pos] = {}
        self.origin: dict[tuple, str] = {}  # path -> "--set" when an override put it there
        self.hints: dict[str, str] = {}  # "--set ..." -> a hint for the issues it causes (how to quote a dotted name)
        self.collections: set[tuple] = set()
        self.data: Any = None  # the document, kept so later issues can be located

    def locate(self, path: tuple, *, key: bool = False) -> tuple[str, Pos]:
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            origin = self.origin.get(prefix)
            if origin:
                return origin, (None, None)
            # a scalar at its value; a mapping or list, or a missing field's parent, at its key
            at_key = key or end < len(path) or prefix in self.collections
            tables = (self.keys, self.values) if at_key else (self.values,)
            for table in tables:
                if prefix in table:
                    return self.source, table[prefix]
        return self.source, (None, None)


class _Builder:
    def __init__(self, source: str, env: Optional[Mapping[str, str]]):
        self.pos = _Positions(source)
        self.env = env  # None: no ${VAR} interpolation (a --set value, which the shell has expanded already)
        self.issues: list[SpecIssue] = []
        self.interpolated: dict[str, str] = {}
        self.references: dict[str, str] = {}  # name -> ${NAME} or ${NAME:-default}, as the spec wrote it
        self.count = 0
        self._constructor = yaml.constructor.SafeConstructor()

    def _issue(self, node: yaml.Node, path: tuple, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        self.issues.append(SpecIssue(message, path, self.pos.source, mark.line + 1, mark.column + 1, hint=hint))

    def build(self, node: yaml.Node, path: tuple = (), depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(f"the document expands to more than {MAX_NODES:,} values (aliases?)", node)
        if depth > MAX_DEPTH:  # aliases can nest what the text does not
            raise _TooLarge(f"the document is nested more than {MAX_DEPTH} levels deep (aliases?)", node)
        self.pos.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            self.pos.collections.add(path)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    value = self.build(src, path, depth + 1)
                    if not isinstance(value, dict):
                        self._issue(key_node, path, "a YAML merge key (<<) must refer to a mapping")
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._issue(key_node, path, "a mapping key must be a plain name, not a list or a mapping")
                continue
            key = key_node.value
            if key in out:
                self._issue(key_node, (*path, key), f"'{key}' is given twice in the same mapping")
                continue
            self.pos.keys[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        if node.tag == _STR_TAG or node.tag.startswith("tag:yaml.org,2002:timestamp"):
            text = node.value
            if not node.style and _NUMBER.match(text):  # plain (libyaml says '', PyYAML None)
                # YAML 1.1 reads 1e-3 as a string; every user means the number
                return float(text) if any(c in text for c in ".eE") else int(text)
            return self._interpolate(node, path, text) if "$" in text and self.env is not None else text
        if node.tag == "tag:yaml.org,2002:binary":
            self._issue(node, path, "binary (!!binary) values are not part of a job spec")
            return None
        if node.tag not in _SCALAR_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            self._issue(node, path, f"unsupported YAML tag {shown}", hint="a spec holds plain strings, numbers and booleans")
            return None
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self._issue(node, path, f"cannot read the value {node.value!r}: {exc}")
            return None

    def _interpolate(self, node: yaml.Node, path: tuple, text: str) -> str:
        def problem(message: str, hint: str, missing: Optional[str] = None) -> None:
            self._issue(node, path, message, hint=hint)

        return _substitute(text, self.env or {}, self.interpolated, self.references, problem)


def _substitute(
    text: str,
    env: Mapping[str, str],
    used: dict[str, str],
    references: dict[str, str],
    problem: typing.Callable[..., None],
) -> str:
    """`${NAME}` and `${NAME:-default}` in `text` filled from `env`; `$${...}` is a literal `${...}`.

    Each value taken from `env` goes into `used` (so what is printed can hide it) and its
    reference into `references` (so what is kept holds the reference, never the value).
    """

    def sub(match: re.Match) -> str:
        if match.group(1):  # $${VAR} is a literal ${VAR}
            return "${" + match.group(2) + "}"
        ref = _VAR_NAME.match(match.group(2))
        if not ref:
            problem(
                f"'${{{match.group(2)}}}' is not a variable reference",
                "write ${NAME} or ${NAME:-default}; $${...} for a literal",
            )
            return match.group(0)
        name, default = ref.group(1), ref.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problem(f"environment variable {name} is not set", f"export {name}=..., or write ${{{name}:-default}}", name)
                return match.group(0)
            return default
        used[name] = value
        form = match.group(0)
        # one name read with different defaults (or none) is kept as required: a resume without it refuses
        references[name] = form if references.get(name, form) == form else "${" + name + "}"
        return value

    return _VAR.sub(sub, text)


def as_references(data: Any, used: Mapping[str, str], references: Mapping[str, str]) -> Any:
    """Spec data with each value taken from the environment put back as its `${NAME}`: the form the run store keeps.

    A literal `${...}` in the data is escaped (`$${...}`), so `resolve_references` gives the same
    data back. Values too short to count as secrets (cloudauto.secrets) are kept as they are.
    """
    from ..secrets import long_enough

    refs = {value: references.get(name, "${" + name + "}") for name, value in used.items() if long_enough(value)}
    values = "|".join(re.escape(v) for v in sorted(refs, key=len, reverse=True))
    pattern = re.compile(f"(?P<value>{values})|(?P<literal>{_VAR.pattern})" if values else f"(?P<literal>{_VAR.pattern})")

    def text(s: str) -> str:
        return pattern.sub(lambda m: refs[m.group("value")] if m.group("value") else "$" + m.group("literal"), s)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data)


def resolve_references(data: Any, env: Mapping[str, str]) -> tuple[Any, dict[str, str], dict[str, str], list[str]]:
    """The stored form back to spec data, each `${NAME}` read from `env` now.

    Returns (data, the values used, their references, the names `env` lacks that have no default);
    a missing one is left as its reference.
    """
    used: dict[str, str] = {}
    references: dict[str, str] = {}
    missing: list[str] = []

    def problem(message: str, hint: str, name: Optional[str] = None) -> None:
        if name and name not in missing:
            missing.append(name)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _substitute(value, env, used, references, problem) if "$" in value else value
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data), used, references, missing


def spec_from_store(data: dict, *, source: str, env: Optional[Mapping[str, str]] = None, require: bool = False):
    """A JobSpec from a run store's stored form, its `${NAME}` read from the environment now.

    `require`: a variable the spec needs (no default) and the environment lacks is an error
    naming it (a scheduler about to start trials); otherwise it stays a reference (a reader).
    """
    _bound(data, _Positions(source))  # resolve_references recurses
    resolved, used, references, missing = resolve_references(data, os.environ if env is None else env)
    if missing and require:
        names = ", ".join(missing)
        raise SpecError(
            [
                SpecIssue(
                    f"the spec reads ${{{missing[0]}}} and the environment lacks {names}; "
                    "the run store keeps the reference, never the value",
                    file=source,
                    hint=f"export {missing[0]}=... (as when the job was submitted) and run the command again",
                )
            ]
        )
    try:
        spec = validate_data(resolved, source=source)
    except SpecError:
        if not missing:
            raise
        names = ", ".join(missing)
        raise SpecError(
            [SpecIssue(f"the spec cannot be read without {names}", file=source, hint=f"export {missing[0]}=... and retry")]
        ) from None
    spec._interpolated = used
    spec._references = references
    remember(used)
    return spec


class _TooLarge(Exception):
    """The document is too big or too deep to build; `node` is where the limit was passed."""

    def __init__(self, message: str, node: yaml.Node):
        super().__init__(message)
        self.message, self.node = message, node

    def issue(self, source: str) -> SpecIssue:
        mark = self.node.start_mark
        return SpecIssue(self.message, file=source, line=mark.line + 1, column=mark.column + 1)


def _check_depth(text: str, source: str) -> None:
    """Refuse nesting past MAX_DEPTH before libyaml composes it: its composer recurses in C, and a deep enough
    document (26,000 `[`, 52 KB) overflows the stack and kills the process. The event parser keeps a stack of
    its own, so walking its events is safe; a malformed document is left for the composer to report."""
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise SpecError(
                        [
                            SpecIssue(
                                f"the document is nested more than {MAX_DEPTH} levels deep",
                                file=source,
                                line=mark.line + 1,
                                column=mark.column + 1,
                                hint="a spec nests a few levels; is this file generated?",
                            )
                        ]
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _read(path: Path) -> bytes:
    import stat

    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the read, or never end
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            raise SpecError([SpecIssue(f"is {kind}, not a regular file; give the spec file itself", file=str(path))])
        size = info.st_size
        if size > MAX_BYTES:
            raise SpecError([SpecIssue(f"the file is {size:,} bytes; a spec may be at most {MAX_BYTES:,}", file=str(path))])
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        where = "" if path.is_absolute() else f": {path.absolute()}"  # from the wrong folder, where it looked
        raise SpecError([SpecIssue(f"no such file{where}", file=str(path))]) from None
    except IsADirectoryError:
        raise SpecError([SpecIssue("is a directory, not a spec file", file=str(path))]) from None
    except OSError as exc:
        raise SpecError([SpecIssue(f"cannot read the file: {exc.strerror or exc}", file=str(path))]) from None
    if len(data) > MAX_BYTES:
        raise SpecError([SpecIssue(f"the file is over {MAX_BYTES:,} bytes", file=str(path))])
    return data


def _decode(data: bytes, source: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            [
                SpecIssue(
                    f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); is this a spec file?",
                    file=source,
                    line=line,
                )
            ]
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SpecError([SpecIssue("the file contains NUL bytes; is this a spec file?", file=source, line=line)])
    return text


def _compose(text: str, source: str) -> yaml.Node | None:
    _check_depth(text, source)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(filter(None, [exc.problem, f"({exc.context})" if exc.context else None]))
        raise SpecError(
            [
                SpecIssue(
                    f"malformed YAML: {problem or exc}",
                    file=source,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(f"malformed YAML: {exc}", file=source)]) from None
    except RecursionError:
        raise SpecError([SpecIssue("the YAML is nested too deeply", file=source)]) from None
    return node


def load_spec(path: str | os.PathLike, *, overrides: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None):
    """Load and validate a spec file (YAML or JSON). Raises `SpecError`."""
    path = Path(path)
    return load_spec_text(_decode(_read(path), str(path)), source=str(path), overrides=overrides, env=env)


def load_spec_text(
    text: str, *, source: str = "<string>", overrides: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None
):
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([SpecIssue(f"the spec is over {MAX_BYTES:,} bytes", file=source)])
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise SpecError([SpecIssue("the spec is empty", file=source, hint="start from job_specs/iris.yaml")])
    node = _compose(text, source)
    if node is None:
        raise SpecError([SpecIssue("the spec is empty", file=source)])
    builder = _Builder(source, os.environ if env is None else env)
    try:
        data = builder.build(node)
    except _TooLarge as exc:
        raise SpecError([exc.issue(source)]) from None
    except RecursionError:
        raise SpecError([SpecIssue("the YAML is nested too deeply", file=source)]) from None
    if builder.issues:
        raise SpecError(builder.issues)
    if not isinstance(data, dict):
        line, col = builder.pos.values.get((), (None, None))
        raise SpecError(
            [
                SpecIssue(
                    f"a spec is a mapping of fields (name, task, data, ...), got a {_kind(data)}",
                    file=source,
                    line=line,
                    column=col,
                )
            ]
        )
    apply_overrides(data, overrides or [], builder.pos)
    try:
        spec = _validate(data, builder.pos)
    except SpecError as exc:
        for issue in exc.issues:
            if issue.file in builder.pos.hints and not issue.hint:
                issue.hint = builder.pos.hints[issue.file]
        raise
    if source and not source.startswith("<"):
        spec._source = source
    builder.pos.data = data
    spec._positions = builder.pos
    spec._interpolated = builder.interpolated
    spec._references = builder.references
    remember(builder.interpolated)
    return spec


def validate_data(data: Any, *, source: str = "<python>"):
    """Validate plain data (from Python or JSON); issues carry field paths but no lines."""
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(f"a spec is a mapping of fields, got a {_kind(data)}", file=source)])
    return _validate(data, _Positions(source))


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def apply_overrides(data: dict, overrides: list[str], pos: Optional[_Positions] = None) -> None:
    """Apply `a.b=c` overrides; the value is read as YAML, so numbers stay numbers."""
    for raw in overrides:
        origin = _shown(f"--set {raw}")
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as exc:  # bytes the shell passed through (--set name=$'\xff')
            raise SpecError(
                [SpecIssue(f"not UTF-8 text (byte 0x{ord(raw[exc.start]) & 0xFF:02x} at offset {exc.start})", file=origin)]
            ) from None
        parts, value_text = _split_override(raw)
        if parts is None:
            raise SpecError(
                [
                    SpecIssue(
                        "an override is FIELD.PATH=VALUE, e.g. limits.max_trials=5; "
                        'quote a name that holds dots: sweep.space."GBM.num_leaves"=31',
                        file=origin,
                    )
                ]
            )
        if len(parts) > MAX_DEPTH:  # before the path is walked (joining dotted names is quadratic in its length)
            raise SpecError(
                [
                    SpecIssue(
                        f"the field path is nested more than {MAX_DEPTH} levels deep",
                        file=origin,
                        path=tuple(parts[: MAX_DEPTH + 1]),
                    )
                ]
            )
        value = _override_value(value_text, origin)
        node: Any = data
        path: list = []
        i = 0
        while i < len(parts):
            part = parts[i]
            if isinstance(node, dict) and part not in node:  # an unquoted name with dots that the spec has: GBM.num_leaves
                joined = next((".".join(parts[i:j]) for j in range(len(parts), i + 1, -1) if ".".join(parts[i:j]) in node), None)
                if joined is not None:
                    parts[i : i + joined.count(".") + 1] = [joined]
                    part = joined
            last = i == len(parts) - 1
            i += 1
            index: Any = int(part) if part.isdigit() and isinstance(node, list) else part
            if isinstance(node, list):
                if not isinstance(index, int) or not -len(node) <= index < len(node):
                    raise SpecError(
                        [
                            SpecIssue(
                                f"'{part}' is not an index of the list at {'.'.join(map(str, path)) or '<root>'}",
                                file=origin,
                                path=tuple(path),
                            )
                        ]
                    )
            elif not isinstance(node, dict):
                raise SpecError(
                    [SpecIssue(f"'{'.'.join(map(str, path))}' is a value, not a mapping", file=origin, path=tuple(path))]
                )
            path.append(index)
            if last:
                node[index] = value
            else:
                if isinstance(node, dict) and index not in node:
                    node[index] = {}
                    if pos is not None:  # a mapping the override made: an issue there is the --set's, not the file's
                        pos.origin.setdefault(tuple(path), origin)
                        if path[:2] == ["sweep", "space"] and len(path) == 3:  # a parameter name such as GBM.num_leaves
                            name = ".".join(map(str, parts[2:]))
                            pos.hints.setdefault(
                                origin, f"""one parameter name with a dot is quoted: --set 'sweep.space."{name}"={_shown(value_text)}'"""
                            )
                node = node[index]
        if pos is not None:
            pos.origin[tuple(path)] = origin


def _shown(text: str, limit: int = 200) -> str:
    """A command-line argument as it can be printed: bytes that are not UTF-8 escaped, a long one cut."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _override_value(text: str, origin: str) -> Any:
    """A --set value, read as the same value in the file would be: the same scalar typing (1e-300 is a number,
    "5" a string), the same depth and size limits, no tags; the shell has done any ${VAR} expansion."""
    if not text.strip():
        return ""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise SpecError([SpecIssue(f"the value is over {MAX_BYTES:,} bytes", file=origin)])
    try:
        node = _compose(text, origin)
    except SpecError as exc:
        for issue in exc.issues:
            issue.line = issue.column = None  # a line of the argument, which is no file
        raise
    if node is None:
        return None
    builder = _Builder(origin, None)
    try:
        value = builder.build(node)
    except _TooLarge as exc:
        raise SpecError([SpecIssue(exc.message, file=origin)]) from None
    except RecursionError:
        raise SpecError([SpecIssue("the value is nested too deeply", file=origin)]) from None
    if builder.issues:
        for issue in builder.issues:
            issue.line = issue.column = None
        raise SpecError(builder.issues)
    return value


def _split_override(raw: str) -> tuple[Optional[list[str]], str]:
    """`a."b.c".d=value` -> (["a", "b.c", "d"], "value"); (None, "") when it is no FIELD.PATH=VALUE."""
    parts, current, quote, i = [], "", None, 0
    while i < len(raw):
        char = raw[i]
        if quote:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in "\"'" and not current:
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        elif char == "=":
            parts.append(current.strip())
            if quote or any(not p for p in parts):
                return None, ""
            return parts, raw[i + 1 :]
        else:
            current += char
        i += 1
    return None, ""


def _bound(data: Any, pos: _Positions) -> None:
    """Refuse data nested past MAX_DEPTH or holding more than MAX_NODES values, as the YAML path does, before
    anything recurses into it: a dict from Python (from_dict, a cycle, shared lists) or a --set path can hold
    anything. Walked with a stack, so no depth is too deep to be refused."""
    stack: list[tuple[Any, tuple]] = [(data, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        problem = None
        if len(path) > MAX_DEPTH:
            problem = f"the spec is nested more than {MAX_DEPTH} levels deep"
        elif count > MAX_NODES:
            problem = f"the spec holds more than {MAX_NODES:,} values (a list shared many times?)"
        if problem:
            file, (line, column) = pos.locate(path)
            raise SpecError([SpecIssue(problem, path=path, file=file, line=line, column=column)])
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def _validate(data: dict, pos: _Positions):
    from .models import JobSpec

    _bound(data, pos)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_from_pydantic(exc, data, pos)) from None
    except SpecError as exc:
        for issue in exc.issues:
            issue.path = _data_path(issue.path, data)
            issue.file, (issue.line, issue.column) = pos.locate(issue.path)
        raise SpecError(exc.issues) from None


def _data_path(loc: tuple, data: Any, *, name_missing: bool = True) -> tuple:
    """Map a model location onto the user's data, dropping union tags and wrappers (and a missing key's name
    unless `name_missing`: a union member's tag such as `str` looks like one)."""
    node, path = data, []
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif name_missing and i == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str) and re.match(r"^[\w.\-]+$", part):
            path.append(part)  # a missing key: name it
    return tuple(path)


def _from_pydantic(exc: ValidationError, data: dict, pos: _Positions) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    seen: set[tuple] = set()
    errors = exc.errors(include_url=False)
    # a NaN in a union (a hyperparameter's value) fails each member: say only that it is not finite
    infinite = {_data_path(tuple(e["loc"]), data) for e in errors if e["type"] == "finite_number"}
    for err in errors:
        loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
        path = _data_path(loc, data)
        found = _data_path(loc, data, name_missing=kind == "missing")
        if kind != "finite_number" and found and any(found == bad[: len(found)] for bad in infinite):
            continue
        message, hint, on_key = err["msg"], None, False
        if kind == "extra_forbidden":
            on_key = True
            valid = _valid_fields(loc)
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
            message = f"unknown field '{loc[-1]}'"
            hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid fields: {', '.join(valid)}"
        elif kind == "missing":
            message = f"'{loc[-1]}' is required"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = re.findall(r"'([^']+)'", str(ctx.get("expected_tags", "")))
            tag = ctx.get("tag")
            close = difflib.get_close_matches(str(tag), tags, n=1, cutoff=0.6) if tag else []
            field = ctx.get("discriminator", "'policy'").strip("'")
            path = (*path, field)
            message = f"unknown {field} '{tag}'" if tag else f"'{field}' is required"
            hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid: {', '.join(tags)}"
        elif kind in ("enum", "literal_error"):
            valid = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            got = err.get("input")
            close = difflib.get_close_matches(str(got), valid, n=1, cutoff=0.6) if isinstance(got, str) else []
            message = f"{got!r} is not valid here" + (f"; did you mean '{close[0]}'?" if close else "")
            hint = f"valid: {', '.join(valid)}"
        elif kind == "string_pattern_mismatch" and path == ("name",):
            slug = re.sub(r"[^a-z0-9]+", "-", str(err.get("input")).lower()).strip("-")[:63] or "my-job"
            message = f"{err.get('input')!r} is not a valid name: lowercase letters, digits and hyphens"
            hint = f"e.g. '{slug}'"
        elif kind in (
            "greater_than",
            "greater_than_equal",
            "less_than",
            "less_than_equal",
            "too_short",
            "too_long",
            "string_too_short",
            "string_too_long",
            "string_pattern_mismatch",
        ):
            message = f"{err['msg'][0].lower()}{err['msg'][1:]}, got {_short(err.get('input'))}"
        elif kind == "finite_number":
            message = f"must be a finite number, got {_short(err.get('input'))}"
            hint = "NaN and infinity mean nothing here; JSON, which the services take, cannot carry them"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            message = f"{err['msg']}, got {_kind(err.get('input'))} {_short(err.get('input'))}"
        if isinstance(ctx.get("key"), str) and isinstance(_at(data, path), dict) and ctx["key"] in _at(data, path):
            path, on_key = (*path, ctx["key"]), True
        if (path, message) in seen:
            continue
        seen.add((path, message))
        source, (line, column) = pos.locate(path, key=on_key)
        issues.append(SpecIssue(message, path, source, line, column, hint=hint))
    return issues


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _valid_fields(loc: tuple) -> list[str]:
    """The field names of the model that rejected an unknown key at `loc`."""
    from .models import JobSpec

    models: list[type[BaseModel]] = [JobSpec]
    for part in loc[:-1]:
        if not models:
            return []
        owner = next((m for m in models if part in m.model_fields), None)
        if owner is not None:
            models = _models_in(owner.model_fields[part].annotation)
            continue
        tagged = [m for m in models if any(part in typing.get_args(f.annotation) for f in m.model_fields.values())]
        if tagged:
            models = tagged[:1]
    return sorted(models[0].model_fields) if len(models) == 1 else []


__all__ = ["MAX_BYTES", "apply_overrides", "load_spec", "load_spec_text", "validate_data"]
