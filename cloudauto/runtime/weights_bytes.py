"""Whether a weights file holds what its name says: a cheap look at its first and last bytes, standard library only.

A text file named `model.safetensors`, a download cut short, a `.ckpt` that is no torch checkpoint pass a folder's
layout check and fail every trial at run (on the clouds: paid trials). These checks read a safetensors file's header
(at most HEADER_BYTES, the safetensors library's own limit), a checkpoint's first 16 bytes and last 64 KB, a JSON file of at
most 4 MB; regular files only (a named pipe would hang the read, a device never end). Each returns why the file is
not what its name says, or None.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Optional

HEADER_BYTES = 100_000_000  # safetensors' MAX_HEADER_SIZE: a longer header is refused by the library itself
ZIP_START = b"PK\x03\x04"  # torch.save's archive (PyTorch >= 1.6)
ZIP_END = b"PK\x05\x06"  # a zip's end of central directory: at most 64 KB of comment after it
PICKLE = 0x80  # torch.save's legacy format starts with the pickle protocol opcode


def _start(data: bytes) -> str:
    return repr(data[:16])


def regular_problem(path: Path) -> Optional[str]:
    """Why a path is no regular file to read: a link to nothing (an HF cache whose blob is gone), a pipe, a device."""
    if path.is_symlink() and not path.exists():
        return f"is a link to {path.readlink()}, which is not there (a download cut short?)"
    if not path.is_file():
        return "is not a regular file"
    return None


def read_json(path: Path, limit: int, skip: int = 0, exact: bool = False) -> tuple[Any, Optional[str]]:
    """(the JSON a file holds after `skip`, None) or (None, why not): not a regular file, more than `limit` bytes
    (with `exact`: not exactly `limit`), not JSON, or nested deeper than Python's parser goes."""
    wrong = regular_problem(path)
    if wrong:
        return None, wrong
    try:
        with path.open("rb") as f:
            f.seek(skip)
            data = f.read(limit if exact else limit + 1)
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    if not exact and len(data) > limit:
        return None, f"holds more than {limit >> 20} MB (no model's config is so large)"
    if exact and len(data) != limit:
        return None, f"ends after {len(data)} of its {limit} bytes"
    try:
        return json.loads(data), None
    except json.JSONDecodeError as error:
        return None, f"is not JSON ({error.msg}, line {error.lineno} column {error.colno}; it starts with {_start(data)})"
    except ValueError:  # not UTF-8 (or -16/-32) text
        return None, f"is not JSON: not text (it starts with {_start(data)})"
    except RecursionError:
        return None, "is not JSON a model reads: nested deeper than Python's parser goes"


def json_object_problem(path: Path, limit: int) -> Optional[str]:
    """Why a config.json is no JSON object of at most `limit` bytes, or None."""
    held, wrong = read_json(path, limit)
    if wrong:
        return wrong
    return None if isinstance(held, dict) else f"holds a JSON {type(held).__name__}, not an object"


def safetensors_header(path: Path) -> tuple[Optional[dict[str, Any]], Optional[str], int]:
    """(the JSON header of a .safetensors file, None, its length) or (None, why the file is no safetensors file, 0)."""
    wrong = regular_problem(path)
    if wrong:
        return None, wrong, 0
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            start = f.read(16)
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})", 0
    if size < 8:
        return None, f"is not a safetensors file: it holds {size} bytes, fewer than the 8 that give its header's length", 0
    (length,) = struct.unpack("<Q", start[:8])
    if length > HEADER_BYTES or 8 + length > size:
        return None, (
            f"is not a safetensors file: its first 8 bytes give a header of {length} bytes, the file holds {size} "
            f"(it starts with {_start(start)})"
        ), 0
    header, wrong = read_json(path, length, skip=8, exact=True)
    if wrong:
        return None, f"is not a safetensors file: its header {wrong}", 0
    if not isinstance(header, dict):
        return None, f"is not a safetensors file: its header holds a JSON {type(header).__name__}, not an object", 0
    return header, None, length


def _ints(value: Any, count: Optional[int] = None) -> bool:
    return (
        isinstance(value, list)
        and (count is None or len(value) == count)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )


def safetensors_problem(path: Path) -> Optional[str]:
    """Why a .safetensors file would not load: no header, a header the library refuses, or tensors that do not
    cover the bytes after the header exactly (the library refuses a file shorter or longer than its tensors)."""
    header, wrong, length = safetensors_header(path)
    if header is None:
        return wrong
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        return "is not a safetensors file: its header's __metadata__ is not an object of strings"
    spans = []
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(tensor, dict) and isinstance(tensor.get("dtype"), str) and _ints(tensor.get("shape"))
        if not ok or not _ints(tensor.get("data_offsets"), 2) or tensor["data_offsets"][0] > tensor["data_offsets"][1]:
            return f"is not a safetensors file: its header's entry {name[:80]!r} is no tensor (dtype, shape, data_offsets)"
        spans.append(tuple(tensor["data_offsets"]))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            return f"is not a safetensors file: its tensors leave a gap or overlap at byte {min(begin, at)} after its header"
        at = end
    try:
        held = path.stat().st_size - 8 - length
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if at > held:
        return f"is cut short: its tensors need {at} bytes after its header, the file holds {held} (a download cut short?)"
    if at < held:
        return f"holds {held - at} bytes more than its tensors take ({at} after its header), which safetensors refuses"
    return None


def torch_problem(path: Path) -> Optional[str]:
    """Why a .ckpt / pytorch_model.bin is no torch checkpoint: torch.save writes a zip archive (b'PK\\x03\\x04' ...
    its central directory at the end) or, in the legacy format, a pickle (first byte 0x80)."""
    wrong = regular_problem(path)
    if wrong:
        return wrong
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            start = f.read(16)
            if start[:4] != ZIP_START:
                tail = b""
            else:
                f.seek(max(0, size - (1 << 16) - 22))
                tail = f.read()
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if start[:4] == ZIP_START:
        if ZIP_END not in tail:
            return (
                f"is cut short: a zip archive (as torch.save writes) of {size} bytes without the directory a zip ends "
                "with (a download cut short?)"
            )
        return None
    if start[:1] == bytes([PICKLE]):
        return None
    return (
        f"is not a torch checkpoint: it starts with {_start(start)}, not a zip archive (b'PK\\x03\\x04', as torch.save "
        "writes) or a pickle (0x80)"
    )


def index_problem(path: Path, limit: int) -> Optional[str]:
    """Why a sharded model's index (`model.safetensors.index.json`) does not lead to its shards: not a JSON object
    with a weight_map, or a shard it names that the folder does not hold."""
    held, wrong = read_json(path, limit)
    if wrong:
        return wrong
    shards = held.get("weight_map") if isinstance(held, dict) else None
    if not isinstance(shards, dict) or not all(isinstance(v, str) for v in shards.values()):
        return "is no shard index: not a JSON object with a weight_map of file names"
    for name in sorted(set(shards.values())):
        shard = path.parent / name
        if "/" in name or "\\" in name or not (shard.is_file() or (shard.is_symlink() and not shard.exists())):
            return f"names the shard {name[:120]!r}, which the folder does not hold (a download cut short?)"
    return None
