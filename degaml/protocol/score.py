"""Scoring under the target-task protocol: a predictor (the base model + adapters, a constant answer, or a method's
own scorer) on validation, and the single read of the test split (`final_score`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from degaml.data import Example
from degaml.data.guard import scoring
from degaml.errors import DegamlError
from degaml.evaluation.answers import is_correct
from degaml.evaluation.evaluator import evaluate
from degaml.evaluation.result import Prediction, ensemble_choice
from degaml.protocol.task import ProtocolTask
from degaml.specs.model import TaskSpec
from degaml.stats import AnswerMetrics, answer_metrics, wilson_interval

TestScorer = Callable[[Sequence[Example]], "SplitScore"]  # a method that scores its own predictor on the released items


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

    @classmethod
    def of(cls, predictions: Sequence[Prediction]) -> SplitScore:
        """The score of per-item predictions: accuracy with its Wilson interval, the answer metrics, per-item fields."""
        correct = [bool(p.correct) for p in predictions]
        n, hits = len(correct), sum(correct)
        predicted, gold = [p.prediction for p in predictions], [p.gold for p in predictions]
        return cls(hits / n if n else 0.0, wilson_interval(hits, n), n, correct, [p.id for p in predictions],
                   predicted, gold, answer_metrics(predicted, gold, correct) if n else None)

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
    return SplitScore.of(predictions)


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


def final_score(loaded, ptask: ProtocolTask, adapters: list[Path | None], constant: int | str | None = None,
                scorer: TestScorer | None = None) -> SplitScore:
    """The single read of the test split: release it, score the predictor (or hand the items to the method's own
    `scorer`), lock it again."""
    with ptask.released_test("final scoring") as items:
        if scorer is not None:
            return scorer(items)
        return score_split(loaded, ptask.spec, items, "test", adapters, ptask.fewshot_pool, constant)


def validation_score(loaded, ptask: ProtocolTask, adapters: list[Path | None], limit: int | None = None,
                     constant: int | str | None = None) -> SplitScore:
    """The predictor on the validation split (its first `limit` items, if given)."""
    items = ptask.validation[:limit] if limit else ptask.validation
    return score_split(loaded, ptask.spec, items, "validation", adapters, ptask.fewshot_pool, constant)
