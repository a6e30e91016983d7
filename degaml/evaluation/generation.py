"""Greedy batched generation with stop sequences (lm-eval's `generate_until`): THE decoder of degaml.

Prompts are sorted by length, left-padded and decoded greedily by HF `generate` (KV cache; stop strings checked
by HF's vectorised `StopStringCriteria`, no per-step Python decoding); a row ends at EOS, at any stop string, or
after `max_new_tokens`; the text is then cut at the first stop string. Rows are decoded in waves (`waves.py`):
rows that finished leave the batch between `generate` calls, the others continue from their KV cache — merged
with the unfinished rows of the next batches, up to `batch_size` rows — with the same tokens. A fixed LoRA
adapter is merged into the base weights while decoding (`merged_lora`: same function, no side path per step).

Plain and steered decoding share this code. A `prepare(ids, mask)` hook may run the prompt through the model
first and return `Prepared`: a KV cache holding the first T-1 prompt positions (HF then only runs the last
prompt token, so nothing is computed twice) and a per-row logit bias (B, V) added to every step's logits —
SLOT's h + δ before a linear head is exactly `head(h) + (head(δ) − head(0))` (`degaml.evaluation.latent`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from degaml.evaluation.batching import left_pad
from degaml.evaluation.waves import COMPACT, Prepared, Rows, WaveSchedule, merge, mergeable, stop_criterion, wave
from degaml.models.merge import merged_lora

__all__ = ["Generation", "Prepared", "PrepareFn", "cut_at_stop", "encode_prompts", "generate_greedy"]


@dataclass(frozen=True)
class Generation:
    text: str  # decoded continuation, cut at the first stop sequence
    n_prompt_tokens: int
    n_new_tokens: int


PrepareFn = Callable[[torch.Tensor, torch.Tensor], Prepared]  # (ids (B, T), mask (B, T)) → Prepared


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """Text before the earliest occurrence of any stop sequence."""
    cut = len(text)
    for stop in until:
        if stop:
            pos = text.find(stop)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]


def encode_prompts(tokenizer, prompts: Sequence[str], max_length: int, max_new_tokens: int) -> tuple[list[list[int]], list[int]]:
    """Prompt token ids left-truncated to leave room for `max_new_tokens`, and the longest-first order to batch them in."""
    budget = max(1, max_length - max_new_tokens)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"][-budget:] or [tokenizer.eos_token_id] for p in prompts]
    return encoded, sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))


def generate_greedy(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    until: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    max_length: int,
    on_batch: Callable[[int, int], None] | None = None,
    prepare: PrepareFn | None = None,
    schedule: WaveSchedule = COMPACT,
) -> list[Generation]:
    """Greedy continuations of `prompts`; `on_batch(rows, tokens)` is called whenever rows finish.

    `prepare` runs outside inference mode (SLOT's fit needs autograd); decoding runs inside it. Batches hold at
    most `batch_size` rows: a batch's first wave, then the unfinished rows of consecutive batches merged.
    """
    device = next(model.parameters()).device
    encoded, order = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    stops = [s for s in until if s]
    stop = stop_criterion(tokenizer, stops)
    edges = schedule.boundaries(max_new_tokens)  # cumulative new tokens at the end of each wave
    out: list[Generation | None] = [None] * len(encoded)
    pool: list[Rows] = []  # unfinished rows after the first wave, fewer than `batch_size` in all

    def emit(finished: list[tuple[int, list[int]]]) -> None:
        tokens = 0
        for i, new in finished:
            n_new = sum(t != tokenizer.pad_token_id for t in new)
            out[i] = Generation(cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), stops), len(encoded[i]), n_new)
            tokens += len(encoded[i]) + n_new
        if on_batch is not None and finished:
            on_batch(len(finished), tokens)

    def run(rows: Rows | None, first: int) -> None:  # waves first.. of `rows` until every row finished
        for k in range(first, len(edges)):
            with torch.inference_mode():
                finished, rows = wave(model, tokenizer, rows, stop, edges[k], k == len(edges) - 1)
            emit(finished)
            if rows is None:
                return

    def flush() -> None:
        if pool:
            with torch.inference_mode():
                merged = merge(pool, tokenizer.pad_token_id)
            pool.clear()
            run(merged, 1)

    with merged_lora(model):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask, _ = left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, device)  # (B, T) each
            prepared = prepare(ids, mask) if prepare is not None else Prepared()
            rows = Rows(idx, [[] for _ in idx], ids, mask, prepared.cache, prepared.logit_bias)
            with torch.inference_mode():
                finished, rows = wave(model, tokenizer, rows, stop, edges[0], len(edges) == 1)
            emit(finished)
            if rows is not None and not (schedule.merge_batches and mergeable(rows)):
                run(rows, 1)
            elif rows is not None:
                if sum(len(p.keys) for p in pool) + len(rows.keys) > batch_size:
                    flush()
                pool.append(rows)
        flush()
    return out  # type: ignore[return-value]
