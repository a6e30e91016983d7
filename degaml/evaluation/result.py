"""Per-item predictions and the one `EvalResult` builder, for the evaluator and for strategies that form predictions
themselves (TTS ensembles, SLOT's per-sample latent offsets).

Definitions: accuracy = correct / n with a Wilson 95% interval; for multiple choice `acc` = mean[argmax(scores) ==
gold] and `acc_norm` = mean[argmax(scores_norm) == gold] unless given explicitly (an ensemble whose rule depends on
the metric passes both); `answers` = the answer metrics a prior shift cannot fool (degaml.stats.answers).
Labels are read here only inside `degaml.data.guard.scoring()`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from degaml.data.example import Example
from degaml.data.guard import scoring
from degaml.evaluation.answers import apply_filter, is_correct
from degaml.models.adapters import NonFiniteError
from degaml.specs.model import TaskSpec
from degaml.stats import AnswerMetrics, answer_metrics, wilson_interval


@dataclass
class Prediction:
    id: str
    prediction: Any  # chosen index (multiple choice) or extracted answer string
    gold: Any
    correct: bool
    scores: list[float] | None = None  # per-choice summed log-probs
    scores_norm: list[float] | None = None  # per-choice log-prob / character length
    output: str | None = None  # raw generated text (generative formats)


@dataclass
class EvalResult:
    task: str
    split: str
    model: str
    adapter: str | None
    metric: str
    n: int
    accuracy: float
    ci95: tuple[float, float]
    acc: float
    acc_norm: float | None
    seconds: float
    examples_per_second: float
    tokens: int
    tokens_per_second: float
    dtype: str = ""  # the model's dtype and how it was chosen (`LoadedModel.dtype_reason`)
    answers: AnswerMetrics | None = None  # balanced accuracy, macro-F1, per-answer recall, collapse rate
    predictions: list[Prediction] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (without per-item predictions)."""
        answers = self.answers
        data = asdict(self)
        data.pop("predictions")
        data["ci95"] = list(self.ci95)
        data["answers"] = answers.model_dump() if answers is not None else None
        return data


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value (the first one on ties)."""
    return max(range(len(values)), key=values.__getitem__)


def choice_prediction(example: Example, raw: Sequence[float], lengths: Sequence[int], metric: str) -> Prediction:
    """A multiple-choice Prediction from per-choice summed log-probs and continuation character lengths."""
    if not all(math.isfinite(lp) for lp in raw):
        raise NonFiniteError(f"item {example.id}: non-finite log-probabilities {list(raw)} (a NaN/inf model or adapter)")
    norm = [lp / max(1, n) for lp, n in zip(raw, lengths)]
    chosen = argmax(norm) if metric == "acc_norm" else argmax(raw)
    with scoring():
        gold = example.answer
    return Prediction(example.id, chosen, gold, chosen == gold, list(raw), norm)


def ensemble_choice(preds: Sequence[Prediction], metric: str) -> Prediction:
    """One multiple-choice question's prediction from several scorings of it (adapters, posterior samples): the
    per-choice log-probs summed (the same argmax as their mean; first choice on ties), chosen under `metric`."""
    first = preds[0]
    raw = [math.fsum(col) for col in zip(*(p.scores for p in preds))]  # (choices,)
    norm = [math.fsum(col) for col in zip(*(p.scores_norm for p in preds))]
    chosen = argmax(norm if metric == "acc_norm" else raw)
    return Prediction(first.id, chosen, first.gold, chosen == first.gold, raw, norm)


def rescored_choice(src: Prediction, scores: Sequence[float]) -> Prediction:
    """`src` predicted again from new per-choice scores (a calibrated score; acc and acc_norm both use them)."""
    chosen = argmax(list(scores))
    return Prediction(src.id, chosen, src.gold, chosen == src.gold, list(scores), list(scores))


def generated_prediction(example: Example, text: str, spec: TaskSpec) -> Prediction:
    """A generative Prediction: the spec's answer filter on `text`, compared with the gold answer."""
    answer = apply_filter(text, spec.answer_filter, spec.format)
    with scoring():
        return Prediction(example.id, answer, example.answer, is_correct(answer, example, spec.format), output=text)


def build_result(spec: TaskSpec, model_name: str, split: str, adapter: str | None, predictions: list[Prediction],
                 seconds: float, tokens: int, acc: float | None = None, acc_norm: float | None = None,
                 dtype: str = "") -> EvalResult:
    """The EvalResult over `predictions`."""
    n = len(predictions)
    correct = sum(p.correct for p in predictions)
    mc = spec.format == "multiple_choice"
    if acc is None:
        acc = (sum(argmax(p.scores) == p.gold for p in predictions) / max(1, n)) if mc else (correct / n if n else 0.0)
    if acc_norm is None and mc:
        acc_norm = sum(argmax(p.scores_norm) == p.gold for p in predictions) / max(1, n)
    answers = answer_metrics([p.prediction for p in predictions], [p.gold for p in predictions],
                             [p.correct for p in predictions]) if n else None
    return EvalResult(
        task=spec.task, split=split, model=model_name, adapter=adapter,
        metric=spec.metric if mc else "exact_match", n=n, accuracy=correct / n if n else 0.0,
        ci95=wilson_interval(correct, n), acc=acc, acc_norm=acc_norm if mc else None, seconds=seconds,
        examples_per_second=n / seconds if seconds > 0 else 0.0, tokens=tokens,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0, dtype=dtype, answers=answers,
        predictions=predictions,
    )
