"""Building an `EvalResult` from per-item predictions made outside `evaluate()` (strategies that change how
predictions are formed: TTS ensembles, SLOT's per-sample latent offsets).

Same definitions as the evaluator: accuracy = correct / n with a Wilson 95% interval; for multiple choice
`acc` = mean[argmax(scores) == gold] and `acc_norm` = mean[argmax(scores_norm) == gold] unless given explicitly
(an ensemble whose rule depends on the metric passes both).
"""

from __future__ import annotations

from collections.abc import Sequence

from degaml.evaluation.evaluator import EvalResult, Prediction, choice_prediction, generated_prediction

__all__ = ["argmax", "build_result", "choice_prediction", "generated_prediction"]
from degaml.evaluation.metrics import wilson_interval
from degaml.specs.model import TaskSpec


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value (the first one on ties, like the evaluator)."""
    return max(range(len(values)), key=values.__getitem__)


def build_result(
    spec: TaskSpec,
    model_name: str,
    split: str,
    adapter: str | None,
    predictions: list[Prediction],
    seconds: float,
    tokens: int,
    acc: float | None = None,
    acc_norm: float | None = None,
) -> EvalResult:
    """EvalResult over `predictions` (computed the way `evaluate()` does)."""
    n = len(predictions)
    correct = sum(p.correct for p in predictions)
    mc = spec.format == "multiple_choice"
    if acc is None:
        acc = (sum(argmax(p.scores) == p.gold for p in predictions) / max(1, n)) if mc else (correct / n if n else 0.0)
    if acc_norm is None and mc:
        acc_norm = sum(argmax(p.scores_norm) == p.gold for p in predictions) / max(1, n)
    return EvalResult(
        task=spec.task,
        split=split,
        model=model_name,
        adapter=adapter,
        metric=spec.metric if mc else "exact_match",
        n=n,
        accuracy=correct / n if n else 0.0,
        ci95=wilson_interval(correct, n),
        acc=acc,
        acc_norm=acc_norm if mc else None,
        seconds=seconds,
        examples_per_second=n / seconds if seconds > 0 else 0.0,
        tokens=tokens,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        predictions=predictions,
    )
