"""Union-Train LoRA (paper footnote 3): one LoRA trained on the union of the meta-training tasks' train pools
(the target left out), then fine-tuned on the target's labelled support like `no_meta_lora` (lr and steps chosen
on validation). The union fit is `fit_lora` (the collection step), resumable every `save_every` steps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from safetensors.torch import load_file, save_file

from degaml.baselines.artifacts import (artifact_dir, base_manifest, is_complete, load_meta, load_state, meta_tasks,
                                        target_exclusion, write_artifact)
from degaml.baselines.config import BaselineConfig
from degaml.baselines.lora import fit_lora, lora_state, set_lora, trainable_lora
from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.no_meta_lora import FIT_PROFILES
from degaml.baselines.support_fit import SupportFit, fit_on_support
from degaml.io import atomic_path
from degaml.protocol import ProtocolTask
from degaml.specs.model import StrictModel

SEEDED = True
USES_GENERATOR = False


class UnionTrain(StrictModel):
    steps: int = Field(ge=1, le=1_000_000)
    lr: float = Field(gt=0, le=1.0)
    batch_size: int = Field(ge=1, le=4096)
    max_length: int = Field(ge=8, le=131072)
    max_samples: int = Field(2000, ge=1, description="train-pool items per meta-training task")


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
    """Train (or reuse / resume) the union LoRA without the excluded tasks; returns its artifact dir."""
    meta = load_meta(config.meta)
    out = artifact_dir(meta, "union_lora", exclude, config.training_key())
    if is_complete(out):
        return out
    tasks = meta_tasks(meta, exclude, config.union.max_samples)
    pairs = [pair for task in tasks for pair in task.pairs]
    partial, resume = out / "partial.safetensors", out / "resume_state.pt"
    out.mkdir(parents=True, exist_ok=True)
    with trainable_lora(loaded, config.lora, config.seed) as model:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.union.lr, weight_decay=0.0)
        start, losses = 0, []
        if partial.is_file() and resume.is_file():
            set_lora(model, load_file(str(partial)))
            state = torch.load(resume, weights_only=True)  # our own file
            optimizer.load_state_dict(state["optimizer"])
            start, losses = int(state["step"]), list(state["losses"])

        def checkpoint(step: int, loss: float) -> None:
            losses.append(loss)
            if progress is not None:
                progress(step, loss)
            if step % config.save_every == 0 and step < config.union.steps:
                with atomic_path(partial) as tmp:
                    save_file(lora_state(model), str(tmp))
                with atomic_path(resume) as tmp:
                    torch.save({"optimizer": optimizer.state_dict(), "step": step, "losses": losses}, tmp)

        fit_lora(model, loaded, pairs, config.union.steps, config.union.lr, config.union.batch_size,
                 config.union.max_length, config.seed, on_step=checkpoint, start_step=start, optimizer=optimizer)
        manifest = base_manifest("union_lora", meta, tasks, exclude, config.model_dump()) | {
            "steps": config.union.steps, "losses": losses, "resumed_from_step": start}
        write_artifact(out, lora_state(model), manifest)
    partial.unlink(missing_ok=True)
    resume.unlink(missing_ok=True)
    return out


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
