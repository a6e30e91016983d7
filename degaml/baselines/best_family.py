"""`best_family`: the best fixed adaptation family chosen on validation — the controller's strongest simple rival.

From θ₀ (or the base model), one fixed setting of each family in `families` runs on the validation split; the one
with the highest validation accuracy is kept and scored once on test (degaml.baselines.strategy_row). It is what a
practitioner with the same labelled support, the same validation split and degaml's actions would do without a
policy: if the controller does not beat this row, its decisions add nothing over "try each family once".

The settings are fixed before any test read: support SFT, SLOT and TTT as in the earlier held-out comparison
(validation-only strategy ablation in docs/findings/strategies.md), T-Few, batch calibration and three nearest
demonstrations at the middle of their grids. A family that fails on the task (calibration on a generative task) is skipped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.strategy_row import StrategyRowConfig, run_row
from degaml.protocol import ProtocolTask
from degaml.strategies.registry import Action

SEEDED = False  # from θ₀ every family is seeded by the target spec's seed, not by the row's
USES_GENERATOR = True

FIXED: dict[str, dict[str, Any]] = {
    "support_sft": {"family": "support_sft", "steps": 25, "learning_rate": 3e-4, "batch_size": 4},
    "slot": {"family": "slot", "times": 5, "learning_rate": 0.01},
    "ttt": {"family": "ttt", "ttl_steps": 10, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True},
    "tfew": {"family": "tfew", "steps": 25, "learning_rate": 3e-4, "batch_size": 4},
    "calibrate": {"family": "calibrate", "method": "batch"},
    "fewshot": {"family": "fewshot", "k": 3, "selection": "nearest"},
}
Family = Literal["support_sft", "slot", "ttt", "tfew", "calibrate", "fewshot"]


class BestFamilyConfig(StrategyRowConfig):
    PROFILES = {"tiny": {"families": ["calibrate", "fewshot"]}}
    start: Literal["base", "generator"] = Field("generator", description="generator: θ₀ (the controller's start)")
    families: list[Family] = Field(default_factory=lambda: list(FIXED), min_length=1,
                                   description="families tried once each with their fixed setting (FIXED)")


Config = BestFamilyConfig


def fixed_settings(families: list[str]) -> list[Any]:
    """The validated params of each family's fixed setting, in the order given (ties keep the first)."""
    return [Action.model_validate({"strategy": FIXED[f]}).strategy for f in dict.fromkeys(families)]


def fit(ptask: ProtocolTask, config: BestFamilyConfig, ctx: RunContext) -> Fitted:
    return run_row(fixed_settings(config.families), ptask, config, ctx, info={"families": list(config.families)})
