"""`best_source`: the single meta-training task LoRA (from the LoRA library, the target left out) with the best
validation accuracy — the control that a composition or a generator must beat to show it adds anything."""

from __future__ import annotations

from pydantic import Field

from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.generator.library import task_lora_library
from degaml.protocol import ProtocolTask, validation_score
from degaml.specs import load_meta_spec

SEEDED = False
USES_GENERATOR = False
USES_LIBRARY = True


class BestSourceConfig(BaselineConfig):
    meta: str = Field("specs/meta/in_domain.yaml", description="meta spec whose collected task LoRAs form the library")


Config = BestSourceConfig


def fit(ptask: ProtocolTask, config: BestSourceConfig, ctx: RunContext) -> Fitted:
    meta = load_meta_spec(config.meta)
    library = task_lora_library(meta, meta.leave_one_out(ptask.task, ctx.spec_path))
    scored = {task: validation_score(ctx.model(), ptask, [path]) for task, path in library.items()}
    best = max(scored, key=lambda t: scored[t].accuracy)  # dict order: the meta spec's; ties keep the first
    return Fitted([library[best]], {"source": best, "validation": {t: s.accuracy for t, s in scored.items()}}, scored[best])
