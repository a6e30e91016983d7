"""Statistics of scored items, in one place: confidence intervals, paired tests, the noise floor of a split, and
answer metrics that a shift of the answer prior cannot fool (balanced accuracy, macro-F1, per-answer recall,
collapse rate). Pure functions of per-item vectors; nothing here imports the rest of degaml."""

from degaml.stats.answers import AnswerMetrics, answer_metrics, balanced_accuracy, balanced_weights
from degaml.stats.intervals import Z_95, NoiseFloor, noise_floor, wilson_interval
from degaml.stats.paired import (
    bootstrap_average,
    mcnemar_exact,
    mcnemar_tail,
    paired_bootstrap,
    signflip_tail,
)

__all__ = [
    "AnswerMetrics",
    "NoiseFloor",
    "Z_95",
    "answer_metrics",
    "balanced_accuracy",
    "balanced_weights",
    "bootstrap_average",
    "mcnemar_exact",
    "mcnemar_tail",
    "noise_floor",
    "paired_bootstrap",
    "signflip_tail",
    "wilson_interval",
]
