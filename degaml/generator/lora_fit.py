"""A trainable LoRA on the shared base model, fitting it on labelled examples, and saving it as a PEFT adapter.

Below the generator's users: the multi-task (union) LoRA of degaml.generator.union and every baseline LoRA
(degaml.baselines.lora re-exports this module) are trained here.

One fitting mechanism: `fit_lora` runs the generator's collection step (degaml.generator.collect.supervised_step:
answer-token NLL, AdamW) over seeded per-epoch batches (collect.batch_indices). Parameters are addressed by their
`named_parameters` names (…lora_A.default.weight), the format of every baseline artifact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from degaml.generator.collect import batch_indices, lora_config, supervised_step
from degaml.io import atomic_directory
from degaml.models.llm import LoadedModel
from degaml.specs.meta import LoraShape

__all__ = ["LoraShape", "StepFn", "fit_lora", "lora_state", "save_adapter", "saved_keys", "set_lora", "trainable_lora",
           "write_adapter"]

StepFn = Callable[[int, float], None]  # (step done, loss)


def saved_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`named_parameters` names (…lora_A.default.weight) → PEFT's saved-adapter keys (…lora_A.weight)."""
    return {k.replace(".default.", "."): v for k, v in state.items()}


@contextmanager
def trainable_lora(loaded: LoadedModel, shape: LoraShape, seed: int, init: dict[str, torch.Tensor] | None = None) -> Iterator[torch.nn.Module]:
    """Yield a PEFT model with a fresh (seeded) or given LoRA; the base model is restored afterwards."""
    from peft import get_peft_model

    base = loaded.model
    flags = {n: p.requires_grad for n, p in base.named_parameters()}
    was_training = base.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(base, lora_config(shape.rank, shape.alpha, shape.target_modules))
    try:
        if init is not None:
            set_lora(model, init)
        yield model
    finally:
        model.unload()
        for name, p in base.named_parameters():
            p.requires_grad_(flags.get(name, p.requires_grad))
        base.train(was_training)


def lora_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA parameters by name (detached float32 copies on CPU)."""
    return {n: p.detach().float().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def set_lora(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(state):
        missing = sorted(set(params) ^ set(state))[:2]
        raise ValueError(f"LoRA state does not match the model's LoRA parameters (e.g. {missing}); was it trained with another shape?")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].dtype))


def save_adapter(model: torch.nn.Module, out_dir: Path) -> Path:
    """Write the model's current LoRA as a standard PEFT adapter directory (atomically)."""
    was_training = model.training
    model.eval()
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(str(tmp), save_embedding_layers=False)
    model.train(was_training)
    return out_dir


def write_adapter(loaded: LoadedModel, shape: LoraShape, state: dict[str, torch.Tensor], out_dir: Path) -> Path:
    """A PEFT adapter directory holding `state`."""
    with trainable_lora(loaded, shape, 0, state) as model:
        return save_adapter(model, out_dir)


def fit_lora(
    model: torch.nn.Module,
    loaded: LoadedModel,
    pairs: list[tuple[str, str]],
    steps: int,
    lr: float,
    batch_size: int,
    max_length: int,
    seed: int,
    on_step: StepFn | None = None,
    start_step: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """AdamW on the answer-token NLL of `pairs` from `start_step` to `steps`; returns the losses."""
    if not pairs:
        raise ValueError("fit_lora: no labelled examples")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer or torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for step in range(start_step, steps):
        idx = batch_indices(len(pairs), min(batch_size, len(pairs)), step, seed)
        losses.append(supervised_step(model, loaded, optimizer, [pairs[i] for i in idx], max_length,
                                      f"LoRA fit: non-finite loss at step {step}"))
        if on_step is not None:
            on_step(step + 1, losses[-1])
    model.eval()
    return losses
