"""The TUI's view of a run: events folded into per-step rows, the baseline, the final record and the status.

`RunState.apply(events)` takes what `EventFollower.poll()` returned (possibly nothing, possibly a whole finished
run at once) and reports which steps changed, so widgets update only those rows. No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from degaml.controller.store.events import (
    BaselineEvent,
    DecisionEvent,
    FinalEvent,
    ProgressEvent,
    RunHeader,
    StatusEvent,
    StepEvent,
)
from degaml.tui.format import family_of

RowState = Literal["running", "done", "failed"]
ENDED = ("cancelled", "finished", "failed", "stopped")
STOPPED = "stopped"  # last status "running" but no live writer holds RUN_DIR/.lock: the writer was killed


def resume_hint(run_dir: object) -> str:
    return f"stopped — resume with `degaml adapt --resume {run_dir}`"


@dataclass
class StepRow:
    """One policy decision and (once it lands) the outcome of the strategy it chose."""

    step: int
    decision: DecisionEvent | None = None
    result: StepEvent | None = None
    progress: ProgressEvent | None = None

    @property
    def state(self) -> RowState:
        if self.result is None:
            return "running"
        return "done" if self.result.outcome.get("ok", self.result.accuracy is not None) else "failed"

    @property
    def action(self) -> dict[str, Any] | None:
        if self.result is not None and self.result.action is not None:
            return self.result.action
        return self.decision.action if self.decision is not None else None

    @property
    def family(self) -> str | None:
        return family_of(self.action) or (self.result.outcome.get("family") if self.result else None)

    @property
    def unparsed(self) -> bool:
        """The policy's output did not validate into an action."""
        return self.decision is not None and self.decision.action is None

    @property
    def accepted(self) -> bool:
        return self.result is not None and self.result.reward == 1


@dataclass
class RunState:
    header: RunHeader
    baseline: BaselineEvent | None = None
    rows: dict[int, StepRow] = field(default_factory=dict)
    final: FinalEvent | None = None
    status: StatusEvent | None = None
    cancel_requested: bool = False
    activity: ProgressEvent | None = None  # progress not tied to a running decision (e.g. the test split)
    writer_alive: bool = True  # False: nobody holds the run's writer lock (store.writer_alive)

    def apply(self, events: Iterable[object]) -> set[int]:
        """Fold new events in; returns the steps whose rows changed."""
        changed: set[int] = set()
        for event in events:
            if isinstance(event, (BaselineEvent, DecisionEvent, StepEvent)):
                self.activity = None  # the phase it reported on is over
            if isinstance(event, BaselineEvent):
                self.baseline = event
            elif isinstance(event, DecisionEvent):
                self._row(event.step).decision = event
                changed.add(event.step)
            elif isinstance(event, ProgressEvent):
                row = self.rows.get(event.step)
                if row is not None and row.result is None:
                    row.progress = event
                    changed.add(event.step)
                else:  # run-level work, e.g. scoring the best configuration on the test split
                    self.activity = event
            elif isinstance(event, StepEvent):
                self._row(event.step).result = event
                changed.add(event.step)
            elif isinstance(event, FinalEvent):
                self.final = event
                self.activity = None
            elif isinstance(event, StatusEvent):
                self.status = event
        return changed

    def _row(self, step: int) -> StepRow:
        if step not in self.rows:
            self.rows[step] = StepRow(step)
            self.rows = dict(sorted(self.rows.items()))
        return self.rows[step]

    @property
    def status_name(self) -> str:
        name = self.status.status if self.status is not None else "created"
        return STOPPED if name == "running" and not self.writer_alive else name

    @property
    def ended(self) -> bool:
        return self.status_name in ENDED

    @property
    def steps_done(self) -> int:
        return sum(1 for row in self.rows.values() if row.result is not None)

    @property
    def running(self) -> StepRow | None:
        """The decision whose strategy is still running (only while the run is live)."""
        pending = [row for row in self.rows.values() if row.result is None and row.decision is not None]
        return pending[-1] if pending and not self.ended else None

    def accepted(self) -> list[StepRow]:
        return [row for row in self.rows.values() if row.accepted]

    def accuracy_series(self) -> list[tuple[int, float | None, RowState]]:
        """(step, validation accuracy or None, row state) in step order — the chart's input."""
        return [
            (row.step, row.result.accuracy if row.result else None, row.state) for row in self.rows.values()
        ]
