"""The comparison protocol: what every method may read of a target task, and the one final scoring.

For a target task the spec's seeded partition (degaml.data.splits) gives:
- support: `num_support` items (20 by default) WITH their labels — the labelled budget every method may fit on;
- validation: labelled, for selection / early stopping / rewards;
- test: read exactly once, by `final_score`, after the method has produced its predictor.

`ProtocolTask` is the only view of the target a method receives. Its `test` attribute raises `ProtocolError`
until `final_score` releases it, and every read is recorded in `test_reads` (tests prove it stays 0 while a method
fits). Few-shot prompt examples (if the spec asks for any) come from the labelled support, never from the task's
train pool: the target's train pool is outside the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from degaml.data import Example, TaskData
from degaml.errors import DegamlError
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
    _test: tuple[Example, ...] = field(repr=False, default=())
    _released: bool = field(default=False, repr=False)
    test_reads: int = 0
    data: dict | None = field(default=None, repr=False)  # the data provenance (sources, items sha256) as JSON

    @classmethod
    def from_task(cls, task: TaskData) -> ProtocolTask:
        provenance = task.provenance.model_dump(mode="json") if task.provenance is not None else None
        return cls(task.spec, labelled_support(task), task.validation, task.source.source, _test=task.test, data=provenance)

    @property
    def task(self) -> str:
        return self.spec.task

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
        return len(self.support)


@dataclass
class SplitScore:
    """Accuracy of a predictor on one split, with per-item correctness (for paired tests)."""

    accuracy: float
    ci95: tuple[float, float]
    n: int
    correct: list[bool]
    ids: list[str]

    def summary(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "ci95": list(self.ci95), "n": self.n}


def score_split(loaded, spec: TaskSpec, examples, split: str, adapters: list[Path | None], fewshot_pool,
                constant: int | str | None = None) -> SplitScore:
    """Score `examples` with the base model + each adapter; several adapters = an ensemble that averages
    per-choice log-probs (multiple choice) — generative formats need exactly one adapter. `constant`: no model,
    the same answer for every item (a choice index, or a string checked as a generated answer would be)."""
    from degaml.evaluation import wilson_interval

    if constant is not None:
        from degaml.evaluation.answers import is_correct

        correct = [ex.answer == constant if spec.format == "multiple_choice" else is_correct(str(constant), ex, spec.format)
                   for ex in examples]
    else:
        correct = _model_correct(loaded, spec, examples, split, adapters, fewshot_pool)
    n = len(correct)
    hits = sum(correct)
    return SplitScore(hits / n if n else 0.0, wilson_interval(hits, n), n, correct, [ex.id for ex in examples])


def _model_correct(loaded, spec: TaskSpec, examples, split: str, adapters: list[Path | None], fewshot_pool) -> list[bool]:
    """Per-item correctness of the base model + adapters (one adapter, or an ensemble for multiple choice)."""
    from degaml.evaluation import evaluate

    if not adapters:
        raise ValueError("a predictor needs at least one adapter (None = the base model)")
    results = [evaluate(loaded, spec, examples, split, fewshot_pool=fewshot_pool, adapter=a) for a in adapters]
    if len(results) == 1:
        correct = [p.correct for p in results[0].predictions]
    elif spec.format == "multiple_choice":
        correct = []
        for k, ex in enumerate(examples):
            field_name = "scores_norm" if spec.metric == "acc_norm" else "scores"
            rows = [getattr(r.predictions[k], field_name) for r in results]
            mean = [sum(col) / len(col) for col in zip(*rows)]  # (n_choices,)
            correct.append(max(range(len(mean)), key=mean.__getitem__) == ex.answer)
    else:
        raise DegamlError(f"task '{spec.task}': averaging several adapters needs a multiple-choice task (format {spec.format})")
    return correct


def final_score(loaded, ptask: ProtocolTask, adapters: list[Path | None], constant: int | str | None = None) -> SplitScore:
    """The single read of the test split: release it, score the predictor, lock it again."""
    ptask._released = True
    try:
        items = ptask.test
    finally:
        ptask._released = False
    return score_split(loaded, ptask.spec, items, "test", adapters, ptask.fewshot_pool, constant)


def validation_score(loaded, ptask: ProtocolTask, adapters: list[Path | None], limit: int | None = None,
                     constant: int | str | None = None) -> SplitScore:
    items = ptask.validation[:limit] if limit else ptask.validation
    return score_split(loaded, ptask.spec, items, "validation", adapters, ptask.fewshot_pool, constant)
