"""Prompts → PEFT LoRA adapter (the generalization module at test time).

The frozen generator maps the embedding of a prompt batch to parameter tokens; the tokenizer maps them back to a
LoRA state dict, written in PEFT's standard adapter format (`adapter_config.json` + `adapter_model.safetensors`)
so `PeftModel.from_pretrained(base, DIR)` loads it. A residual generator's tokens stand for Δ and the adapter is
θ_union + Δ (degaml.generator.residual), in the same format. `q_φ(θ | D)` is a distribution: another prompt batch (drawn
with another seed from the unlabeled pool) or `noise > 0` gives another sample.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file

from degaml.generator.artifact import GeneratorBundle
from degaml.generator.embedding import PromptEmbedder
from degaml.io import atomic_directory, disk_errors
from degaml.models.adapters import require_finite


def sample_prompt_batch(pool: Sequence[str], size: int, seed: int) -> list[str]:
    """`size` prompts drawn without replacement (cycled if the pool is smaller), seeded."""
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    return [pool[order[i % len(order)]] for i in range(size)]


def compose(union: dict[str, torch.Tensor], delta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """θ_union + Δ key by key (same keys required); where Δ is exactly zero the θ_union value is kept bit for bit."""
    if set(union) != set(delta):
        raise ValueError(f"residual: Δ and θ_union have different LoRA keys (e.g. {sorted(set(union) ^ set(delta))[:2]})")
    return {k: torch.where(delta[k] == 0, union[k], union[k] + delta[k].to(union[k].dtype)) for k in union}


@torch.inference_mode()
def generate_state_dict(bundle: GeneratorBundle, embedder: PromptEmbedder, prompts: Sequence[str],
                        noise: float = 0.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """LoRA state dict (PEFT saved-key format) for one prompt batch. No gradient ever reaches the generator."""
    embedding = embedder.embed(prompts)[None]  # (1, N, L, C)
    if noise > 0:
        embedding = embedding + noise * torch.randn(embedding.shape, generator=torch.Generator().manual_seed(seed))
    tokens = bundle.model(embedding)[0]  # (T, r, chunk)
    state = bundle.tokenizer.detokenize(tokens.detach())
    if bundle.config.mode == "residual":  # the tokens stand for Δ; the adapter is θ_union + Δ
        return compose(bundle.union, state)
    return state


def write_peft_adapter(state_dict: dict[str, torch.Tensor], bundle: GeneratorBundle, out_dir: Path,
                       extra_files: dict[str, str] | None = None) -> Path:
    """Write a standard PEFT LoRA adapter directory atomically (with `extra_files`: name → text, e.g. provenance)."""
    from peft import LoraConfig

    config = LoraConfig(
        r=bundle.config.lora_rank,
        lora_alpha=bundle.config.lora_alpha,
        target_modules=list(bundle.config.target_modules),
        lora_dropout=0.0,
        base_model_name_or_path=bundle.config.base_model,
        task_type="CAUSAL_LM",
    )
    return save_lora_adapter(state_dict, config, out_dir, extra_files)


def save_lora_adapter(state_dict: dict[str, torch.Tensor], config, out_dir: Path, extra_files: dict[str, str] | None = None) -> Path:
    """Write a PEFT LoRA state dict (saved-key format) and its `LoraConfig` as an adapter directory, atomically.

    Every produced adapter passes here: one with NaN/inf or implausibly large weights (a diverged or corrupt
    generator, noise of infinite scale) is refused before anything is written; a disk error (safetensors raises
    its own type for "No space left on device") is raised as the OSError it is, leaving nothing behind."""
    require_finite(state_dict, f"generated adapter '{out_dir}'")
    with disk_errors(), atomic_directory(Path(out_dir)) as tmp:
        config.save_pretrained(str(tmp))
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp / "adapter_model.safetensors"))
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out_dir
