"""Atomic writes: a killed process never leaves a half-written file or directory behind."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` via a temporary file + fsync + rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (manifests record it for every shipped artifact)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
