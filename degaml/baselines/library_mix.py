"""`library_mix`: LoraHub — the meta-training tasks' LoRAs composed with weights optimised gradient-free on the
labelled support (degaml.strategies.library_mix), from the base model's fresh LoRA (or θ₀); the target is left out of
the library when it is a task of the meta spec."""

from __future__ import annotations

from pydantic import Field

from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.strategy_row import StrategyRowConfig, run_row
from degaml.protocol import ProtocolTask
from degaml.strategies.library_mix import LibraryMixParams

SEEDED = True  # the optimiser's seed
USES_GENERATOR = True  # with start=generator
USES_LIBRARY = True  # the meta spec's collected task LoRAs


class LibraryMixConfig(StrategyRowConfig):
    meta: str = Field("specs/meta/in_domain.yaml", description="meta spec whose collected task LoRAs form the library")
    budget: int = Field(40, description="loss evaluations of the optimiser (20 or 40)")


Config = LibraryMixConfig


def fit(ptask: ProtocolTask, config: LibraryMixConfig, ctx: RunContext) -> Fitted:
    spec = ptask.spec.model_copy(update={"adapt": ptask.spec.adapt.model_copy(update={"library": config.meta})})
    return run_row([LibraryMixParams(budget=config.budget)], ptask, config, ctx, spec=spec)
