"""`calibrate`: the base model (or θ₀) with its answer prior corrected at scoring time — contextual, batch,
support-fitted bias (the bias-only control of T-Few-style training) or PMI (degaml.strategies.calibrate)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.strategy_row import StrategyRowConfig, run_row
from degaml.protocol import ProtocolTask
from degaml.strategies.calibrate import CalibrateParams

SEEDED = False
USES_GENERATOR = True  # with start=generator


class CalibrateConfig(StrategyRowConfig):
    method: Literal["contextual", "batch", "support_bias", "pmi"] = Field("batch", description="the calibration")


Config = CalibrateConfig


def fit(ptask: ProtocolTask, config: CalibrateConfig, ctx: RunContext) -> Fitted:
    return run_row([CalibrateParams(method=config.method)], ptask, config, ctx)
