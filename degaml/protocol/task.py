"""The target-task protocol: what every method may read of a target task.

For a target task the spec's seeded partition (degaml.data.splits) gives:
- support: `num_support` items (20 by default) WITH their labels — the labelled budget every method may fit on;
- validation: labelled, for selection / early stopping / rewards;
- test: read exactly once, by `final_score`, after the method has produced its predictor.

`ProtocolTask` is the only view of the target a method receives. Its test split is the task data's own seal
(`degaml.data.seal`, the same guard `degaml adapt`'s episode runs under): `test` raises `ProtocolError` until
`final_score` (degaml.protocol.score) releases it, and every read is counted in `test_reads` (tests prove it stays 0
while a method fits). Few-shot prompt examples (if the spec asks for any) come from the labelled support,
never from the task's train pool: the target's train pool is outside the budget. `degaml.data.guard` stays the
checking instrument: tests wrap the TaskData a ProtocolTask is built from and record every read of it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from degaml.data import Example, TaskData
from degaml.data.provenance import DataProvenance
from degaml.data.seal import ProtocolError, SealedSplit, sealed
from degaml.data.splits import support_with_labels
from degaml.specs.model import TaskSpec

__all__ = ["ProtocolError", "ProtocolTask", "labelled_support"]


def labelled_support(task: TaskData) -> tuple[Example, ...]:
    """The support items with their labels (the partition strips them from `support`; task data built without them
    gets them from its pool, by id)."""
    if task.labelled_support or not task.support:
        return task.labelled_support
    with task.pool.released("labelled support from the pool") as pool:
        found = support_with_labels(task.support, pool)
    if len(found) != len(task.support):
        raise ValueError(f"task '{task.spec.task}': the support items' labels are not in its data")
    return found


@dataclass
class ProtocolTask:
    """A target task as methods see it: labelled support + validation; test behind a guard."""

    spec: TaskSpec
    support: tuple[Example, ...]  # labelled
    validation: tuple[Example, ...]
    data_source: str
    provenance: DataProvenance | None = None  # the data actually loaded (its sha256 identifies the items)
    _test: SealedSplit | tuple[Example, ...] = field(repr=False, default=())

    def __post_init__(self) -> None:
        self._test = sealed("test", self.spec.task, self._test)  # the task data's own seal, where it came from one

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
    def test(self) -> SealedSplit:
        """The test split: readable only inside `test.released(...)` (final_score's)."""
        self._test.require_released()
        return self._test

    def released_test(self, why: str) -> AbstractContextManager[tuple[Example, ...]]:
        """`with ptask.released_test("final scoring") as items:` — the one place a method's predictor meets test."""
        return self._test.released(why)

    @property
    def test_reads(self) -> int:
        """Reads of the test split so far (a release counts as one)."""
        return self._test.reads

    def labelled_items(self) -> int:
        """The labelled budget the method fitted on (the support size)."""
        return len(self.support)
