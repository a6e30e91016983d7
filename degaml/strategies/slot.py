"""Latent-space optimisation: SLOT (Hu et al. 2025, "Sample-specific Language Model Optimization at Test-time").

For every item x of the scored split (on θ₀, the generator's adapter), one vector δ ∈ R^d is fitted to the
item's OWN prompt (never its answer or choices) and added to the last hidden state before the LM head:

    h = backbone(x)                      (computed once, cached; the backbone is not in the loop)
    L(δ) = (1/|x|-1) Σ_t CE(W_head (h_t + δ), x_{t+1})          over the item's prompt tokens
    δ₀ = 0;  δ ← AdamW step on L, `times` times (lr = learning_rate, weight decay 1e-8, eps 1e-5, as SLOT)

then the item is scored with h + δ at every position: continuation log-probs for multiple choice (lm-eval
packing, `degaml.evaluation.latent.score_items_with_offsets`), greedy decoding with h_last + δ at every step for
generative formats (`generate_with_offsets`). Items are batched; Adam is element-wise and each δ_i only enters its
own item's loss, so batching is exactly equivalent to fitting each item alone. Guard: an item whose loss or δ
becomes NaN/inf gets δ = 0 (logged); the outcome is ok=False only when every fitted item failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import Field

from degaml.evaluation.latent import generate_with_offsets, score_items_with_offsets
from degaml.evaluation.prompts import PromptBuilder
from degaml.evaluation.result import build_result, choice_prediction, generated_prediction
from degaml.models.adapters import attached_adapter
from degaml.models.heads import backbone_and_head
from degaml.strategies.base import ParamsBase, Outcome, ScoredSplit, StrategyContext, Timer

WEIGHT_DECAY = 1e-8  # SLOT's AdamW settings
EPS = 1e-5
HEAD_CHUNK = 1024  # prompt positions per LM-head call (bounds the (chunk, V) logits in memory)


class SlotParams(ParamsBase):
    """Latent optimisation (SLOT): a per-sample vector added to the final hidden state, fitted on the prompt."""

    family: Literal["slot"] = Field("slot", description="latent-space modification (SLOT, per-sample delta)")
    times: Literal[1, 3, 5, 10] = Field(
        description="AdamW steps optimising each item's delta on its own prompt's next-token loss")
    learning_rate: Literal[0.001, 0.01, 0.05, 0.1] = Field(
        description="AdamW learning rate for the delta (SLOT's default is 0.1)")


@dataclass
class DeltaFit:
    """Result of fitting one δ per item."""

    delta: torch.Tensor  # (n, d) float32; zero for failed items and items without prompt targets
    losses: list[list[float]]  # losses[s][i]: item i's mean prompt CE after s steps (s = 0..times)
    failed: list[bool]  # NaN/inf met → δ reset to 0
    n_targets: list[int]  # prompt tokens in each item's loss
    steps: int = 0
    log: list[str] = field(default_factory=list)


def optimise_deltas(
    head: torch.nn.Module,
    states: torch.Tensor,
    targets: torch.Tensor,
    owner: torch.Tensor,
    n_items: int,
    times: int,
    lr: float,
    chunk: int = HEAD_CHUNK,
) -> DeltaFit:
    """Fit δ_i (i < n_items) by `times` AdamW steps on each item's mean CE of W_head(states + δ_owner) vs targets.

    states (N, d) are cached last hidden states (no gradient reaches them or the head), targets (N,) the next
    prompt tokens, owner (N,) the item of each position. Only δ is optimised.
    """
    d = states.shape[-1]
    states = states.detach()
    counts = torch.bincount(owner, minlength=n_items) if owner.numel() else torch.zeros(n_items, dtype=torch.long)
    weight = 1.0 / counts.clamp(min=1).float()[owner]  # (N,): per-item mean
    delta = torch.zeros(n_items, d, dtype=torch.float32, device=states.device, requires_grad=True)  # (n, d)
    optimizer = torch.optim.AdamW([delta], lr=lr, weight_decay=WEIGHT_DECAY, eps=EPS)
    alive = torch.ones(n_items, dtype=torch.bool, device=states.device)
    losses: list[list[float]] = []
    for step in range(times + 1):
        train = step < times
        item_loss = torch.zeros(n_items, device=states.device)  # (n,)
        grad = torch.zeros_like(delta)  # (n, d)
        for lo in range(0, states.shape[0], chunk):
            sl = slice(lo, lo + chunk)
            with torch.set_grad_enabled(train):
                x = states[sl].float() + delta[owner[sl]]  # (c, d)
                logits = head(x.to(states.dtype)).float()  # (c, V)
                ce = torch.nn.functional.cross_entropy(logits, targets[sl], reduction="none")  # (c,)
                part = torch.zeros(n_items, device=states.device).index_add(0, owner[sl], ce * weight[sl])  # (n,)
                if train:
                    (g,) = torch.autograd.grad(part.sum(), delta)
                    grad += g
            item_loss += part.detach()
        losses.append(item_loss.tolist())
        bad = ~torch.isfinite(item_loss) | ~torch.isfinite(grad).all(-1)
        alive &= ~bad
        if not train:
            break
        delta.grad = torch.where(alive[:, None], grad, torch.zeros_like(grad))
        optimizer.step()
        with torch.no_grad():
            alive &= torch.isfinite(delta).all(-1)
            delta[~alive] = 0.0
    with torch.no_grad():
        delta[~alive] = 0.0  # also items whose loss after the last step is non-finite
    failed = (~alive).tolist()
    return DeltaFit(delta.detach(), losses, failed, counts.tolist(), steps=times)


def run_slot(params: SlotParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Fit a per-item δ on θ₀ for every item of `split`, score with h + δ, and return the scored Outcome."""
    timer = Timer()
    spec, loaded = ctx.spec, ctx.loaded
    examples = list(ctx.examples(split))
    builder = PromptBuilder(spec, ctx.task.fewshot_pool())
    adapter = ctx.initial_adapter()
    fits: list[DeltaFit] = []
    tokens = [0]
    done = [0]

    def on_batch(rows: int, n_tokens: int) -> None:
        tokens[0] += n_tokens
        done[0] += rows
        ctx.report(f"slot: {split} item {min(done[0], len(examples))}/{len(examples)}", done[0] / max(1, total_rows))

    with attached_adapter(loaded.model, adapter) as model:
        _, head = backbone_and_head(model)

        def fit(states, targets, owner, n_items):  # (N, d), (N,), (N,), int → (n, d)
            result = optimise_deltas(head, states, targets, owner, n_items, params.times, params.learning_rate)
            fits.append(result)
            return result.delta

        if spec.format == "multiple_choice":
            items = [builder.choice_pairs(ex) for ex in examples]
            total_rows = sum(len(pairs) for pairs in items)
            scores = score_items_with_offsets(model, loaded.tokenizer, items, spec.batch_size, spec.max_length, fit, on_batch)
            predictions = []
            for ex, pairs, item in zip(examples, items, scores):
                lengths = [len(cont) - len(spec.target_delimiter) for _, cont in pairs]
                predictions.append(choice_prediction(ex, [s.logprob for s in item], lengths, spec.metric))
        else:
            total_rows = len(examples)
            gens = generate_with_offsets(model, loaded.tokenizer, [builder.context(ex) for ex in examples],
                                         spec.generation.until, spec.generation.max_new_tokens, spec.batch_size,
                                         spec.max_length, fit, on_batch)
            predictions = [generated_prediction(ex, gen.text, spec) for ex, gen in zip(examples, gens)]

    fitted = sum(n > 0 for f in fits for n in f.n_targets)
    failed = sum(bad and n > 0 for f in fits for bad, n in zip(f.failed, f.n_targets))
    opt_tokens = params.times * sum(sum(f.n_targets) for f in fits)  # prompt positions through the head, per step
    result = build_result(spec, loaded.name, split, str(adapter), predictions, timer.seconds, tokens[0] + opt_tokens)
    before = [f.losses[0][i] for f in fits for i, n in enumerate(f.n_targets) if n > 0 and not f.failed[i]]
    after = [f.losses[-1][i] for f in fits for i, n in enumerate(f.n_targets) if n > 0 and not f.failed[i]]
    norms = [float(f.delta[i].norm()) for f in fits for i in range(f.delta.shape[0])]
    log = [f"slot on θ₀ {adapter}: times={params.times} lr={params.learning_rate}, {len(examples)} items in {len(fits)} batches",
           f"items fitted {fitted}, failed (NaN/inf → δ=0) {failed}, without prompt targets {sum(n == 0 for f in fits for n in f.n_targets)}"]
    if before:
        log.append(f"mean prompt CE {sum(before) / len(before):.4f} → {sum(after) / len(after):.4f}; "
                   f"mean |δ| {sum(norms) / max(1, len(norms)):.4f}")
    log.append(f"{split} accuracy {result.accuracy:.4f} (n={result.n})")
    ok = not (fitted > 0 and failed == fitted)
    ctx.report("slot: done", 1.0)
    return Outcome("slot", params.model_dump(by_alias=True), split, ok=ok, accuracy=result.accuracy, result=result,
                   artifact=None, seconds=timer.seconds, tokens=result.tokens, log=log,
                   error=None if ok else "every item's delta diverged (NaN/inf); scored with delta = 0")
