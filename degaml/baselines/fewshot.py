"""`fewshot`: k in-context demonstrations from the labelled support, random or nearest by sentence embedding, on
the base model (or θ₀) — what a practitioner tries first (degaml.strategies.fewshot)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.strategy_row import StrategyRowConfig, run_row
from degaml.protocol import ProtocolTask
from degaml.strategies.fewshot import FewshotParams

SEEDED = False
USES_GENERATOR = True  # with start=generator


class FewshotConfig(StrategyRowConfig):
    selection: Literal["random", "nearest"] = Field("random", description="how the demonstrations are chosen")
    ks: list[Literal[1, 3, 5]] = Field(default_factory=lambda: [1, 3, 5], min_length=1,
                                       description="demonstration counts tried; the best on validation is kept")


Config = FewshotConfig


def fit(ptask: ProtocolTask, config: FewshotConfig, ctx: RunContext) -> Fitted:
    return run_row([FewshotParams(k=k, selection=config.selection) for k in config.ks], ptask, config, ctx)
