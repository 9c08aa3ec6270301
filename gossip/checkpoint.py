"""Checkpoints of one peer: atomic files with a checksum, and the newest valid one on start.

Pure file I/O, no knowledge of the node: :func:`save` takes a dict of flat
arrays and a JSON-able metadata dict; :func:`load_latest` returns the newest
checkpoint whose checksum, layout and model fingerprint are right, skipping
(with a warning) anything corrupt, half-written or from another model.

File format (``ckpt-<step>-<nanoseconds>.gck``)::

    b"GOSSIPCK" | u32 version | u64 header length | header JSON | array bytes | sha256

The header lists each array (name, dtype, shape, offset, length) and the
metadata; the trailing SHA-256 covers everything before it. A file is written
under a temporary name, flushed and fsync'd, then renamed into place (and the
directory fsync'd), so a crash leaves either the old set or the new file,
never a torn one under a checkpoint name. The newest ``keep`` files are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gossip.errors import UsageError

log = logging.getLogger("gossip.checkpoint")

MAGIC = b"GOSSIPCK"
VERSION = 1
SUFFIX = ".gck"
_PREFIX = struct.Struct("<8sIQ")
_DIGEST = 32
_NAME = re.compile(r"^ckpt-(\d+)-(\d+)\.gck$")
MAX_HEADER_BYTES = 16 << 20
"""A header longer than this is corrupt (it lists arrays, not data)."""


class CheckpointError(Exception):
    """A checkpoint file is corrupt, truncated or not ours (never loaded)."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its arrays, metadata and where it came from."""

    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))


@dataclass
class Scan:
    """What :func:`load_latest` found: the checkpoint, and the files it skipped and why."""

    checkpoint: Checkpoint | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def checkpoint_dir(path: str | Path) -> Path:
    """Create (if needed) and return the directory; UsageError when it cannot be written."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", delete=True)  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise UsageError(f"--checkpoint-dir {directory} is not writable: {exc.strerror}") from exc
    return directory


def encode(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file (see the module docstring)."""
    entries = []
    offset = 0
    blobs: list[bytes] = []
    for name, array in arrays.items():
        data = np.ascontiguousarray(array).reshape(np.shape(array))  # a 0-d array stays 0-d
        blob = data.tobytes()
        entries.append(
            {
                "name": name,
                "dtype": data.dtype.str,
                "shape": list(data.shape),
                "offset": offset,
                "length": len(blob),
            }
        )
        blobs.append(blob)
        offset += len(blob)
    header = json.dumps({"meta": meta, "arrays": entries}, sort_keys=True).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(header)) + header + b"".join(blobs)
    return body + hashlib.sha256(body).digest()


def decode(data: bytes, path: Path = Path("?")) -> Checkpoint:
    """Parse and verify checkpoint bytes; CheckpointError for anything wrong."""
    if len(data) < _PREFIX.size + _DIGEST:
        raise CheckpointError("truncated (shorter than its fixed header)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    magic, version, header_len = _PREFIX.unpack_from(body)
    if magic != MAGIC:
        raise CheckpointError("not a gossip checkpoint (bad magic)")
    if version != VERSION:
        raise CheckpointError(f"unsupported checkpoint version {version}")
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError("checksum mismatch (corrupt or half-written)")
    if header_len > min(MAX_HEADER_BYTES, len(body) - _PREFIX.size):
        raise CheckpointError("header length out of range")
    start = _PREFIX.size + header_len
    try:
        header = json.loads(body[_PREFIX.size : start])
        meta = dict(header["meta"])
        arrays: dict[str, np.ndarray] = {}
        for entry in header["arrays"]:
            offset, length = int(entry["offset"]), int(entry["length"])
            if offset < 0 or length < 0 or start + offset + length > len(body):
                raise CheckpointError(f"array {entry['name']!r} lies outside the file")
            raw = body[start + offset : start + offset + length]
            array = np.frombuffer(raw, dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])
            arrays[str(entry["name"])] = array.copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed header: {exc}") from exc
    return Checkpoint(path, arrays, meta)


def save(
    directory: str | Path,
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
    *,
    keep: int = 3,
    now_ns: int | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file, fsync, rename); prune to the newest ``keep``."""
    directory = Path(directory)
    step = int(meta.get("step", 0))
    stamp = time.time_ns() if now_ns is None else now_ns
    path = directory / f"ckpt-{step:012d}-{stamp:020d}{SUFFIX}"
    data = encode(arrays, meta)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".ckpt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    prune(directory, keep)
    return path


def candidates(directory: str | Path) -> list[Path]:
    """Checkpoint files, newest first (by the time in their names, then the step)."""
    found: list[tuple[int, int, Path]] = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(2)), int(match.group(1)), entry))
    return [path for _, _, path in sorted(found, reverse=True)]


def load_latest(directory: str | Path, fingerprint: str | None = None) -> Scan:
    """The newest checkpoint that verifies (and has ``fingerprint``); skipped files listed."""
    scan = Scan()
    for path in candidates(directory):
        try:
            checkpoint = decode(path.read_bytes(), path)
            found = checkpoint.meta.get("fingerprint")
            if fingerprint is not None and found != fingerprint:
                raise CheckpointError(f"model fingerprint {found} is not the local {fingerprint}")
        except (OSError, CheckpointError) as exc:
            log.warning("skipping checkpoint %s: %s", path, exc)
            scan.skipped.append((path, str(exc)))
            continue
        scan.checkpoint = checkpoint
        return scan
    return scan


def prune(directory: str | Path, keep: int) -> None:
    """Remove all but the newest ``keep`` checkpoints, and leftover temporary files."""
    for path in candidates(directory)[max(keep, 1) :]:
        path.unlink(missing_ok=True)
    cutoff = time.time() - 60.0
    for tmp in Path(directory).glob(".ckpt-*.tmp"):
        try:
            if tmp.stat().st_mtime < cutoff:  # a writer that died, not one still writing
                tmp.unlink()
        except OSError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
