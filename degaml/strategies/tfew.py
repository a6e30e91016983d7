"""`tfew`: T-Few-style support training (Liu et al. 2022) — the current LoRA fitted on the labelled support items by
rank classification, not only by the gold answer's likelihood.

For a support item with options y_1..y_K (gold g), per option the continuation's token log-probs ℓ_k,t:
    L_LM = −mean_t ℓ_g,t                                (the gold option's tokens)
    L_UL = −mean over wrong options' tokens of log(1 − exp ℓ_k,t)   (unlikelihood: push wrong options down)
    L_LN = −log softmax_k( mean_t ℓ_k,t )[g]            (length-normalised rank classification)
    loss = L_LM + L_UL + L_LN,
averaged over the items of a step. The paper trains (IA)³ vectors from T0; here the parameters are the current
LoRA's (the configuration every other weight family refines), a deliberate difference. Prediction stays the spec's
rank classification. The prior-only control is `calibrate` with `support_bias` (the same labelled items fit only a
per-position bias): a tfew gain that support_bias matches is a prior, not reading.
Training loop, guard and revert: `lora_steps` (non-finite or diverging loss → nothing saved, reverted).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field

from degaml.data.example import Example
from degaml.evaluation.loglikelihood import encode_pair
from degaml.evaluation.prompts import PromptBuilder
from degaml.generator.collect import batch_indices
from degaml.models.heads import labelled_logprobs
from degaml.strategies import lora_steps
from degaml.strategies.base import Outcome, ParamsBase, ScoredSplit, StrategyContext, StrategyError, Timer

MIN_UNLIKELY = 1e-6  # log(1 − p) needs p < 1


class TFewParams(ParamsBase):
    """Rank-classification training of the current LoRA on the labelled support (multiple-choice tasks)."""

    family: Literal["tfew"] = Field("tfew", description=(
        "Strategy family: train the current LoRA on the labelled support with T-Few's losses (gold likelihood, "
        "unlikelihood of wrong options, length-normalised rank classification); multiple-choice tasks."))
    steps: Literal[10, 25, 50] = Field(description="AdamW steps on the labelled support items.")
    learning_rate: Literal[1e-4, 3e-4, 1e-3] = Field(description="AdamW learning rate for the LoRA parameters.")
    batch_size: Literal[2, 4] = Field(description="Labelled support items per step (each with all its options).")


@dataclass
class ChoiceBatch:
    input_ids: torch.Tensor  # (P, T) right-padded, one row per (item, option)
    attention_mask: torch.Tensor  # (P, T)
    labels: torch.Tensor  # (P, T), -100 except the option's continuation tokens
    owner: torch.Tensor  # (P,) item index within the batch
    gold: torch.Tensor  # (P,) bool: the row is its item's gold option


def build_choice_batch(tokenizer, builder: PromptBuilder, items: list[Example], max_length: int) -> ChoiceBatch:
    """Every option of every item as one row (prompts left-truncated so the option always fits)."""
    rows, labels, owner, gold = [], [], [], []
    for i, ex in enumerate(items):
        for k, (context, continuation) in enumerate(builder.choice_pairs(ex)):
            ctx, cont = encode_pair(tokenizer, context, continuation)
            cont = cont[: max_length - 1]
            ctx = ctx[-(max_length - len(cont)):]
            rows.append(ctx + cont)
            labels.append([-100] * len(ctx) + cont)
            owner.append(i)
            gold.append(k == int(ex.answer))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    lab = torch.full((len(rows), width), -100)
    for r, (row, label) in enumerate(zip(rows, labels)):
        ids[r, : len(row)], mask[r, : len(row)], lab[r, : len(row)] = torch.tensor(row), 1, torch.tensor(label)
    return ChoiceBatch(ids, mask, lab, torch.tensor(owner), torch.tensor(gold))


def tfew_loss(model: torch.nn.Module, batch: ChoiceBatch, device: torch.device) -> torch.Tensor:
    """L_LM + L_UL + L_LN of one batch (see the module docstring)."""
    logp, row = labelled_logprobs(model, batch.input_ids.to(device), batch.attention_mask.to(device),
                                  batch.labels.to(device))  # (N,), (N,)
    gold_row = batch.gold.to(device)  # (P,)
    is_gold = gold_row[row]  # (N,)
    l_lm = -logp[is_gold].mean()
    wrong = logp[~is_gold]
    l_ul = -torch.log1p(-wrong.exp().clamp(max=1 - MIN_UNLIKELY)).mean() if wrong.numel() else logp.new_zeros(())
    n_rows = batch.input_ids.shape[0]
    mean_lp = logp.new_zeros(n_rows).index_add(0, row, logp) / logp.new_zeros(n_rows).index_add(0, row, torch.ones_like(logp))
    owner = batch.owner.to(device)
    l_ln = torch.stack([-torch.log_softmax(mean_lp[owner == i], 0)[gold_row[owner == i]].squeeze()
                        for i in range(int(owner.max()) + 1)]).mean()
    return l_lm + l_ul + l_ln


def run_tfew(params: TFewParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Fit the current adapter on the labelled support with T-Few's losses, save it, score it on `split`."""
    if ctx.spec.format != "multiple_choice":
        raise StrategyError(f"tfew: needs a multiple-choice task (task '{ctx.spec.task}' is {ctx.spec.format})")
    items = list(ctx.task.labelled_support)
    if not items or any(ex.answer is None for ex in items):
        raise StrategyError(f"tfew: task '{ctx.spec.task}' has no labelled support items to fit on")
    timer = Timer()
    start = ctx.initial_adapter()
    builder = PromptBuilder(ctx.spec.model_copy(update={"num_fewshot": 0}))
    size = min(params.batch_size, len(items))
    key = json.dumps([str(start), params.model_dump(), ctx.seed], sort_keys=True)
    out_dir = ctx.work_dir / f"tfew-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def batch_for_step(i: int) -> ChoiceBatch:
        idx = batch_indices(len(items), size, i, ctx.seed)
        return build_choice_batch(ctx.loaded.tokenizer, builder, [items[j] for j in idx], ctx.spec.max_length)

    log = [f"tfew on {len(items)} labelled support items from {start.name}"]
    trained = lora_steps.train_lora_steps(
        ctx.loaded, start, out_dir, batch_for_step, params.steps, params.learning_rate, ctx.seed,
        report=lambda step: ctx.report(f"tfew step {step}/{params.steps}", 0.8 * step / params.steps), loss_fn=tfew_loss,
        checkpointing=ctx.spec.gradient_checkpointing)
    if trained.losses:
        log.append(f"loss {trained.losses[0]:.4f} → {trained.losses[-1]:.4f} over {len(trained.losses)} steps")
    return lora_steps.score_trained("tfew", params.model_dump(), ctx, split, start, out_dir, trained, log,
                                    lambda: timer.seconds, 0.8, "the starting adapter")
