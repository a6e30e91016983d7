"""`PickerApp`: choose a run among those under a root directory (`degaml tui` without a RUN_DIR).

Lists `list_runs(root)` newest first — task, created, status, steps done / budget, directory (relative to the root)
— and exits with the chosen run directory (None when the user quits). Columns are clipped so that a row fits an
80-column screen. A run whose last status is "running" but whose writer is gone (killed) is listed as "stopped".
A directory whose files cannot be read is listed as unreadable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from degaml.controller.store.readers import list_runs, writer_alive
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DegamlError
from degaml.tui.format import clip
from degaml.tui.model import STOPPED
from degaml.tui.widgets import STATUS_STYLE

TASK_WIDTH = 18  # 18 + 11 (created) + 9 (status) + 7 (steps) + 5 × 2 padding leaves 25 for the directory at 80 columns
DIR_WIDTH = 25


@dataclass(frozen=True)
class RunSummary:
    path: Path
    task: str
    created: float | None
    status: str
    steps: str


def summarize_run(path: Path) -> RunSummary:
    """What the picker shows for one run directory."""
    try:
        store = TrajectoryStore.open(path)
        events = store.events()
    except (DegamlError, OSError) as exc:
        return RunSummary(path, f"unreadable: {' '.join(str(exc).split())[:40]}", None, "?", "?")
    statuses = [e.status for e in events if e.kind == "status"]
    status = statuses[-1] if statuses else "created"
    if status == "running" and not writer_alive(path):
        status = STOPPED
    done = sum(1 for e in events if e.kind == "step")
    h = store.header
    return RunSummary(path, h.task, h.created, status, f"{done}/{h.budget_steps}")


def created_text(created: float | None) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(created)) if created is not None else "?"


def dir_text(path: Path, root: Path, width: int = DIR_WIDTH) -> str:
    """The run directory relative to the root, cut from the left ('…' first) to `width` characters."""
    try:
        text = str(path.relative_to(root))
    except ValueError:
        text = str(path)
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


class PickerApp(App[Path | None]):
    """Pick a run directory; `app.run()` returns it (or None)."""

    TITLE = "degaml runs"
    CSS = "#picker-title { height: 2; padding: 0 1; } #runs { height: 1fr; }"
    BINDINGS = [Binding("q,escape", "quit_picker", "Quit"), Binding("r", "reload", "Reload")]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Static(id="picker-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("task", "created", "status", "steps", "run directory")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear()
        self.runs = [summarize_run(p) for p in list_runs(self.root)]
        for i, run in enumerate(self.runs):
            status = Text(run.status, style=STATUS_STYLE.get(run.status, ""))
            table.add_row(clip(run.task, TASK_WIDTH), created_text(run.created), status, run.steps,
                          dir_text(run.path, self.root), key=str(i))
        title = Text()
        if self.runs:
            title.append(f"{len(self.runs)} run(s) under {self.root}", style="bold")
            title.append(" — newest first; enter opens one", style="grey62")
            if any(run.status == STOPPED for run in self.runs):
                title.append("\nstopped = killed; resume with `degaml adapt --resume RUN_DIR`", style="grey62")
        else:
            title.append(f"no runs under {self.root}", style="bold")
            title.append(" — start one with `degaml adapt SPEC --tui`", style="grey62")
        self.query_one("#picker-title", Static).update(title)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.exit(self.runs[int(event.row_key.value)].path)

    def action_quit_picker(self) -> None:
        self.exit(None)
