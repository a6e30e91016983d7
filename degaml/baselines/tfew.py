"""`tfew`: T-Few-style rank-classification training of a LoRA on the labelled support (gold likelihood,
unlikelihood of the wrong options, length-normalised rank loss), steps and learning rate chosen on validation
(degaml.strategies.tfew). Its prior-only control is `calibrate_support_bias` (a bias fitted on the same items)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.strategy_row import StrategyRowConfig, run_row
from degaml.protocol import ProtocolTask
from degaml.strategies.tfew import TFewParams

SEEDED = True
USES_GENERATOR = True  # with start=generator


class TFewGrid(BaseModel):
    steps: int
    learning_rate: float


class TFewConfig(StrategyRowConfig):
    PROFILES = {"tiny": {"grid": [{"steps": 10, "learning_rate": 1e-3}]}}
    grid: list[TFewGrid] = Field(default_factory=lambda: [TFewGrid(steps=25, learning_rate=3e-4),
                                                          TFewGrid(steps=50, learning_rate=1e-3)], min_length=1)
    batch_size: int = Field(4, description="labelled items per step (2 or 4)")


Config = TFewConfig


def fit(ptask: ProtocolTask, config: TFewConfig, ctx: RunContext) -> Fitted:
    candidates = [TFewParams(steps=g.steps, learning_rate=g.learning_rate, batch_size=config.batch_size) for g in config.grid]
    return run_row(candidates, ptask, config, ctx)
