"""The target-task protocol: what every method may read of a target task.

For a target task the spec's seeded partition (degaml.data.splits) gives:
- support: `num_support` items (20 by default) WITH their labels — the labelled budget every method may fit on;
- validation: labelled, for selection / early stopping / rewards;
- test: read exactly once, by `final_score`, after the method has produced its predictor.

`ProtocolTask` is the only view of the target a method receives. Its `test` attribute raises `ProtocolError`
until `final_score` (degaml.protocol.score) releases it, and every read is recorded in `test_reads` (tests prove it
stays 0 while a method fits). Few-shot prompt examples (if the spec asks for any) come from the labelled support,
never from the task's train pool: the target's train pool is outside the budget. `degaml.data.guard` stays the
checking instrument: tests wrap the TaskData a ProtocolTask is built from and record every read of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from degaml.data import Example, TaskData
from degaml.data.provenance import DataProvenance
from degaml.specs.model import TaskSpec


class ProtocolError(RuntimeError):
    """A method tried to read what the protocol forbids (the test split before final scoring)."""


def labelled_support(task: TaskData) -> tuple[Example, ...]:
    """The support items with their labels (the partition strips them; they are recovered from the pool by id)."""
    by_id = {ex.id: ex for ex in task.pool}
    if len(by_id) != len(task.pool):
        by_key = {(ex.question, ex.choices): ex for ex in task.pool}
        return tuple(by_key[(ex.question, ex.choices)] for ex in task.support)
    return tuple(by_id[ex.id] for ex in task.support)


@dataclass
class ProtocolTask:
    """A target task as methods see it: labelled support + validation; test behind a guard."""

    spec: TaskSpec
    support: tuple[Example, ...]  # labelled
    validation: tuple[Example, ...]
    data_source: str
    provenance: DataProvenance | None = None  # the data actually loaded (its sha256 identifies the items)
    _test: tuple[Example, ...] = field(repr=False, default=())
    _released: bool = field(default=False, repr=False)
    test_reads: int = 0

    @classmethod
    def from_task(cls, task: TaskData) -> ProtocolTask:
        """The protocol's view of a loaded (and partitioned) task."""
        return cls(task.spec, labelled_support(task), task.validation, task.source.source, task.provenance, _test=task.test)

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def data(self) -> dict | None:
        """The data provenance as JSON (sources, items sha256): what result records carry."""
        return self.provenance.model_dump(mode="json") if self.provenance is not None else None

    @property
    def fewshot_pool(self) -> tuple[Example, ...]:
        return self.support

    def support_prompts(self) -> list[str]:
        """The support questions without labels (what the generator reads)."""
        return [ex.question for ex in self.support]

    @property
    def test(self) -> tuple[Example, ...]:
        if not self._released:
            raise ProtocolError(f"task '{self.task}': the test split is read only by final scoring")
        self.test_reads += 1
        return self._test

    def labelled_items(self) -> int:
        """The labelled budget the method fitted on (the support size)."""
        return len(self.support)
