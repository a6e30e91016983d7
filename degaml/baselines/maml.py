"""MAML over LoRA parameters (a LoRA-based MAML-en-LLM; Sinha et al. 2024 has no public code).

What is implemented: θ = the LoRA tensors (A, B of `lora.target_modules`), base weights frozen. Per meta-step,
`meta_batch` meta-training tasks; per task a support batch S and a disjoint query batch Q from its train pool;
inner loop: `inner_steps` SGD steps θ_i = θ − α ∇L_S through `torch.func.functional_call` (graph kept:
second order; `first_order=true` drops it, FOMAML); outer: θ ← Adam(θ, mean_i ∇_θ L_Q(θ_i)). Meta-test: the
inner loop on the target's labelled support (`test_inner_steps` full-batch steps at α), then score.
Not implemented from MAML-en-LLM: full-weight updates, MetaICL inputs, Adam moments shared between loops.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from degaml.baselines.artifacts import (artifact_dir, base_manifest, is_complete, load_meta, load_state, meta_tasks,
                                        resumable_meta_training, sample_episode, target_exclusion)
from degaml.baselines.config import BaselineConfig
from degaml.baselines.functional import second_order_attention, accumulate_outer_grads, pairs_loss, sgd_inner_loop
from degaml.baselines.lora import save_adapter, set_lora, trainable_lora
from degaml.baselines.method import Fitted, RunContext
from degaml.generator.collect import training_pairs
from degaml.protocol import ProtocolTask

SEEDED = True
USES_GENERATOR = False


class MamlConfig(BaselineConfig):
    """MAML over LoRA; α, n, k were not published — the profile values are our choices (docs/comparison.md)."""

    PROFILES = {
        "cpu": {"meta_steps": 60, "meta_batch": 2, "inner_steps": 2, "inner_lr": 1e-2, "outer_lr": 1e-3,
                "support_size": 4, "query_size": 4, "first_order": True, "test_inner_steps": 5, "max_length": 256},
        "paper": {"meta_steps": 500, "meta_batch": 4, "inner_steps": 5, "inner_lr": 1e-3, "outer_lr": 1e-4,
                  "support_size": 8, "query_size": 8, "first_order": False, "test_inner_steps": 5, "max_length": 512},
        "tiny": {"meta_steps": 2, "meta_batch": 2, "inner_steps": 1, "inner_lr": 1e-2, "outer_lr": 1e-2,
                 "support_size": 2, "query_size": 2, "first_order": False, "test_inner_steps": 1, "max_length": 32},
    }
    meta: str = Field("specs/meta/in_domain.yaml", description="meta spec whose tasks (minus the target) meta-train θ")
    meta_steps: int = Field(ge=1, le=1_000_000)
    meta_batch: int = Field(ge=1, le=256, description="n: tasks per meta-step")
    inner_steps: int = Field(ge=1, le=100, description="k: inner SGD steps")
    inner_lr: float = Field(gt=0, le=10.0, description="α")
    outer_lr: float = Field(gt=0, le=1.0)
    support_size: int = Field(ge=1, le=4096)
    query_size: int = Field(ge=1, le=4096)
    first_order: bool
    test_inner_steps: int = Field(ge=0, le=1000)
    max_length: int = Field(ge=8, le=131072)
    max_samples: int = Field(2000, ge=2, description="train-pool items per meta-training task")
    save_every: int = Field(10, ge=1)

    def training_key(self) -> str:
        return self.model_dump_json(exclude={"test_inner_steps", "save_every", "profile"})


Config = MamlConfig


def build_init(loaded, config: MamlConfig, exclude: list[str], progress=None) -> Path:
    """Meta-train (or reuse) the MAML initialisation without the excluded tasks; returns its artifact dir."""
    meta = load_meta(config.meta)
    out = artifact_dir(meta, "maml", exclude, config.training_key())
    if is_complete(out):
        return out
    tasks = meta_tasks(meta, exclude, config.max_samples)
    with trainable_lora(loaded, config.lora, config.seed) as model, second_order_attention(not config.first_order):
        theta = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters() if p.requires_grad}

        def step_fn(step: int) -> float:
            total = 0.0
            episode = sample_episode(tasks, config.meta_batch, config.support_size, config.query_size, config.seed, step)
            for task, s_idx, q_idx in episode:
                support = [task.pairs[i] for i in s_idx]
                query = [task.pairs[i] for i in q_idx]
                adapted = sgd_inner_loop(lambda p: pairs_loss(model, loaded, p, support, config.max_length), theta,
                                         config.inner_steps, config.inner_lr, create_graph=not config.first_order)
                loss = pairs_loss(model, loaded, adapted, query, config.max_length)
                accumulate_outer_grads(loss, theta, adapted, config.first_order, 1.0 / len(episode))
                total += float(loss.detach()) / len(episode)
            return total

        manifest = base_manifest("maml", meta, tasks, exclude, config.model_dump())
        resumable_meta_training(out, theta, config.outer_lr, config.meta_steps, step_fn, manifest, config.save_every, progress)
    return out


def meta_test(loaded, ptask: ProtocolTask, config: MamlConfig, init_dir: Path, out_dir: Path) -> Path:
    """The inner loop on the target's labelled support from the meta-learned θ; writes the adapted adapter."""
    pairs = training_pairs(ptask.spec, list(ptask.support))
    with trainable_lora(loaded, config.lora, config.seed, load_state(init_dir)) as model:
        theta = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters() if p.requires_grad}
        adapted = sgd_inner_loop(lambda p: pairs_loss(model, loaded, p, pairs, config.max_length), theta,
                                 config.test_inner_steps, config.inner_lr, create_graph=False)
        set_lora(model, {n: v.detach() for n, v in adapted.items()})
        return save_adapter(model, out_dir)


build_artifact = build_init


def artifact_steps(config: MamlConfig) -> int:
    return config.meta_steps


def fit(ptask: ProtocolTask, config: MamlConfig, ctx: RunContext) -> Fitted:
    """The meta-learned initialisation (built or reused, the target left out), adapted on the support."""
    exclude = target_exclusion(config.meta, ptask.task, ctx.spec_path)
    art = build_init(ctx.model(), config, exclude)
    return Fitted([meta_test(ctx.model(), ptask, config, art, ctx.work_dir / "maml")], {"artifact": str(art), "excluded": exclude})
