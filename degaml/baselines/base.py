"""`base`: the frozen LLM scored as it is (the paper's "Base Model" row)."""

from __future__ import annotations

from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.protocol import ProtocolTask

SEEDED = False
USES_GENERATOR = False


class BaseConfig(BaselineConfig):
    """No parameters: the base model scored as it is."""


Config = BaseConfig


def fit(ptask: ProtocolTask, config: BaseConfig, ctx: RunContext) -> Fitted:
    """No fitting: the base model without adapter."""
    return Fitted([None])
