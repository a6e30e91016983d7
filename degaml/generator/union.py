"""The multi-task (union) LoRA θ_union: one LoRA trained on the union of the included meta-training tasks' train
pools — the residual generator's base (θ₀ = θ_union + G(prompts)) and the `union_lora` baseline's start.

One implementation, one artifact: `build_union` is what `degaml generator train META [--exclude T]` (residual mode)
and `degaml baseline union_lora` both call; the artifact's directory (`<out>/baselines/union_lora[-minus-T]-<hash>`)
is keyed by the recipe, the LoRA shape, the seed and the meta spec's tasks, so both reuse the same finished file.
Leave-one-out by construction: excluded tasks' specs are never read (meta_artifacts.meta_tasks). The fit is
`fit_lora` (the collection step), resumable every `save_every` steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from degaml.generator.lora_fit import LoraShape, fit_lora, lora_state, saved_keys, set_lora, trainable_lora
from degaml.generator.meta_artifacts import artifact_dir, base_manifest, is_complete, load_state, meta_tasks, write_artifact
from degaml.io import atomic_path
from degaml.models.llm import LoadedModel
from degaml.specs.meta import MetaSpec, UnionRecipe

METHOD = "union_lora"


def union_key(recipe: UnionRecipe, shape: LoraShape, seed: int) -> str:
    """The training identity of θ_union (the `union_lora` baseline's `training_key` without its meta path)."""
    return json.dumps({"union": recipe.model_dump(), "lora": shape.model_dump(), "seed": seed})


def union_dir(meta: MetaSpec, recipe: UnionRecipe, shape: LoraShape, seed: int, exclude: list[str]) -> Path:
    """Where θ_union without `exclude` is (shipped copy, or built/resumed under the meta spec's output directory)."""
    return artifact_dir(meta, METHOD, exclude, union_key(recipe, shape, seed))


def meta_union(meta: MetaSpec) -> tuple[UnionRecipe, LoraShape, int]:
    """θ_union's recipe, shape and seed for a meta spec's residual generator: the collection's LoRA shape and seed."""
    c = meta.collection
    return meta.generator.union, LoraShape(rank=c.rank, alpha=c.alpha, target_modules=list(c.target_modules)), c.seed


def load_union_adapter_state(out: Path) -> dict[str, torch.Tensor]:
    """θ_union in PEFT's saved-adapter key format (…lora_A.weight), as collections and generated adapters are."""
    return saved_keys(load_state(out))


def build_union(loaded: LoadedModel, meta: MetaSpec, recipe: UnionRecipe, shape: LoraShape, seed: int,
                exclude: list[str], config: dict | None = None, save_every: int = 20,
                progress: Callable[[int, float], None] | None = None) -> Path:
    """Train (or reuse / resume) θ_union without the excluded tasks; returns its artifact directory."""
    out = union_dir(meta, recipe, shape, seed, exclude)
    if is_complete(out):
        return out
    tasks = meta_tasks(meta, exclude, recipe.max_samples)
    pairs = [pair for task in tasks for pair in task.pairs]
    partial, resume = out / "partial.safetensors", out / "resume_state.pt"
    out.mkdir(parents=True, exist_ok=True)
    with trainable_lora(loaded, shape, seed) as model:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=0.0)
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
            if step % save_every == 0 and step < recipe.steps:
                with atomic_path(partial) as tmp:
                    save_file(lora_state(model), str(tmp))
                with atomic_path(resume) as tmp:
                    torch.save({"optimizer": optimizer.state_dict(), "step": step, "losses": losses}, tmp)

        fit_lora(model, loaded, pairs, recipe.steps, recipe.lr, recipe.batch_size, recipe.max_length, seed,
                 on_step=checkpoint, start_step=start, optimizer=optimizer)
        cfg = config if config is not None else {"union": recipe.model_dump(), "lora": shape.model_dump(), "seed": seed}
        manifest = base_manifest(METHOD, meta, tasks, exclude, cfg) | {
            "steps": recipe.steps, "losses": losses, "resumed_from_step": start}
        write_artifact(out, lora_state(model), manifest)
    partial.unlink(missing_ok=True)
    resume.unlink(missing_ok=True)
    return out
