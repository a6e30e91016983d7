"""Fine-tuning a LoRA on the target's labelled support, with the learning rate and the number of steps chosen on
validation (early stopping): `no_meta_lora` starts it from a fresh LoRA, `union_lora` from the union LoRA.

For each learning rate of the grid, one run from the same initialisation is scored on validation after each of
`eval_steps`; the best (learning rate, steps) wins (ties: the earlier candidate — smaller lr, fewer steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field, field_validator

from degaml.baselines.config import LoraShape
from degaml.baselines.lora import fit_lora, lora_state, save_adapter, trainable_lora
from degaml.protocol import ProtocolTask, SplitScore, validation_score
from degaml.generator.collect import training_pairs
from degaml.models.llm import LoadedModel
from degaml.specs.model import StrictModel


class SupportFit(StrictModel):
    """Grid of the support fine-tune; selection reads only the validation split."""

    lrs: list[float] = Field(min_length=1)
    eval_steps: list[int] = Field(min_length=1, description="step counts scored on validation (early stopping)")
    batch_size: int = Field(4, ge=1, le=4096)
    max_length: int = Field(256, ge=8, le=131072)
    selection_items: int | None = Field(None, ge=1, description="validation items used for selection (None: all)")

    @field_validator("eval_steps")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        if any(s < 1 for s in value):
            raise ValueError("steps must be ≥ 1")
        return sorted(set(value))


@dataclass
class FitOutcome:
    adapter: Path
    lr: float
    steps: int
    validation: SplitScore  # of the chosen candidate, on the selection items
    candidates: list[dict]


def fit_on_support(loaded: LoadedModel, ptask: ProtocolTask, shape: LoraShape, fit: SupportFit, seed: int,
                   out_dir: Path, init: dict[str, torch.Tensor] | None = None) -> FitOutcome:
    """Fit on the labelled support, select (lr, steps) on validation, write the chosen adapter to `out_dir`."""
    pairs = training_pairs(ptask.spec, list(ptask.support))
    best: tuple[float, float, int, dict, SplitScore] | None = None
    candidates = []
    for lr in fit.lrs:
        with trainable_lora(loaded, shape, seed, init) as model:
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
            done = 0
            for steps in fit.eval_steps:
                losses = fit_lora(model, loaded, pairs, steps, lr, fit.batch_size, fit.max_length, seed,
                                  start_step=done, optimizer=optimizer)
                done = steps
                inner = LoadedModel(model, loaded.tokenizer, loaded.name, loaded.source, loaded.device, loaded.dtype)
                score = validation_score(inner, ptask, [None], fit.selection_items)
                candidates.append({"lr": lr, "steps": steps, "validation": score.accuracy, "last_loss": losses[-1]})
                if best is None or score.accuracy > best[0]:
                    best = (score.accuracy, lr, steps, lora_state(model), score)
    assert best is not None
    _, lr, steps, state, score = best
    with trainable_lora(loaded, shape, seed, state) as model:
        save_adapter(model, out_dir)
    return FitOutcome(out_dir, lr, steps, score, candidates)
