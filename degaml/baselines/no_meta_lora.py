"""No-Meta-Train LoRA (paper footnote 3): a fresh LoRA fitted on the target's labelled support only; learning
rate and number of steps chosen on validation (degaml.baselines.support_fit)."""

from __future__ import annotations

from typing import Any

from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.support_fit import SupportFit, fit_on_support
from degaml.protocol import ProtocolTask

SEEDED = True
USES_GENERATOR = False

FIT_PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {"lrs": [1e-4, 1e-3], "eval_steps": [5, 15, 30], "batch_size": 4, "max_length": 256},
    "paper": {"lrs": [1e-5, 5e-5, 1e-4, 5e-4], "eval_steps": [10, 25, 50, 100], "batch_size": 4, "max_length": 512},
    "tiny": {"lrs": [1e-2], "eval_steps": [1, 2], "batch_size": 4, "max_length": 32},
}


class NoMetaLoraConfig(BaselineConfig):
    PROFILES = {name: {"fit": fit} for name, fit in FIT_PROFILES.items()}
    fit: SupportFit


Config = NoMetaLoraConfig


def fit(ptask: ProtocolTask, config: NoMetaLoraConfig, ctx: RunContext) -> Fitted:
    """A fresh LoRA fitted on the labelled support; (lr, steps) chosen on validation."""
    out = fit_on_support(ctx.model(), ptask, config.lora, config.fit, config.seed, ctx.work_dir / "no_meta_lora")
    return Fitted([out.adapter], {"lr": out.lr, "steps": out.steps, "candidates": out.candidates}, out.validation)
