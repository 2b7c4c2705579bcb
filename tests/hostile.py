"""Damage an artifact the way an attacker with write access to a bare directory can: change
a file and record its new SHA-256 in the manifest, or edit the manifest itself. Also a
small UBJSON encoder, to write XGBoost models with chosen content, and helpers to edit
LightGBM's text format."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"


def replace_file(artifact: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to the artifact's file ``relative`` and update its hash, so that
    only the file's content can refuse it."""
    path = artifact / relative
    path.write_bytes(data)
    edit_manifest(
        artifact, lambda m: m["files"].__setitem__(relative, hashlib.sha256(data).hexdigest())
    )
    return path


def edit_manifest(artifact: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    manifest = json.loads((artifact / MANIFEST).read_text())
    change(manifest)
    (artifact / MANIFEST).write_text(json.dumps(manifest))


def member_file(artifact: Path, family: str) -> str:
    """The artifact-relative path of the ``family`` member's model file."""
    manifest = json.loads((artifact / MANIFEST).read_text())
    entry = next(m for m in manifest["members"] if m["family"] == family)
    return f"{entry['dir']}/{entry['learner']['meta']['files'][0]}"


_MARKERS = {"i1": b"i", "u1": b"U", "i2": b"I", "i4": b"l", "i8": b"L", "f4": b"d", "f8": b"D"}


def _length(n: int) -> bytes:
    return b"L" + struct.pack(">q", n)


def ubjson(value: Any) -> bytes:
    """``value`` as UBJSON the way XGBoost writes it: NumPy arrays as typed arrays of their
    dtype, lists untyped, integers as int64 (XGBoost checks the types it reads). After
    ``decode_ubjson`` it gives an equivalent model XGBoost reads."""
    if isinstance(value, dict):
        items = (_length(len(k.encode())) + k.encode() + ubjson(v) for k, v in value.items())
        return b"{" + b"".join(items) + b"}"
    if isinstance(value, np.ndarray):
        dtype = value.dtype.str[1:]
        data = value.astype(">" + dtype).tobytes()
        return b"[$" + _MARKERS[dtype] + b"#" + _length(value.size) + data
    if isinstance(value, list):
        return b"[#" + _length(len(value)) + b"".join(ubjson(v) for v in value)
    if isinstance(value, str):
        return b"S" + _length(len(value.encode())) + value.encode()
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"D" + struct.pack(">d", value)
    if value is None:
        return b"Z"
    raise TypeError(type(value).__name__)


def lightgbm_blocks(text: str) -> tuple[str, list[str], str]:
    """A LightGBM model text as (header, tree blocks, rest from 'end of trees')."""
    start = text.index("\nTree=0\n") + 1
    end = text.index("end of trees\n")
    body = text[start:end]
    blocks = ["Tree=" + b for b in body.split("Tree=")[1:]]
    return text[:start], blocks, text[end:]


def with_tree_sizes(header: str, blocks: list[str], rest: str) -> str:
    """Join a LightGBM text with ``tree_sizes`` recomputed from the blocks, so that only
    the blocks' content (not their lengths) can refuse it."""
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    lines = header.split("\n")
    lines = [f"tree_sizes={sizes}" if line.startswith("tree_sizes=") else line for line in lines]
    return "\n".join(lines) + "".join(blocks) + rest


def edit_tree_line(block: str, key: str, change: Callable[[list[str]], list[str]]) -> str:
    """A tree block with the items of line ``key`` changed."""
    lines = block.split("\n")
    for i, line in enumerate(lines):
        name, _, value = line.partition("=")
        if name == key:
            lines[i] = f"{key}={' '.join(change(value.split(' ') if value else []))}"
    return "\n".join(lines)
