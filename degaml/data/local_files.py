"""Reading a local data file (.json/.jsonl/.parquet/.csv) through `datasets` into raw records.

An empty file has no items: the loader falls through to the next source (`SourceUnavailable`). A malformed file is
one `DataError` whose reason is the parser's own message (`datasets` logs it instead of raising it; the log line is
collected here, never printed before the error).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from degaml.errors import DataError

LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


class SourceUnavailable(Exception):
    """This source cannot be used here (no hub, no shared dir, no items); the next fallback is tried."""


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip().split(" with error ")[-1]
        message = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", message)  # <class 'pyarrow.lib.ArrowInvalid'> → ArrowInvalid
        self.messages.append(message.splitlines()[0] if message else record.levelname)


@contextmanager
def library_log(name: str) -> Iterator[list[str]]:
    """Collect (instead of print) a library logger's warnings and errors for the duration of the block."""
    logger, messages = logging.getLogger(name), []
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [_Collect(messages)], False
    try:
        yield messages
    finally:
        logger.handlers, logger.propagate = handlers, propagate


def read_local_file(path: Path, source: str) -> list[dict[str, Any]]:
    """The records of a local data file (`source` is the spec's value, for messages)."""
    import datasets

    builder = LOCAL_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise DataError(f"{source}: unsupported file type {path.suffix}")
    size = path.stat().st_size
    if size == 0 or (size < 65536 and not path.read_bytes().strip()):
        raise SourceUnavailable(f"{path} is empty (no items)")
    with library_log("datasets") as logged:
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # noqa: BLE001 - malformed user file → one line
            text = str(exc).strip()
            reason = logged[-1] if logged else (text.splitlines()[0] if text else type(exc).__name__)
            raise DataError(f"{path}: cannot parse as {builder} ({reason[:160]})") from None
    return list(ds)
