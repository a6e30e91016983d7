"""Secondary screens: help, a yes/no confirmation, the full-screen step detail, and the trajectories screen
(accepted steps, exported with `controller.export.export_trajectories`)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Static

from degaml.controller.store.export import export_trajectories
from degaml.errors import DegamlError
from degaml.tui.detail import render_detail
from degaml.tui.format import params_text, pct, seconds_text, signed_pct
from degaml.tui.model import RunState, StepRow

KEYS: tuple[tuple[str, str], ...] = (
    ("↑/↓", "move between steps (the detail pane follows)"),
    ("enter", "open the selected step full-screen"),
    ("tab", "move focus (e.g. to the detail pane, then scroll it)"),
    ("t", "trajectories: accepted steps (reward 1)"),
    ("e", "export accepted steps to JSONL"),
    ("c", "cancel the run (asks; stops at the next step boundary)"),
    ("?", "this help"),
    ("escape", "close a screen"),
    ("q", "quit (the run itself is left untouched)"),
)


class HelpScreen(ModalScreen[None]):
    """Key bindings."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; height: auto; border: round $accent; padding: 0 1; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("degaml run viewer — keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:>8}  ", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nThe viewer never changes the run: `c` creates its `cancel` file; `e` writes only\n"
                    "the export file you name (nothing when no step was accepted).\n", style="grey62")
        text.append("escape closes this help", style="grey62")
        with Vertical():
            yield Static(text)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with True on yes."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: center; }
    ConfirmScreen Button { margin: 0 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            with Horizontal():
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class DetailScreen(Screen[None]):
    """One step's detail, full-screen."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = "DetailScreen #detail-screen { padding: 0 1; }"

    def __init__(self, row: StepRow, ended: bool) -> None:
        super().__init__()
        self.row, self.ended = row, ended

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-screen"):
            yield Static(render_detail(self.row, self.ended))
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-screen").focus()


class TrajectoriesScreen(Screen[None]):
    """Accepted steps (reward 1) and their export to a JSONL file for the policy's ReST^EM M-step."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("e", "focus_path", "Export")]
    DEFAULT_CSS = """
    TrajectoriesScreen #traj-title { height: 2; padding: 0 1; }
    TrajectoriesScreen DataTable { height: 1fr; }
    TrajectoriesScreen #export-row { height: 3; }
    TrajectoriesScreen #export-row Static { width: auto; padding: 1 1 0 1; }
    TrajectoriesScreen Input { width: 1fr; }
    TrajectoriesScreen #export-result { height: 2; padding: 0 1; }
    """

    def __init__(self, state: RunState, run_dir: Path, focus_export: bool = False) -> None:
        super().__init__()
        self.state, self.run_dir, self.focus_export = state, run_dir, focus_export

    def compose(self) -> ComposeResult:
        accepted = self.state.accepted()
        title = Text()
        title.append("Accepted trajectories", style="bold")
        title.append(f" — {len(accepted)} of {self.state.steps_done} completed steps beat the baseline"
                     f" (reward 1)\nexport writes TRL prompt/completion records (one JSON line per step)",
                     style="grey62")
        yield Static(title, id="traj-title")
        yield DataTable(id="accepted", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="export-row"):
            yield Static("export to")
            yield Input(str(self.run_dir / "accepted.jsonl"), id="export-path")
        yield Static("", id="export-result")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#accepted", DataTable)
        table.add_columns("#", "family", "params", "val acc", "Δ", "time")
        for row in self.state.accepted():
            result = row.result
            assert result is not None
            table.add_row(str(row.step), row.family or "?", params_text(row.action, 28), pct(result.accuracy),
                          Text(signed_pct(result.delta), style="green"), seconds_text(result.seconds))
        if self.focus_export:
            self.action_focus_path()
        else:
            table.focus()

    def action_focus_path(self) -> None:
        self.query_one("#export-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.export(event.value.strip())

    def export(self, path_text: str) -> int | None:
        """Export the accepted steps to `path_text`; shows and returns how many records were written."""
        result = self.query_one("#export-result", Static)
        if not path_text:
            result.update(Text("type a file path first", style="red"))
            return None
        if not self.state.accepted():
            result.update(Text("nothing to export: no step has beaten the baseline yet (reward 1); no file written",
                               style="yellow"))
            return 0
        out = Path(path_text).expanduser()
        try:
            count = export_trajectories([self.run_dir], out, accepted_only=True)
        except (DegamlError, OSError) as exc:
            result.update(Text(f"export failed: {' '.join(str(exc).split())}", style="red"))
            return None
        result.update(Text(f"wrote {count} accepted record(s) to {out}", style="bold green"))  # (no toast: one
        return count  # would be drawn over the path box)
