"""The files of a run directory and the parsing of its `events.jsonl` lines (one event per complete line)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from degaml.controller.store.events import parse_event
from degaml.errors import DataError

HEADER_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
CANCEL_FILE = "cancel"
LOCK_FILE = ".lock"


def parse_lines(data: bytes, path: Path, first_line: int = 1) -> list:
    """The events of the complete lines in `data` (a torn last line is left out); a bad line raises a `DataError`
    naming the file and line."""
    events = []
    for number, raw in enumerate(data.split(b"\n")[:-1], start=first_line):  # the last piece is incomplete or empty
        if not raw.strip():
            continue
        try:
            events.append(parse_event(raw.decode("utf-8")))
        except (ValidationError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}:{number}: not a degaml event ({_event_problem(exc)})") from None
    return events


def _event_problem(exc: ValidationError | UnicodeDecodeError) -> str:
    """What is wrong with one events.jsonl line, without pydantic's union internals."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return "not valid JSON"
    if first["type"].startswith("union_tag"):
        return "no known event 'kind'"
    if len(first["loc"]) < 2:
        return "not a JSON object"
    field = ".".join(str(part) for part in first["loc"][1:])
    return f"{first['loc'][0]} event, field '{field}': {first['msg']}"
