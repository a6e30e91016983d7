"""Answer metrics a shift of the answer prior cannot fool.

A model that answers "Yes" to every item of a task whose gold answers are 67% "Yes" scores 67% accuracy without
reading a single item. These metrics tell reading from a prior:

- balanced accuracy = mean over gold answers c of recall_c, recall_c = #(correct ∧ gold = c) / #(gold = c)
  — a constant answer scores 1/C whatever the prior;
- macro-F1 = mean over gold answers of F1_c (precision_c = #(correct ∧ gold = c) / #(prediction = c));
- per-answer recall (recall_c for every gold answer c);
- collapse rate = the share of the most common prediction (1.0: a constant).

Answers are compared as strings of the *effective* prediction: the gold answer where the item is correct (a
generative "3.0" that the task's comparison accepts for "3" counts as "3"), the prediction itself otherwise.
The label set is the gold answers of the scored items; balanced accuracy, macro-F1 and recall are given for
classification-like items only — at most `MAX_CLASSES` distinct gold answers with at least two items each on
average (multiple-choice positions, yes/no, a fixed label set), not for open answers (GSM8K numbers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

MAX_CLASSES = 10


class AnswerMetrics(BaseModel):
    """Answer metrics of one scored split (None where the items are not classification-like)."""

    model_config = ConfigDict(extra="forbid")
    n: int
    classes: int  # distinct gold answers
    balanced_accuracy: float | None
    macro_f1: float | None
    per_answer_recall: dict[str, float] | None
    collapse_rate: float  # share of the most common (effective) prediction
    most_common: str | None  # that prediction


def _text(answer: Any) -> str:
    return "" if answer is None else str(answer)


def effective_predictions(predicted: Sequence[Any], gold: Sequence[Any], correct: Sequence[bool]) -> list[str]:
    """The prediction of each item as a string, the gold answer's where the item is correct."""
    if not len(predicted) == len(gold) == len(correct):
        raise ValueError(f"answer metrics need equal lengths: {len(predicted)} predictions, {len(gold)} gold, "
                         f"{len(correct)} correctness flags")
    return [_text(g) if ok else _text(p) for p, g, ok in zip(predicted, gold, correct)]


def classification_like(gold: Sequence[Any]) -> bool:
    """At most MAX_CLASSES distinct gold answers, with at least two items per answer on average."""
    classes = len({_text(g) for g in gold})
    return 0 < classes <= MAX_CLASSES and len(gold) >= 2 * classes


def balanced_accuracy(correct: Sequence[bool], gold: Sequence[Any]) -> float:
    """Mean over gold answers of the share of their items answered correctly."""
    by_class: dict[str, list[float]] = {}
    for ok, g in zip(correct, gold, strict=True):  # ok: 0/1, or an item's score averaged over seeds
        by_class.setdefault(_text(g), []).append(float(ok))
    if not by_class:
        return 0.0
    return float(np.mean([sum(v) / len(v) for v in by_class.values()]))


def balanced_weights(gold: Sequence[Any]) -> list[float]:
    """Per-item weights w_i = n / (K · n_class(i)): the weighted mean of correctness is the balanced accuracy."""
    golds = [_text(g) for g in gold]
    counts = {g: golds.count(g) for g in set(golds)}
    return [len(golds) / (len(counts) * counts[g]) for g in golds]


def answer_metrics(predicted: Sequence[Any], gold: Sequence[Any], correct: Sequence[bool]) -> AnswerMetrics:
    """Balanced accuracy, macro-F1, per-answer recall and collapse rate of one scored split."""
    effective = effective_predictions(predicted, gold, correct)
    golds = [_text(g) for g in gold]
    counts = Counter(effective)
    top, top_n = (counts.most_common(1)[0] if counts else (None, 0))
    collapse = top_n / len(effective) if effective else 0.0
    labels = sorted(set(golds))
    if not classification_like(golds):
        return AnswerMetrics(n=len(golds), classes=len(labels), balanced_accuracy=None, macro_f1=None,
                             per_answer_recall=None, collapse_rate=collapse, most_common=top)
    recall, f1 = {}, []
    for label in labels:
        hits = sum(1 for e, g in zip(effective, golds) if g == label and e == label)
        support, predicted_as = golds.count(label), counts.get(label, 0)
        r = hits / support
        p = hits / predicted_as if predicted_as else 0.0
        recall[label] = r
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return AnswerMetrics(n=len(golds), classes=len(labels), balanced_accuracy=float(np.mean(list(recall.values()))),
                         macro_f1=float(np.mean(f1)), per_answer_recall=recall, collapse_rate=collapse, most_common=top)
