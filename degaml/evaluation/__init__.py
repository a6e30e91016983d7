"""Evaluation: prompts from spec templates, multiple-choice log-likelihood and greedy-generation scoring,
answer extraction, and accuracy with Wilson 95% intervals."""

from degaml.evaluation.evaluator import EvalResult, Prediction, evaluate
from degaml.evaluation.metrics import wilson_interval
from degaml.evaluation.prompts import PromptBuilder

__all__ = ["EvalResult", "Prediction", "PromptBuilder", "evaluate", "wilson_interval"]
