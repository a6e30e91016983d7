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
- `generate_with_offsets` (generative): left-padded greedy decoding like `generate_greedy`; the prompt pass fills
  a KV cache and gives the prompt states; every decoding step picks argmax W_head(h_last + δ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from degaml.evaluation.batching import left_pad
from degaml.evaluation.generation import Generation, cut_at_stop, encode_prompts
from degaml.evaluation.loglikelihood import ContinuationScore, _Group, _groups, _pack, encode_pair
from degaml.models.heads import backbone_and_head, unwrap_peft

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


def _eos_ids(model: torch.nn.Module, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(unwrap_peft(model), "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


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
) -> list[Generation]:
    """Greedy continuations of `prompts` with h_last + δ_item at every step (prompt handling as `generate_greedy`)."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    backbone, head = backbone_and_head(model)
    config = unwrap_peft(model).config
    eos = _eos_ids(model, tokenizer)
    encoded, order = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    stops = [s for s in until if s]
    out: list[Generation | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask, pos = left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, device)  # (B, T) each
        cache = DynamicCache(config=config)
        with torch.no_grad():
            hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True).last_hidden_state
        real = mask.bool()
        p_rows, p_cols = torch.nonzero(real[:, :-1] & real[:, 1:], as_tuple=True)  # position t predicts token t+1
        delta = fit(hidden[p_rows, p_cols], ids[p_rows, p_cols + 1], p_rows, len(idx)).detach().to(device)  # (B, d)
        last = hidden[:, -1]  # (B, d)
        new_tokens: list[list[int]] = [[] for _ in idx]
        done = [False] * len(idx)
        with torch.no_grad():
            for step in range(max_new_tokens):
                logits = head((last + delta).to(hidden.dtype)).float()  # (B, V)
                nxt = logits.argmax(-1).tolist()
                for b, token in enumerate(nxt):
                    if done[b]:
                        continue
                    if token in eos:
                        done[b] = True
                        continue
                    new_tokens[b].append(token)
                    if stops and any(s in tokenizer.decode(new_tokens[b], skip_special_tokens=True) for s in stops):
                        done[b] = True
                if all(done) or step == max_new_tokens - 1:
                    break
                feed = torch.tensor([tokenizer.pad_token_id if d else t for d, t in zip(done, nxt)], device=device)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, T+step+1)
                pos = pos[:, -1:] + 1  # (B, 1)
                last = backbone(input_ids=feed[:, None], attention_mask=mask, position_ids=pos, cache=cache,
                                use_cache=True).last_hidden_state[:, -1]
        n_tokens = int(real.sum().item())
        for b, i in enumerate(idx):
            text = tokenizer.decode(new_tokens[b], skip_special_tokens=True)
            out[i] = Generation(cut_at_stop(text, stops), len(encoded[i]), len(new_tokens[b]))
            n_tokens += len(new_tokens[b])
        if on_batch is not None:
            on_batch(len(idx), n_tokens)
    return out  # type: ignore[return-value]
