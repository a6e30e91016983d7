"""Confidence of already generated answers, by teacher forcing.

`generate_greedy` returns text only; ensembles over generative tasks (TTS) need how sure each adapter was. The
confidence of a candidate continuation c given its prompt x under a model is its mean token log-probability

    conf(c | x) = (1/|c|) · Σ_t log p(c_t | x, c_<t)

computed with `score_continuations` (lm-eval's context/continuation split, packed rows: the candidates of one
prompt share its context in one row). An empty candidate (nothing generated, or no tokens of its own after the split) has confidence -inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from degaml.evaluation.loglikelihood import encode_pair, score_continuations


def candidate_confidences(
    model: torch.nn.Module,
    tokenizer,
    contexts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    batch_size: int,
    max_length: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[list[float]]:
    """conf(candidates[i][j] | contexts[i]) for every prompt i and candidate j (mean token log-prob, -inf if empty)."""
    if len(contexts) != len(candidates):
        raise ValueError(f"{len(contexts)} contexts but {len(candidates)} candidate lists")
    pairs, where = [], []
    out = [[-math.inf] * len(cands) for cands in candidates]
    for i, (context, cands) in enumerate(zip(contexts, candidates)):
        for j, cand in enumerate(cands):
            if cand and encode_pair(tokenizer, context, cand)[1]:  # a candidate merged into the context has no tokens
                pairs.append((context, cand))
                where.append((i, j))
    if not pairs:
        return out
    scores = score_continuations(model, tokenizer, pairs, batch_size, max_length, on_batch)
    for (i, j), score in zip(where, scores):
        out[i][j] = score.logprob / max(1, score.n_tokens)
    return out
