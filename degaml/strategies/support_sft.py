"""Supervised LoRA steps on the task's labelled support items (the paper's "20 datapoints of the target dataset").

The adaptation module — never the generator — may fit on the target task's few labelled examples: this family
takes `steps` AdamW steps on the answer tokens of the labelled support items, starting from the current adapter,
saves the result as a PEFT adapter under `ctx.work_dir` and scores it on the split. The loss covers the answer
tokens only (the gold choice's continuation for multiple choice, `fewshot_target` for generative formats), rendered
zero-shot exactly as LoRA collection renders its training pairs (`PromptBuilder.training_pair`).

Only `ctx.task.labelled_support` is trained on: no item of the scored split (its inputs or labels) is read before
scoring. Batches are consecutive slices of per-epoch seeded permutations (a pure function of seed and step).
The training loop and its guard (NaN / divergence → nothing saved, reverted) are `lora_steps.train_lora_steps`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, field_validator

from degaml.evaluation import PromptBuilder
from degaml.generator.collect import TrainingBatch, batch_indices, build_batch
from degaml.strategies import lora_steps
from degaml.strategies.base import Outcome, ParamsBase, ScoredSplit, StrategyContext, StrategyError, Timer


class SupportSFTParams(ParamsBase):
    """Supervised fine-tuning of the current LoRA on the task's few labelled support examples."""

    family: Literal["support_sft"] = Field("support_sft", description=(
        "Strategy family: supervised LoRA steps on the task's labelled support examples (answer tokens only)."))
    steps: Literal[10, 25, 50] = Field(description="AdamW steps on the labelled support items.")
    learning_rate: Literal[1e-4, 3e-4, 1e-3] = Field(description="AdamW learning rate for the LoRA parameters.")
    batch_size: Literal[4, 8] = Field(description="Labelled support items per step.")

    @field_validator("steps", "learning_rate", "batch_size", mode="before")
    @classmethod
    def _no_bools(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("a number is required, not a boolean")
        return value


def run_support_sft(params: SupportSFTParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Fit the current adapter on the labelled support, save it under `ctx.work_dir`, score it on `split`."""
    timer = Timer()
    start = ctx.initial_adapter()
    items = list(ctx.task.labelled_support)
    if not items or any(ex.answer is None for ex in items):
        raise StrategyError(f"support_sft: task '{ctx.spec.task}' has no labelled support items to fit on")
    builder = PromptBuilder(ctx.spec.model_copy(update={"num_fewshot": 0}))
    pairs = [builder.training_pair(ex) for ex in items]
    size = min(params.batch_size, len(pairs))
    key = json.dumps([str(start), params.model_dump(), ctx.seed], sort_keys=True)
    out_dir = ctx.work_dir / f"support_sft-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def batch_for_step(i: int) -> TrainingBatch:
        idx = batch_indices(len(pairs), size, i, ctx.seed)
        return build_batch(ctx.loaded.tokenizer, [pairs[j] for j in idx], ctx.spec.max_length)

    log = [f"support_sft on {len(pairs)} labelled support items from {start.name}"]
    trained = lora_steps.train_lora_steps(
        ctx.loaded, start, out_dir, batch_for_step, params.steps, params.learning_rate, ctx.seed,
        report=lambda step: ctx.report(f"support_sft step {step}/{params.steps}", 0.8 * step / params.steps),
        checkpointing=ctx.spec.gradient_checkpointing)
    if trained.losses:
        log.append(f"loss {trained.losses[0]:.4f} → {trained.losses[-1]:.4f} over {len(trained.losses)} steps")
    return lora_steps.score_trained("support_sft", params.model_dump(), ctx, split, start, out_dir, trained, log,
                                    lambda: timer.seconds, 0.8, "the starting adapter")
