"""Crash-safe trajectory store of one adaptation run: `run.json` + append-only `events.jsonl`.

Why append-only JSONL with fsync (not SQLite): one writer per run (an exclusive lock file), readers in other
processes (the TUI, `degaml trajectories export`) follow it with nothing but a file offset, `tail -f`/`jq` work on
it, and a kill can at worst leave one torn last line — which has no trailing newline, so readers ignore it and the
writer truncates it before appending again. Every event is flushed and fsync'ed before the episode moves on, so a
step reported done is on disk.

The run directory is claimed atomically: `create` hard-links a complete, fsync'ed run.json into place, which fails
if one already exists, so of two processes creating the same directory exactly one wins and the loser writes
nothing. run.json changes afterwards only through `rewrite_header`, which needs the writer lock.

Parsed events are cached per store object, keyed by the byte offset of the last complete line: the writer's own
`append` extends the cache without reading the file, and a reader parses only the bytes appended since its last
call (the file is append-only; a shrunk file — a repaired torn line — is re-read in full).

Layout of a run directory:
    run.json        RunHeader (written once, atomically)
    events.jsonl    one event per line (controller.events)
    adapters/       generated adapters (cached per prompt batch)
    work/step-NNN/  strategy artifacts of step NNN
    cancel          present → the episode stops at the next step boundary
    .lock           held by the writing process
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from degaml.controller.store.events import DecisionEvent, RunHeader, StepEvent, parse_event
from degaml.controller.store.event_lines import (CANCEL_FILE, EVENTS_FILE, HEADER_FILE, LOCK_FILE,
                                                parse_lines)
from degaml.errors import DegamlError
from degaml.io import write_text_atomic



class TrajectoryStore:
    """Reads and (for the one writing process) appends the events of a run directory."""

    def __init__(self, run_dir: Path, header: RunHeader) -> None:
        self.run_dir = Path(run_dir)
        self.header = header
        self._lock_fd: int | None = None
        self._cache: list = []  # parsed events of events.jsonl[:self._cached_bytes]
        self._cached_bytes = 0
        self._cached_lines = 0

    # -- opening ------------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, header: RunHeader) -> TrajectoryStore:
        """A new run directory (refuses one that already holds a run: use `--resume` for that)."""
        run_dir = Path(run_dir)
        taken = f"--run-dir: '{run_dir}' already holds a run; resume it with --resume {run_dir}"
        if (run_dir / HEADER_FILE).exists():
            raise DegamlError(taken)
        created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]  # what a failure must not leave behind
        claimed = False
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{HEADER_FILE}.", dir=run_dir)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(header.model_dump_json(indent=2))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.link(tmp, run_dir / HEADER_FILE)  # atomic claim: fails when run.json exists (another process won)
                claimed = True
            except FileExistsError:
                raise DegamlError(taken) from None
            finally:
                Path(tmp).unlink(missing_ok=True)
            (run_dir / EVENTS_FILE).touch()  # only the winner gets here; readers treat a missing file as no events yet
        except OSError:  # disk full, read-only: no run directory is left half-created (the CLI reports it, exit 1)
            if claimed:
                (run_dir / HEADER_FILE).unlink(missing_ok=True)
            for directory in created:  # innermost first; only directories this call made, and only when empty
                try:
                    directory.rmdir()
                except OSError:
                    break
            raise
        return cls(run_dir, header)

    @classmethod
    def open(cls, run_dir: Path) -> TrajectoryStore:
        run_dir = Path(run_dir)
        path = run_dir / HEADER_FILE
        if not path.is_file():
            raise DegamlError(f"run directory: '{run_dir}' has no {HEADER_FILE} (not a degaml run)")
        try:
            header = RunHeader.model_validate_json(path.read_text())
        except ValidationError as exc:
            raise DataError(f"{path}: not a degaml run header ({str(exc).splitlines()[0][:120]})") from None
        return cls(run_dir, header)

    @property
    def events_path(self) -> Path:
        return self.run_dir / EVENTS_FILE

    # -- writing (one process) ----------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Become the run's only writer; repairs a torn last line left by a killed writer."""
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DegamlError(f"run '{self.run_dir}' is being written by another process") from None
        self._lock_fd = fd
        self._repair()

    @property
    def is_writer(self) -> bool:
        return self._lock_fd is not None

    def rewrite_header(self, header: RunHeader) -> None:
        """Replace run.json (the writer only: a refused process must never change the header)."""
        if self._lock_fd is None:
            raise RuntimeError("rewrite_header() needs acquire() first")
        write_text_atomic(self.run_dir / HEADER_FILE, header.model_dump_json(indent=2))
        self.header = header

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _repair(self) -> None:
        data = self.events_path.read_bytes() if self.events_path.exists() else b""
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            with open(self.events_path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, event) -> None:
        """Durably append one event (flush + fsync before returning)."""
        if self._lock_fd is None:
            raise RuntimeError("append() needs acquire() first")
        self.events()  # bring the cache up to the file's current end first
        line = (event.model_dump_json() + "\n").encode("utf-8")
        with open(self.events_path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._cache.append(parse_event(line.decode("utf-8")))  # the event as a reader will see it
        self._cached_bytes += len(line)
        self._cached_lines += 1

    # -- reading (any process) ----------------------------------------------------------------------------------
    def events(self) -> list:
        """Every complete event, in order (a torn last line is ignored)."""
        try:
            size = self.events_path.stat().st_size
        except FileNotFoundError:  # the instant between run.json and events.jsonl of a run being created
            return []
        if size < self._cached_bytes:  # truncated (a torn line repaired, or rewritten): start over
            self._cache, self._cached_bytes, self._cached_lines = [], 0, 0
        if size > self._cached_bytes:
            with open(self.events_path, "rb") as fh:
                fh.seek(self._cached_bytes)
                data = fh.read()
            end = data.rfind(b"\n") + 1  # only complete lines
            if end:
                self._cache.extend(parse_lines(data[:end], self.events_path, first_line=self._cached_lines + 1))
                self._cached_bytes += end
                self._cached_lines += data[:end].count(b"\n")
        return list(self._cache)

    def steps(self) -> list[StepEvent]:
        return [e for e in self.events() if e.kind == "step"]

    def pending_decision(self) -> DecisionEvent | None:
        """A decision whose step never completed (the run was killed while its strategy ran)."""
        done = {e.step for e in self.steps()}
        pending = [e for e in self.events() if e.kind == "decision" and e.step not in done]
        return pending[-1] if pending else None

    def status(self) -> str:
        statuses = [e.status for e in self.events() if e.kind == "status"]
        return statuses[-1] if statuses else "created"

    # -- cancellation (any process) -----------------------------------------------------------------------------
    def request_cancel(self) -> None:
        (self.run_dir / CANCEL_FILE).touch()

    def cancel_requested(self) -> bool:
        return (self.run_dir / CANCEL_FILE).exists()

    def clear_cancel(self) -> None:
        (self.run_dir / CANCEL_FILE).unlink(missing_ok=True)
