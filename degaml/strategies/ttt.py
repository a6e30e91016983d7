"""Test-time training (TTT, paper App. F.1): refine θ₀ by minimising the perplexity of unlabeled task inputs.

θ₀ (the generator's adapter) is loaded as a *trainable* PEFT LoRA on the shared base model; AdamW then takes
exactly `ttl_steps` optimizer steps on the causal-LM loss of unlabeled text, the adapted adapter is saved in
standard PEFT format under `ctx.work_dir` and scored with the evaluator.

Which text is trained on (never a label):
- the support prompts plus the *inputs* of the split being scored (test-time learning, as in TLM/upstream);
- each item is rendered zero-shot as the evaluator's context body: the spec's `doc_to_text` applied to the item
  with its label stripped (`Example.unlabeled()`), so the model adapts to exactly the text it is later prompted
  with. Few-shot prefixes are left out: they are the same few train items repeated in every context, would
  dominate the loss and are not test inputs. When `doc_to_text` needs a `choice` (WinoGrande's partial scoring)
  the raw question (sentence with its blank) is used instead, so no choice — right or wrong — is ever trained on;
- token ids are those the evaluator feeds the model (no special tokens added), left-truncated to the last
  `spec.max_length` tokens; batches are right-padded and padding is masked out of the loss (label -100).

Fixes over upstream: `ttl_steps` counts optimizer steps (not epochs) and padding does not enter the loss.
Batches are a pure function of (`ctx.seed`, step, `shuffle_data`): per-epoch seeded permutations, or the items in
order when not shuffling.

Training is `lora_steps.train_lora_steps` (shared with support SFT). Guard: a non-finite loss, a loss above
`DIVERGENCE_FACTOR` × the first loss, or non-finite adapted weights stop training; nothing is saved, θ₀ is scored instead and the Outcome has `ok=False`, `artifact=None`,
`accuracy` = θ₀'s accuracy on the split and `error` saying why. The base model is always left as it was
(LoRA layers unloaded, `requires_grad` flags and train/eval mode restored) in a `finally`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field, field_validator

from degaml.data import Example
from degaml.evaluation import PromptBuilder
from degaml.generator.collect import TrainingBatch
from degaml.strategies import lora_steps
from degaml.strategies.base import ParamsBase, Outcome, ScoredSplit, StrategyContext, Timer




class TTTParams(ParamsBase):
    """Test-time training: a few AdamW steps on the perplexity of the task's unlabeled inputs."""


    family: Literal["ttt"] = Field("ttt", description="Strategy family: test-time training of the generated LoRA.")
    ttl_steps: Literal[5, 10, 25] = Field(
        description="Optimizer steps of perplexity minimisation on unlabeled task inputs (more = stronger adaptation)."
    )
    learning_rate: Literal[1e-5, 5e-5, 1e-4, 5e-4] = Field(
        description="AdamW learning rate for the LoRA parameters (1e-5 is the paper's default; large values may diverge)."
    )
    batch_size: Literal[2, 4, 8] = Field(description="Unlabeled inputs per optimizer step.")
    shuffle_data: bool = Field(description="Seeded shuffling of the inputs each epoch (false: fixed order).")

    @field_validator("ttl_steps", "learning_rate", "batch_size", mode="before")
    @classmethod
    def _no_bools(cls, value: object) -> object:
        if isinstance(value, bool):  # True == 1 would otherwise slip through numeric literals
            raise ValueError("a number is required, not a boolean")
        return value


# --- data -------------------------------------------------------------------------------------------------------


def training_texts(ctx: StrategyContext, split: ScoredSplit) -> list[str]:
    """Unlabeled texts TTT trains on: support items then the scored split's inputs, rendered zero-shot."""
    builder = PromptBuilder(ctx.spec.model_copy(update={"num_fewshot": 0}))
    items: list[Example] = [*ctx.task.support, *ctx.examples(split)]
    if builder.choice_in_context:
        return [ex.question for ex in items]
    return [builder.context(ex.unlabeled()) for ex in items]


def build_lm_batch(tokenizer, texts: Sequence[str], max_length: int, pad_to: int | None = None) -> TrainingBatch:
    """Right-padded causal-LM batch: labels = token ids on real tokens, -100 on padding; left-truncated."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"][-max_length:] for text in texts]
    rows = [row or [tokenizer.eos_token_id] for row in rows]  # an empty text still yields a (loss-free) row
    width = max(max(len(r) for r in rows), pad_to or 0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)  # (B, T)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, : len(row)] = torch.tensor(row)
    return TrainingBatch(ids, mask, labels)


lm_loss = lora_steps.batch_loss  # mean next-token NLL over the non-padding tokens (the log-perplexity)


def step_batches(n_items: int, batch_size: int, steps: int, seed: int, shuffle: bool) -> list[list[int]]:
    """Item indices of each optimizer step: consecutive slices of per-epoch orders (seeded permutations if shuffle)."""
    if n_items == 0:
        return []
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < steps:
        order = list(range(n_items))
        if shuffle:
            random.Random(f"{seed}:{epoch}").shuffle(order)
        for start in range(0, n_items, batch_size):
            batches.append(order[start : start + batch_size])
        epoch += 1
    return batches[:steps]


# --- run --------------------------------------------------------------------------------------------------------


def _output_name(ctx: StrategyContext, params: TTTParams, split: ScoredSplit) -> str:
    key = json.dumps([str(ctx.initial_adapter()), params.model_dump(), split, ctx.seed], sort_keys=True)
    return f"ttt-{split}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def run_ttt(params: TTTParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Adapt θ₀ by test-time training, save it as a PEFT adapter under `ctx.work_dir`, score it on `split`."""
    timer = Timer()
    theta0 = ctx.initial_adapter()
    texts = training_texts(ctx, split)
    schedule = step_batches(len(texts), params.batch_size, params.ttl_steps, ctx.seed, params.shuffle_data)
    log = [f"ttt on {len(texts)} unlabeled inputs ({len(ctx.task.support)} support + {split} inputs)"]
    adapter_dir = ctx.work_dir / _output_name(ctx, params, split)

    def batch_for_step(i: int) -> TrainingBatch:
        return build_lm_batch(ctx.loaded.tokenizer, [texts[j] for j in schedule[i]], ctx.spec.max_length)

    trained = lora_steps.train_lora_steps(
        ctx.loaded, theta0, adapter_dir, batch_for_step, len(schedule), params.learning_rate, ctx.seed,
        report=lambda step: ctx.report(f"ttt step {step}/{len(schedule)}", 0.9 * step / len(schedule)),
        checkpointing=ctx.spec.gradient_checkpointing)
    log += [f"step {i}/{len(schedule)} loss {v:.4f}" for i, v in enumerate(trained.losses, start=1)]
    return lora_steps.score_trained("ttt", params.model_dump(), ctx, split, theta0, adapter_dir, trained, log,
                                    lambda: timer.seconds, 0.9, "θ₀")
