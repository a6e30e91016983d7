"""Union-Train LoRA (paper footnote 3): one LoRA trained on the union of the meta-training tasks' train pools
(the target left out), then fine-tuned on the target's labelled support like `no_meta_lora` (lr and steps chosen
on validation). The union LoRA is degaml.generator.union's θ_union (the residual generator's base), so the
baseline and the generator share one implementation and one artifact.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from degaml.baselines.artifacts import load_meta, load_state, target_exclusion
from degaml.baselines.config import BaselineConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.no_meta_lora import FIT_PROFILES
from degaml.baselines.support_fit import SupportFit, fit_on_support
from degaml.generator import union
from degaml.protocol import ProtocolTask
from degaml.specs.meta import UnionRecipe

SEEDED = True
USES_GENERATOR = False


UnionTrain = UnionRecipe  # the union section of the config: θ_union's recipe (field names and values keep the artifact keys)


class UnionLoraConfig(BaselineConfig):
    PROFILES = {
        "cpu": {"union": {"steps": 120, "lr": 1e-3, "batch_size": 8, "max_length": 256}, "fit": FIT_PROFILES["cpu"]},
        "paper": {"union": {"steps": 1000, "lr": 1e-4, "batch_size": 32, "max_length": 512, "max_samples": 5000},
                  "fit": FIT_PROFILES["paper"]},
        "tiny": {"union": {"steps": 3, "lr": 1e-2, "batch_size": 4, "max_length": 32}, "fit": FIT_PROFILES["tiny"]},
    }
    meta: str = Field("specs/meta/in_domain.yaml", description="meta spec whose tasks (minus the target) form the union")
    union: UnionTrain
    fit: SupportFit
    save_every: int = Field(20, ge=1)

    def training_key(self) -> str:
        return self.model_dump_json(include={"meta", "union", "lora", "seed"})


Config = UnionLoraConfig


def build_union(loaded, config: UnionLoraConfig, exclude: list[str], progress=None) -> Path:
    """Train (or reuse / resume) the union LoRA without the excluded tasks (degaml.generator.union, the generator's
    θ_union: one implementation, one artifact); returns its artifact dir."""
    return union.build_union(loaded, load_meta(config.meta), config.union, config.lora, config.seed, exclude,
                             config=config.model_dump(), save_every=config.save_every, progress=progress)


build_artifact = build_union


def artifact_steps(config: UnionLoraConfig) -> int:
    return config.union.steps


def fit(ptask: ProtocolTask, config: UnionLoraConfig, ctx: RunContext) -> Fitted:
    """The union LoRA (built or reused, the target left out), fine-tuned on the support like `no_meta_lora`."""
    exclude = target_exclusion(config.meta, ptask.task, ctx.spec_path)
    art = build_union(ctx.model(), config, exclude)
    out = fit_on_support(ctx.model(), ptask, config.lora, config.fit, config.seed, ctx.work_dir / "union_lora", load_state(art))
    return Fitted([out.adapter], {"artifact": str(art), "excluded": exclude, "lr": out.lr, "steps": out.steps,
                                  "candidates": out.candidates}, out.validation)
