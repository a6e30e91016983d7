"""`RunApp`: watch an adaptation run's policy decisions live and inspect each one.

The app follows `RUN_DIR/events.jsonl` with `EventFollower.poll()` on a timer — the same path for a run written
by another process, by the app's own `runner` (started in a thread worker, for `degaml adapt --tui`), or a run
that already finished (every event arrives at the first poll). It never writes `events.jsonl`; the only file it
creates is the run's `cancel` file (key `c`, after a confirmation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from degaml.controller.store.readers import EventFollower, writer_alive
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DegamlError
from degaml.tui.model import RunState, StepRow
from degaml.tui.screens import ConfirmScreen, DetailScreen, HelpScreen, TrajectoriesScreen
from degaml.tui.widgets import AccuracyChart, DetailPane, RunHeaderView, StepsTable, SummaryView

CSS = """
RunHeaderView { height: 4; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
StepsTable { height: 1fr; min-height: 4; }
#bottom { height: 5; border-top: solid $primary-darken-2; }
AccuracyChart { width: 1fr; height: 100%; }
SummaryView { width: 38; height: 100%; padding: 0 0 0 1; border-left: solid $primary-darken-2; }
DetailPane { height: 1fr; min-height: 3; border-top: solid $primary-darken-2; padding: 0 1; }
DetailPane:focus { border-top: solid $accent; }
"""


WRITER_CHECK_EVERY = 4  # polls between checks that a "running" run's writer is alive


class RunApp(App[None]):
    """Live viewer of one run directory (optionally running the run itself in a thread)."""

    TITLE = "degaml"
    ENABLE_COMMAND_PALETTE = False
    CSS = CSS
    BINDINGS = [
        Binding("q", "quit_viewer", "Quit"),
        Binding("c", "cancel_run", "Cancel run"),
        Binding("t", "trajectories", "Trajectories"),
        Binding("e", "export", "Export"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, run_dir: Path, runner: Callable[[], object] | None = None, poll_interval: float = 0.5) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.store = TrajectoryStore.open(self.run_dir)  # DegamlError for a directory that is not a run
        self.follower = EventFollower(self.run_dir)
        self.state = RunState(self.store.header, cancel_requested=self.store.cancel_requested())
        self.runner = runner
        self.poll_interval = poll_interval
        self.runner_exception: BaseException | None = None  # what the runner raised (re-raise it after run())
        self.runner_error: str | None = None
        self._poll_error: str | None = None
        self._timer: Timer | None = None
        self._quit_when_runner_done = False
        self._polls = 0

    # -- layout ---------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeaderView(id="header")
        yield StepsTable(id="steps")
        with Horizontal(id="bottom"):
            yield AccuracyChart(self.state, id="chart")
            yield SummaryView(id="summary")
        yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.run_dir)
        self.poll_events()
        self._timer = self.set_interval(self.poll_interval, self.poll_events)
        self.query_one(StepsTable).focus()
        if self.runner is not None:
            self.run_runner()

    # -- following the run ----------------------------------------------------------------------------------------
    def poll_events(self) -> None:
        """Read what was appended since the last poll and update the views (cheap when nothing changed)."""
        try:
            events = self.follower.poll()
        except DegamlError as exc:  # a malformed line: show it and stop following
            self._poll_error = f"cannot follow the run: {exc}"
            if self._timer is not None:
                self._timer.pause()
            self.refresh_views(set())
            return
        changed = self.state.apply(events) if events else set()
        self._polls += 1
        check = self._polls == 1 or self._polls % WRITER_CHECK_EVERY == 0 or bool(events)
        writer_changed = check and self.check_writer()
        if events or writer_changed:
            self.refresh_views(changed)

    def check_writer(self) -> bool:
        """Is the writer of a "running" run still alive? (A killed writer's lock is gone.) True if the state changed."""
        status = self.state.status.status if self.state.status is not None else None
        if self.runner is not None or status != "running":
            return False  # our own runner thread is the writer, or the run says it is not running
        alive = writer_alive(self.run_dir)
        changed, self.state.writer_alive = alive != self.state.writer_alive, alive
        return changed

    def refresh_views(self, changed: set[int]) -> None:
        table = self.query_one(StepsTable)
        had_rows = table.row_count > 0
        following = had_rows and table.cursor_row == table.row_count - 1  # on the newest row: keep following it
        before = table.row_count
        table.show_rows(self.state, None if self.state.ended else changed)
        if (following or (not had_rows and not self.state.ended)) and table.row_count > before:
            table.move_cursor(row=table.row_count - 1)
        note = self._poll_error or (f"runner failed: {self.runner_error}" if self.runner_error else "")
        self.query_one(RunHeaderView).show(self.state, note, self.run_dir)
        self.query_one(SummaryView).show(self.state)
        self.query_one(AccuracyChart).refresh()
        selected = table.selected_step()
        if not had_rows or selected is None or selected in changed or self.state.ended:
            self.show_detail(selected)

    def show_detail(self, step: int | None) -> None:
        row = self.state.rows.get(step) if step is not None else None
        self.query_one(DetailPane).show(row, self.state.ended)

    def selected_row(self) -> StepRow | None:
        step = self.query_one(StepsTable).selected_step()
        return self.state.rows.get(step) if step is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "steps" and event.row_key.value is not None:
            self.show_detail(int(event.row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "steps" and event.row_key.value is not None:
            row = self.state.rows.get(int(event.row_key.value))
            if row is not None:
                self.push_screen(DetailScreen(row, self.state.ended))

    # -- the in-process runner ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runner", exit_on_error=False)
    def run_runner(self) -> None:
        assert self.runner is not None
        self.runner()

    @property
    def runner_active(self) -> bool:
        return any(w.group == "runner" and w.is_running for w in self.workers)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "runner":
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.runner_exception = error
            self.runner_error = " ".join(f"{type(error).__name__}: {error}".split())[:200]
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.poll_events()
            self.refresh_views(set())
            if self._quit_when_runner_done:
                self.exit()

    # -- actions ----------------------------------------------------------------------------------------------------
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_trajectories(self) -> None:
        if isinstance(self.screen, TrajectoriesScreen):
            return
        self.push_screen(TrajectoriesScreen(self.state, self.run_dir))

    def action_export(self) -> None:
        if isinstance(self.screen, TrajectoriesScreen):
            self.screen.action_focus_path()
            return
        self.push_screen(TrajectoriesScreen(self.state, self.run_dir, focus_export=True))

    def action_cancel_run(self) -> None:
        if self.state.ended:
            self.notify(f"the run has already {self.state.status_name}", severity="warning")
            return
        if self.store.cancel_requested():
            self.notify("cancel already requested: the run stops at the next step boundary")
            return
        question = ("Cancel this run?\n\nThe episode stops at the next step boundary; finished steps are kept "
                    "and it can be resumed later.")
        self.push_screen(ConfirmScreen(question), self._cancel_confirmed)

    def _cancel_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        self.store.request_cancel()
        self.state.cancel_requested = True
        self.refresh_views(set())
        self.notify("cancel requested: the run stops at the next step boundary")

    def action_quit_viewer(self) -> None:
        if not self.runner_active:
            self.exit()
            return
        question = ("The run is executing inside this viewer.\n\nQuit = cancel it at the next step boundary and "
                    "exit once that step is saved. Quit?")
        self.push_screen(ConfirmScreen(question), self._quit_confirmed)

    def _quit_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        if not self.runner_active:
            self.exit()
            return
        self._cancel_confirmed(True)
        self._quit_when_runner_done = True
        self.notify("waiting for the current step to finish…", timeout=30)
