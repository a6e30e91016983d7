"""No-Meta-Train LoRA (paper footnote 3): a fresh LoRA fitted on the target's labelled support only; learning
rate and number of steps chosen on validation (degaml.baselines.support_fit)."""

from __future__ import annotations

from typing import Any

from degaml.baselines.config import BaselineConfig
from degaml.baselines.support_fit import SupportFit

FIT_PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {"lrs": [1e-4, 1e-3], "eval_steps": [5, 15, 30], "batch_size": 4, "max_length": 256},
    "paper": {"lrs": [1e-5, 5e-5, 1e-4, 5e-4], "eval_steps": [10, 25, 50, 100], "batch_size": 4, "max_length": 512},
    "tiny": {"lrs": [1e-2], "eval_steps": [1, 2], "batch_size": 4, "max_length": 32},
}


class NoMetaLoraConfig(BaselineConfig):
    PROFILES = {name: {"fit": fit} for name, fit in FIT_PROFILES.items()}
    fit: SupportFit
