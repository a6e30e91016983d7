"""`generator`: θ₀, the generator's adapter for the target's unlabeled support prompts (the paper's
"Generalization" row). No training and no labels: the generator reads the support questions only."""

from __future__ import annotations

from pydantic import Field

from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.generator.pipeline import resolve_generator
from degaml.generator.sampler import AdapterSampler
from degaml.protocol import ProtocolTask

SEEDED = False
USES_GENERATOR = True


class GeneratorConfig(BaselineConfig):
    generator: str | None = Field(None, description="generator directory; None: the spec's (leave-one-out dirs in tables)")


Config = GeneratorConfig


def fit(ptask: ProtocolTask, config: GeneratorConfig, ctx: RunContext) -> Fitted:
    """θ₀ for the support prompts, from the context's generator, else the config's, else the spec's."""
    path = resolve_generator(ctx.generator or config.generator or ptask.spec.generator)
    sampler = AdapterSampler.load(path, ctx.work_dir / "adapters", encoder=ctx.encoder)
    return Fitted([sampler.adapter_for(ptask.support_prompts())], {"generator": str(path)})
