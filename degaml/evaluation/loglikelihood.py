"""Log-likelihood of continuations given contexts (multiple-choice scoring), batched with shared prefixes.

Follows lm-evaluation-harness's `HFLM._loglikelihood_tokens` conventions: no BOS is added; trailing spaces of
the context move to the continuation; context and continuation are split by encoding `context + continuation`
and cutting at the length of the encoded context; an empty context is replaced by the EOS token; inputs keep
the last `max_length` tokens.

Speed: the choices of one item share their context, so each item is packed into ONE row
`[ctx, cont_1, ..., cont_k]` with a block attention mask (cont_j sees ctx and itself, never another choice)
and position ids restarting after ctx for every choice. The backbone runs once per item instead of once per
choice, and the LM head runs only on the positions that predict continuation tokens. A fixed LoRA adapter is
merged into the weights while scoring (`merged_lora`; restored exactly afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from degaml.models.heads import backbone_and_head
from degaml.models.merge import merged_lora


@dataclass(frozen=True)
class ContinuationScore:
    """Sum of log-probabilities of a continuation, whether it is the greedy one, and its token count."""

    logprob: float
    is_greedy: bool
    n_tokens: int


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of (context, continuation) the way lm-eval splits them."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    cont = whole[len(ctx) :]
    if not ctx:
        ctx = [tokenizer.eos_token_id]
    return ctx, cont


@dataclass
class _Group:
    """Pairs sharing one context, packed into one row."""

    ctx: list[int]
    conts: list[list[int]]
    members: list[int]  # indices into the caller's pairs

    @property
    def length(self) -> int:
        return len(self.ctx) + sum(len(c) for c in self.conts)


def _groups(encoded: list[tuple[list[int], list[int]]], max_length: int, share_context: bool = True) -> list[_Group]:
    """Consecutive pairs with the same context form a group; too-long pairs are truncated alone (lm-eval style)."""
    groups: list[_Group] = []
    for i, (ctx, cont) in enumerate(encoded):
        if len(ctx) + len(cont) > max_length + 1:  # left-truncate like lm-eval, scored on its own
            full = (ctx + cont)[-(max_length + 1) :]
            cont = cont[-(len(full) - 1) :]  # at least one context token stays
            groups.append(_Group(full[: len(full) - len(cont)], [cont], [i]))
            continue
        last = groups[-1] if groups else None
        if share_context and last is not None and last.ctx == ctx and last.length + len(cont) <= max_length + 1:
            last.conts.append(cont)
            last.members.append(i)
        else:
            groups.append(_Group(ctx, [cont], [i]))
    return groups


def _pack(groups: Sequence[_Group], pad_id: int, device: torch.device):
    """Right-padded rows with block-causal masks.

    Returns input_ids (B, T), position_ids (B, T), mask (B, 1, T, T) bool, and for every continuation its
    (row, first predicting position) so logits can be gathered.
    """
    width = max(g.length - 1 for g in groups)  # the last token of the last choice predicts nothing we need
    ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(groups), width), dtype=torch.long)
    seg = torch.full((len(groups), width), -1, dtype=torch.long)  # -1 pad, 0 context, j choice j
    starts: list[list[int]] = []
    for row, g in enumerate(groups):
        tokens = list(g.ctx)
        positions = list(range(len(g.ctx)))
        segments = [0] * len(g.ctx)
        row_starts = []
        for j, cont in enumerate(g.conts, start=1):
            row_starts.append(len(tokens))
            tokens += cont
            positions += range(len(g.ctx), len(g.ctx) + len(cont))
            segments += [j] * len(cont)
        n = min(len(tokens), width)
        ids[row, :n] = torch.tensor(tokens[:n])
        pos[row, :n] = torch.tensor(positions[:n])
        seg[row, :n] = torch.tensor(segments[:n])
        starts.append(row_starts)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    sq, sk = seg[:, :, None], seg[:, None, :]
    mask = causal & (sk != -1) & ((sk == 0) | (sk == sq))
    mask |= torch.eye(width, dtype=torch.bool)  # padding attends to itself (no NaN rows)
    return ids.to(device), pos.to(device), mask[:, None].to(device), starts


@torch.inference_mode()
def score_continuations(
    model: torch.nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    batch_size: int,
    max_length: int,
    on_batch: Callable[[int, int], None] | None = None,
    share_context: bool = True,
) -> list[ContinuationScore]:
    """Score every (context, continuation) pair; `on_batch(pairs_done, tokens)` is called after each batch.

    `batch_size` counts packed rows (items), not pairs. `share_context=False` gives every pair its own row (the
    unpacked computation; for benchmarks and tests).
    """
    device = next(model.parameters()).device
    encoded = []
    for context, continuation in pairs:
        ctx, cont = encode_pair(tokenizer, context, continuation)
        if not cont:
            raise ValueError(f"empty continuation for context ending {context[-40:]!r}")
        encoded.append((ctx, cont))
    groups = sorted(_groups(encoded, max_length, share_context), key=lambda g: -g.length)
    backbone, head = backbone_and_head(model)
    results: list[ContinuationScore | None] = [None] * len(encoded)
    with merged_lora(model):
        for start in range(0, len(groups), batch_size):
            batch = groups[start : start + batch_size]
            ids, pos, mask, starts = _pack(batch, tokenizer.pad_token_id, device)
            hidden = backbone(input_ids=ids, position_ids=pos, attention_mask=mask).last_hidden_state  # (B, T, d)
            rows, cols, targets, spans = [], [], [], []
            for row, g in enumerate(batch):
                for cont, first, member in zip(g.conts, starts[row], g.members):
                    # token t of a choice is predicted by the position before it; the first by the last ctx token
                    where = [len(g.ctx) - 1, *range(first, first + len(cont) - 1)]
                    spans.append((member, len(targets), len(cont)))
                    rows += [row] * len(cont)
                    cols += where
                    targets += cont
            logprobs = torch.log_softmax(head(hidden[rows, cols]).float(), dim=-1)  # (N, V): one head call per batch
            target = torch.tensor(targets, device=device)
            picked = logprobs.gather(1, target[:, None])[:, 0].tolist()
            hits = (logprobs.argmax(-1) == target).tolist()
            for member, offset, n in spans:
                results[member] = ContinuationScore(sum(picked[offset : offset + n]), all(hits[offset : offset + n]), n)
            if on_batch is not None:
                on_batch(sum(len(g.members) for g in batch), sum(g.length for g in batch))
    return results  # type: ignore[return-value]
