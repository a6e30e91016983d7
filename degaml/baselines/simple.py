"""The two baselines without training: `base` (the frozen LLM) and `generator` (θ₀, the generator's adapter for
the target's unlabeled support prompts — the paper's "Generalization" row)."""

from __future__ import annotations

from pydantic import Field

from degaml.baselines.config import BaselineConfig


class BaseConfig(BaselineConfig):
    """No parameters: the base model scored as it is."""


class GeneratorConfig(BaselineConfig):
    generator: str | None = Field(None, description="generator directory; None: the spec's (leave-one-out dirs in tables)")
