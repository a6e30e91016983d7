"""Atomic writes: a killed process never leaves a half-written file or directory behind; JSON is written only
valid (no NaN/inf)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory to fill; on success it replaces `target` in one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write (by any library); on success it replaces `target`."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def stage_text(path: Path, text: str) -> Path:
    """Write `text` (fsync'ed) to a new temporary sibling of `path` and return it; `path` itself is not touched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_texts_atomic(files: Mapping[Path, str]) -> None:
    """Write several files all or none: every file is staged first (where a full disk fails, leaving nothing), then
    all are renamed into place (a rename needs no space)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            staged.append((stage_text(path, text), Path(path)))
        while staged:
            tmp, path = staged[0]
            os.replace(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` via a temporary file + fsync + rename."""
    write_texts_atomic({Path(path): text})


def json_text(data: Any, indent: int | None = 1) -> str:
    """`data` as JSON text ending in a newline; a NaN/inf value is a bug upstream and raises ValueError instead of
    being written as invalid JSON."""
    return json.dumps(data, indent=indent, default=str, allow_nan=False) + "\n"


def write_json(path: Path, data: Any, indent: int | None = 1) -> None:
    """Write `data` as JSON atomically (temporary file + fsync + rename; parents created), refusing NaN/inf."""
    path = Path(path)
    text = json_text(data, indent)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def as_os_error(exc: BaseException) -> OSError | None:
    """The I/O failure behind `exc` — an OSError, or a safetensors write/read error caused by one (it raises its
    own exception type for e.g. "No space left on device") — else None."""
    if isinstance(exc, OSError):
        return exc
    if type(exc).__name__ == "SafetensorError" and "I/O error" in str(exc):
        message = str(exc)
        code = errno.ENOSPC if "os error 28" in message else errno.EIO
        return OSError(code, message)
    return None


@contextmanager
def disk_errors() -> Iterator[None]:
    """Re-raise an I/O failure hidden in another exception type (see `as_os_error`) as the OSError it is."""
    try:
        yield
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - only I/O failures are translated; the rest propagates unchanged
        io_error = as_os_error(exc)
        if io_error is None:
            raise
        raise io_error from None


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (manifests record it for every shipped artifact)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


MANIFEST_FILE = "manifest.json"


def verify_manifest(directory: Path, what: str) -> dict | None:
    """Check a shipped/trained artifact directory against the sha256 its `manifest.json` records (if it has one).

    Returns the manifest; raises `ModelLoadError` naming the file when the manifest is unreadable, a listed
    file is missing, or a file's bytes differ from the recorded hash (truncated, garbled or modified).
    """
    from degaml.errors import ModelLoadError

    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        hashes = manifest.get("sha256", {}) if isinstance(manifest, dict) else None
        if isinstance(hashes, dict) and isinstance(manifest.get("adapter_sha256"), str):  # policy manifests
            hashes = {"adapter_model.safetensors": manifest["adapter_sha256"], **hashes}
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
            raise ValueError("'sha256' is not a mapping of file name to hash")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{what}: {path} is corrupt ({str(exc).splitlines()[0][:100]})") from None
    for name, expected in hashes.items():
        file = Path(directory) / name
        if not file.is_file():
            raise ModelLoadError(f"{what}: {file} is missing (listed in {path})")
        if file_sha256(file) != expected:
            raise ModelLoadError(f"{what}: {file} does not match the sha256 in {path} (corrupt, truncated or modified)")
    return manifest
