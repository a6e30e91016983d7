"""`PickerApp`: choose a run among those under a root directory (`degaml tui` without a RUN_DIR).

Lists `list_runs(root)` newest first — task, created, status, steps done / budget, directory — and exits with the
chosen run directory (None when the user quits). A directory whose files cannot be read is listed as unreadable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from degaml.controller.store import TrajectoryStore, list_runs
from degaml.errors import DegamlError
from degaml.tui.widgets import STATUS_STYLE


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
    done = sum(1 for e in events if e.kind == "step")
    h = store.header
    return RunSummary(path, h.task, h.created, statuses[-1] if statuses else "created", f"{done}/{h.budget_steps}")


def created_text(created: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if created is not None else "?"


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
            table.add_row(run.task, created_text(run.created), status, run.steps, str(run.path), key=str(i))
        title = Text()
        if self.runs:
            title.append(f"{len(self.runs)} run(s) under {self.root}", style="bold")
            title.append(" — newest first; enter opens one", style="grey62")
        else:
            title.append(f"no runs under {self.root}", style="bold")
            title.append(" — start one with `degaml adapt SPEC --tui`", style="grey62")
        self.query_one("#picker-title", Static).update(title)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.exit(self.runs[int(event.row_key.value)].path)

    def action_quit_picker(self) -> None:
        self.exit(None)
