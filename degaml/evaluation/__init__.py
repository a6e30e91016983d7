"""Evaluation: prompts from spec templates, multiple-choice log-likelihood and greedy-generation scoring,
answer extraction, and accuracy with Wilson 95% intervals (degaml.stats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "EvalResult": "degaml.evaluation.result",
    "Prediction": "degaml.evaluation.result",
    "evaluate": "degaml.evaluation.evaluator",
    "PromptBuilder": "degaml.evaluation.prompts",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.evaluation.evaluator import evaluate
    from degaml.evaluation.result import EvalResult, Prediction
    from degaml.evaluation.prompts import PromptBuilder

__all__ = ["EvalResult", "Prediction", "PromptBuilder", "evaluate"]
