"""Reading a run another process may be writing: is its writer alive, the events appended since the last look, the
runs under a directory (the TUI and `degaml adapt --resume` use these; the writer is `TrajectoryStore`)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from degaml.controller.store.event_lines import EVENTS_FILE, HEADER_FILE, LOCK_FILE, parse_lines


def writer_alive(run_dir: Path) -> bool:
    """Whether a live process holds the run's writer lock. The OS drops a killed writer's flock, so a run whose last
    status is "running" without a live writer was stopped (killed) and can be resumed."""
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # held for microseconds: fails only against a writer's LOCK_EX
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class EventFollower:
    """Incremental reader of a (possibly live) run: `poll()` returns the events appended since the last call."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self.offset = 0
        self.lines = 0

    def poll(self) -> list:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # only complete lines
        if end == 0:
            return []
        events = parse_lines(data[:end], self.path, first_line=self.lines + 1)
        self.offset += end
        self.lines += data[:end].count(b"\n")
        return events


def list_runs(root: Path) -> list[Path]:
    """Run directories under `root` (recursively), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p.parent for p in root.rglob(HEADER_FILE) if (p.parent / EVENTS_FILE).exists()]
    return sorted(runs, key=lambda p: (p / HEADER_FILE).stat().st_mtime, reverse=True)
