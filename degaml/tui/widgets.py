"""Widgets of the run view: header, decisions table, accuracy chart, final summary, detail pane.

Each widget renders from the shared `RunState` when told to refresh; none reads files itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from degaml.tui.chart import render_chart
from degaml.tui.detail import render_detail
from degaml.tui.format import bar, clip, params_text, pct, score_text, seconds_text, short_path, signed_pct
from degaml.tui.model import STOPPED, RunState, StepRow, resume_hint

STATUS_STYLE = {"running": "bold yellow", "finished": "bold green", "cancelled": "bold magenta",
                "failed": "bold red", "created": "grey62", "stopped": "bold red"}
COLUMNS = (("step", "#"), ("family", "family"), ("params", "params"), ("val", "val acc"), ("delta", "Δ"),
           ("reward", "r"), ("seconds", "time"))
PARAMS_WIDTH = 26


class RunHeaderView(Static):
    """Four lines: task and model; generator, policy, run id; baseline, budget, status; what happens now."""

    def show(self, state: RunState, note: str = "", run_dir: object = "RUN_DIR") -> None:
        h = state.header
        line1 = Text()
        line1.append(h.task, style="bold")
        line1.append(f" · model {h.model}")
        line2 = Text(f"generator {short_path(h.generator)} · policy {short_path(h.policy)} · run {h.run_id}", style="grey62")
        line3 = Text()
        line3.append("baseline val ")
        line3.append(score_text(state.baseline.validation) if state.baseline else "pending", style="bold")
        line3.append(f" · steps {state.steps_done}/{h.budget_steps} · ")
        status = state.status_name
        line3.append(status, style=STATUS_STYLE.get(status, ""))
        if state.cancel_requested and not state.ended:
            line3.append(" (cancel requested)", style="bold magenta")
        self.update(Text("\n").join([line1, line2, line3, self._activity(state, note, run_dir)]))

    @staticmethod
    def _activity(state: RunState, note: str, run_dir: object = "RUN_DIR") -> Text:
        """Line 4: an error note, the running step's progress, or the run's status message."""
        line = Text()
        running = state.running
        if note:
            line.append(note, style="red")
        elif state.status_name == STOPPED:
            line.append(resume_hint(run_dir), style="bold red")
        elif running is not None and running.progress is not None:
            p = running.progress
            line.append(f"step {running.step} ▶ ", style="yellow")
            line.append(bar(p.fraction, 12), style="yellow")
            line.append(f" {pct(p.fraction, 0)} {p.what}")
        elif running is not None:
            line.append(f"step {running.step} ▶ {running.family or 'strategy'} starting", style="yellow")
        elif state.activity is not None and not state.ended:
            p = state.activity
            line.append("▶ ", style="yellow")
            line.append(bar(p.fraction, 12), style="yellow")
            line.append(f" {pct(p.fraction, 0)} {p.what}")
        elif state.status is not None and state.status.message:
            line.append(state.status.message, style="grey62")
        elif state.baseline is None and not state.ended:
            line.append("starting: loading models and scoring θ₀ on validation…", style="grey62")
        elif not state.ended:
            line.append("waiting for the policy's next decision…", style="grey62")
        return line


def row_cells(row: StepRow, ended: bool) -> tuple[Text | str, ...]:
    """The table cells of one step."""
    family = Text(row.family or "(unparsed)", style="red" if row.unparsed else "")
    result = row.result
    if result is None:
        if ended:
            return (str(row.step), family, params_text(row.action, PARAMS_WIDTH), Text("stopped", style="grey62"),
                    "", "", "")
        what = f"▶ {row.progress.what}" if row.progress else "▶ starting"
        fraction = pct(row.progress.fraction, 0) if row.progress else ""
        return (str(row.step), family, Text(clip(what, PARAMS_WIDTH), style="yellow"),
                Text(fraction, style="yellow"), "…", "", "")
    accuracy = Text("failed", style="red") if row.state == "failed" else pct(result.accuracy)
    delta_style = "green" if (result.delta or 0) > 0 else "red" if (result.delta or 0) < 0 else ""
    reward = Text("✓", style="bold green") if result.reward == 1 else Text("✗", style="bold red")
    return (str(row.step), family, params_text(row.action, PARAMS_WIDTH), accuracy,
            Text(signed_pct(result.delta), style=delta_style), reward, seconds_text(result.seconds))


class StepsTable(DataTable):
    """One row per policy decision; rows grow and update in place as events land."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show_rows(self, state: RunState, steps: set[int] | None = None) -> None:
        """Add or update the rows of `steps` (all rows when None)."""
        for step in sorted(state.rows if steps is None else steps):
            cells = row_cells(state.rows[step], state.ended)
            key = str(step)
            if key in self.rows:
                for (column, _), value in zip(COLUMNS, cells):
                    self.update_cell(key, column, value, update_width=True)  # a running row was narrower
            else:
                self.add_row(*cells, key=key)

    def selected_step(self) -> int | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return int(key.value) if key.value is not None else None


class AccuracyChart(Widget):
    """Validation accuracy per step against the baseline (see `chart.render_chart`)."""

    DEFAULT_CSS = "AccuracyChart { height: 5; }"

    def __init__(self, state: RunState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state

    def render(self) -> Text:
        baseline = self.state.baseline.validation.accuracy if self.state.baseline else None
        if not self.state.rows:
            return Text("no steps yet", style="grey62")
        return render_chart(self.state.accuracy_series(), baseline, self.size.width, self.size.height)


class SummaryView(Static):
    """The final record once it arrives; until then, how the run stands."""

    def show(self, state: RunState) -> None:
        final = state.final
        text = Text(no_wrap=True, overflow="ellipsis")
        if final is None:
            best = max((r for r in state.rows.values() if r.result and r.result.accuracy is not None),
                       key=lambda r: r.result.accuracy, default=None)  # type: ignore[union-attr]
            text.append("no final result yet\n", style="grey62")
            text.append(f"accepted {len(state.accepted())} of {state.steps_done} steps\n")
            if best is not None and best.result is not None:
                text.append(f"best so far: step {best.step} {best.family} {pct(best.result.accuracy)}")
            if state.status_name == STOPPED:
                text.append("\nrun stopped (its writer was killed)", style="grey62")
            elif state.ended and state.status is not None:
                text.append(f"\nrun {state.status_name}: {state.status.message}", style="grey62")
            self.update(text)
            return
        if final.best_step is None:
            text.append("best: θ₀ (no strategy beat the baseline)\n", style="bold")
        else:
            family = state.rows[final.best_step].family if final.best_step in state.rows else None
            text.append(f"best: step {final.best_step} · {family or '?'}", style="bold")
            text.append(f" (kept {' → '.join(map(str, final.chain))})\n" if len(final.chain) > 1 else "\n")
        text.append(f"val  {pct(final.best_validation)} (base {pct(final.baseline_validation)})\n")
        text.append("test ")
        text.append(score_text(final.test), style="bold red" if final.reverted else "bold green")
        if final.reverted:
            text.append(" REVERTED on test", style="bold red")
        text.append("\nbase ")
        text.append(score_text(final.baseline_test) if final.baseline_test else "same as best (θ₀)")
        text.append(f"\naccepted {len(state.accepted())}/{state.steps_done} · {seconds_text(final.seconds)}")
        self.update(text)


class DetailPane(VerticalScroll):
    """Scrollable detail of the selected step."""

    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(Text("select a step to see its prompt, policy output and outcome", style="grey62"),
                     id="detail-body")

    def show(self, row: StepRow | None, ended: bool) -> None:
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("select a step to see its prompt, policy output and outcome", style="grey62"))
        else:
            body.update(render_detail(row, ended))
