"""Scoring and greedy generation with a per-item offset δ added to the last hidden state (SLOT-style steering).

For an item with prompt tokens x and last hidden states h (after the final norm), the model's distribution
becomes p(· | x_≤t) = softmax(W_head (h_t + δ)). δ is fitted per item by a caller-supplied function from the
item's own prompt states, inside the single backbone pass:

    fit(states (N, d), targets (N,), owner (N,), n_items) → δ (n_items, d)

where row k of `states` is h at a prompt position whose next prompt token is `targets[k]`, for item `owner[k]`.

- `score_items_with_offsets` (multiple choice): lm-eval conventions of `loglikelihood.py` — the same encoding
  (`encode_pair`), grouping (`_groups`, but never across items) and packing (`_pack`: one row [ctx, cont_1, ...]
  with a block mask). The backbone runs ONCE per batch: the context positions of the packed row give the prompt
  states (causal mask: they never see a choice), then δ is added at every position before the head. With δ = 0
  the scores equal `score_continuations` (up to float summation order).
  When the context varies per choice (WinoGrande partial scoring) the prompt is the items' common token prefix.
- `generate_with_offsets` (generative): `generate_greedy` (the one decoder) with a prompt pass that fills the
  KV cache and gives the prompt states; every decoding step picks argmax W_head(h_last + δ), applied as the
  exactly equivalent logit bias W_head δ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from degaml.evaluation.generation import Generation, Prepared, generate_greedy
from degaml.evaluation.loglikelihood import ContinuationScore, _Group, _groups, _pack, encode_pair
from degaml.evaluation.waves import COMPACT, WaveSchedule
from degaml.models.heads import backbone_and_head, unwrap_peft
from degaml.models.merge import merged_lora

DeltaFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


def zero_delta(states: torch.Tensor, targets: torch.Tensor, owner: torch.Tensor, n_items: int) -> torch.Tensor:
    """δ = 0 for every item (plain scoring)."""
    return torch.zeros(n_items, states.shape[-1], device=states.device)


def _common_prefix(seqs: Sequence[Sequence[int]]) -> list[int]:
    first = list(seqs[0])
    n = len(first)
    for s in seqs[1:]:
        n = next((k for k in range(min(n, len(s))) if s[k] != first[k]), min(n, len(s)))
    return first[:n]


def _item_batches(sizes: Sequence[int], batch_size: int) -> list[list[int]]:
    """Consecutive items whose row counts sum to at most `batch_size` (at least one item per batch)."""
    batches: list[list[int]] = []
    rows = 0
    for i, size in enumerate(sizes):
        if batches and rows + size <= batch_size:
            batches[-1].append(i)
            rows += size
        else:
            batches.append([i])
            rows = size
    return batches


def score_items_with_offsets(
    model: torch.nn.Module,
    tokenizer,
    items: Sequence[Sequence[tuple[str, str]]],
    batch_size: int,
    max_length: int,
    fit: DeltaFn = zero_delta,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[list[ContinuationScore]]:
    """Per item, the score of each of its (context, continuation) pairs under h + δ_item.

    `batch_size` counts packed rows; `on_batch(pairs_done, tokens)` is called after each batch.
    """
    device = next(model.parameters()).device
    item_groups: list[list[_Group]] = []
    for pairs in items:
        encoded = [encode_pair(tokenizer, c, k) for c, k in pairs]
        if any(not cont for _, cont in encoded):
            raise ValueError("empty continuation in a multiple-choice item")
        item_groups.append(_groups(encoded, max_length) if encoded else [])
    order = sorted((i for i in range(len(items)) if item_groups[i]), key=lambda i: -max(g.length for g in item_groups[i]))
    backbone, head = backbone_and_head(model)
    results: list[list[ContinuationScore | None]] = [[None] * len(pairs) for pairs in items]
    with merged_lora(model):  # a fixed adapter: merged while scoring, restored exactly after
        for local_items in _item_batches([len(item_groups[i]) for i in order], batch_size):
            batch_items = [order[k] for k in local_items]
            groups, row_owner = [], []
            for local, i in enumerate(batch_items):
                groups += item_groups[i]
                row_owner += [local] * len(item_groups[i])
            ids, pos, mask, starts = _pack(groups, tokenizer.pad_token_id, device)
            with torch.no_grad():
                hidden = backbone(input_ids=ids, position_ids=pos, attention_mask=mask).last_hidden_state  # (B, T, d)
            # prompt states: positions 0..P-2 of the item's first row predict prompt tokens 1..P-1
            p_rows, p_cols, p_targets, p_owner = [], [], [], []
            row = 0
            for local, i in enumerate(batch_items):
                prefix = _common_prefix([g.ctx for g in item_groups[i]])
                p_rows += [row] * (len(prefix) - 1)
                p_cols += range(len(prefix) - 1)
                p_targets += prefix[1:]
                p_owner += [local] * (len(prefix) - 1)
                row += len(item_groups[i])
            as_long = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
            delta = fit(hidden[as_long(p_rows), as_long(p_cols)], as_long(p_targets), as_long(p_owner), len(batch_items))
            delta = delta.detach().to(device)  # (n_items, d)
            rows, cols, targets, spans = [], [], [], []
            for r, g in enumerate(groups):
                for cont, first, member in zip(g.conts, starts[r], g.members):
                    where = [len(g.ctx) - 1, *range(first, first + len(cont) - 1)]
                    spans.append((batch_items[row_owner[r]], member, len(targets), len(cont)))
                    rows += [r] * len(cont)
                    cols += where
                    targets += cont
            with torch.no_grad():
                shifted = hidden[rows, cols] + delta[as_long(row_owner)[rows]]  # (N, d)
                logprobs = torch.log_softmax(head(shifted.to(hidden.dtype)).float(), dim=-1)  # (N, V)
                target = as_long(targets)
                picked = logprobs.gather(1, target[:, None])[:, 0].tolist()
                hits = (logprobs.argmax(-1) == target).tolist()
            for item, member, offset, n in spans:
                results[item][member] = ContinuationScore(sum(picked[offset : offset + n]), all(hits[offset : offset + n]), n)
            if on_batch is not None:
                on_batch(sum(len(g.members) for g in groups), sum(g.length for g in groups))
    return results  # type: ignore[return-value]


def generate_with_offsets(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    until: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    max_length: int,
    fit: DeltaFn = zero_delta,
    on_batch: Callable[[int, int], None] | None = None,
    schedule: WaveSchedule = COMPACT,
) -> list[Generation]:
    """Greedy continuations of `prompts` with h + δ_item before the head at every step: `generate_greedy` itself.

    Per batch, the prompt minus its last token runs through the backbone once, filling the KV cache that decoding
    continues from and giving the prompt states for `fit`; δ enters as the logit bias head(δ) − head(0) (the
    head is linear, so W(h + δ) + b = (Wh + b) + Wδ).
    """
    from transformers import DynamicCache

    backbone, head = backbone_and_head(model)
    config = unwrap_peft(model).config

    def prepare(ids: torch.Tensor, mask: torch.Tensor) -> Prepared:  # (B, T) each
        n = ids.shape[0]
        d = head.weight.shape[-1]
        cache, states = None, torch.zeros(0, d, device=ids.device)
        p_rows = p_cols = torch.zeros(0, dtype=torch.long, device=ids.device)
        if ids.shape[1] > 1:
            cache = DynamicCache(config=config)
            pos = (mask[:, :-1].cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                hidden = backbone(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=pos, cache=cache,
                                  use_cache=True).last_hidden_state  # (B, T-1, d)
            real = mask.bool()
            p_rows, p_cols = torch.nonzero(real[:, :-1] & real[:, 1:], as_tuple=True)  # position t predicts token t+1
            states = hidden[p_rows, p_cols]
        delta = fit(states, ids[p_rows, p_cols + 1], p_rows, n).detach().to(ids.device)  # (B, d)
        with torch.no_grad():
            zero = torch.zeros(1, d, dtype=head.weight.dtype, device=ids.device)
            bias = head(delta.to(head.weight.dtype)).float() - head(zero).float()  # (B, V)
        return Prepared(cache=cache, logit_bias=None if not bias.any() else bias)

    return generate_greedy(model, tokenizer, prompts, until, max_new_tokens, batch_size, max_length, on_batch, prepare,
                          schedule)
