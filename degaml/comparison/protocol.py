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
from degaml.data.guard import scoring
from degaml.errors import DegamlError
from degaml.evaluation.answers import is_correct
from degaml.evaluation.evaluator import evaluate
from degaml.evaluation.result import Prediction, ensemble_choice
from degaml.specs.model import TaskSpec
from degaml.stats import AnswerMetrics, answer_metrics, wilson_interval


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

    @classmethod
    def from_task(cls, task: TaskData) -> ProtocolTask:
        return cls(task.spec, labelled_support(task), task.validation, task.source.source, _test=task.test)

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
    """Accuracy of a predictor on one split, with per-item correctness, predicted and gold answers (for paired
    tests and the answer metrics)."""

    accuracy: float
    ci95: tuple[float, float]
    n: int
    correct: list[bool]
    ids: list[str]
    predicted: list[Any] = field(default_factory=list)  # the chosen answer per item (choice index or answer string)
    gold: list[Any] = field(default_factory=list)
    answers: AnswerMetrics | None = None

    def summary(self) -> dict[str, Any]:
        answers = self.answers.model_dump() if self.answers is not None else None
        return {"accuracy": self.accuracy, "ci95": list(self.ci95), "n": self.n, "answers": answers}

    def per_item(self) -> dict[str, list]:
        """What a cell stores for paired tests: ids, correctness, predicted and gold answers."""
        return {"ids": self.ids, "correct": self.correct, "predicted": self.predicted, "gold": self.gold}


def score_split(loaded, spec: TaskSpec, examples, split: str, adapters: list[Path | None], fewshot_pool,
                constant: int | str | None = None) -> SplitScore:
    """Score `examples` with the base model + each adapter; several adapters = an ensemble that sums per-choice
    log-probs (multiple choice) — generative formats need exactly one adapter. `constant`: no model, the same
    answer for every item (a choice index, or a string checked as a generated answer would be)."""
    if constant is not None:
        predictions = [_constant_prediction(ex, constant, spec) for ex in examples]
    else:
        predictions = _model_predictions(loaded, spec, examples, split, adapters, fewshot_pool)
    correct = [bool(p.correct) for p in predictions]
    n, hits = len(correct), sum(correct)
    predicted, gold = [p.prediction for p in predictions], [p.gold for p in predictions]
    return SplitScore(hits / n if n else 0.0, wilson_interval(hits, n), n, correct, [p.id for p in predictions],
                      predicted, gold, answer_metrics(predicted, gold, correct) if n else None)


def _constant_prediction(example: Example, constant: int | str, spec: TaskSpec) -> Prediction:
    with scoring():
        if spec.format == "multiple_choice":
            return Prediction(example.id, constant, example.answer, example.answer == constant)
        return Prediction(example.id, str(constant), example.answer, is_correct(str(constant), example, spec.format))


def _model_predictions(loaded, spec: TaskSpec, examples, split: str, adapters: list[Path | None],
                       fewshot_pool) -> list[Prediction]:
    """Per-item predictions of the base model + adapters (one adapter, or an ensemble for multiple choice)."""
    if not adapters:
        raise ValueError("a predictor needs at least one adapter (None = the base model)")
    if len(adapters) > 1 and spec.format != "multiple_choice":
        raise DegamlError(f"task '{spec.task}': averaging several adapters needs a multiple-choice task (format {spec.format})")
    results = [evaluate(loaded, spec, examples, split, fewshot_pool=fewshot_pool, adapter=a) for a in adapters]
    if len(results) == 1:
        return results[0].predictions
    return [ensemble_choice([r.predictions[k] for r in results], spec.metric) for k in range(len(examples))]


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
