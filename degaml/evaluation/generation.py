"""Greedy batched generation with stop sequences (lm-eval's `generate_until`).

Prompts are sorted by length, left-padded and decoded greedily; generation of a row ends at EOS, at any stop
string (HF's `stop_strings`), or after `max_new_tokens`; the text is then cut at the first stop string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from degaml.evaluation.batching import left_pad


@dataclass(frozen=True)
class Generation:
    text: str  # decoded continuation, cut at the first stop sequence
    n_prompt_tokens: int
    n_new_tokens: int


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


@torch.inference_mode()
def generate_greedy(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    until: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    max_length: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Generation]:
    """Greedy continuations of `prompts`; `on_batch(rows, tokens)` is called after each batch."""
    device = next(model.parameters()).device
    encoded, order = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    stops = [s for s in until if s]
    out: list[Generation | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask, _ = left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, device)
        generated = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            stop_strings=stops or None,
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
            temperature=None,
            top_p=None,
            top_k=None,
        )[:, ids.shape[1] :]
        n_tokens = int(mask.sum().item())
        for row, i in enumerate(idx):
            new = generated[row]
            n_new = int((new != tokenizer.pad_token_id).sum().item())
            text = tokenizer.decode(new, skip_special_tokens=True)
            out[i] = Generation(cut_at_stop(text, stops), len(encoded[i]), n_new)
            n_tokens += n_new
        if on_batch is not None:
            on_batch(len(idx), n_tokens)
    return out  # type: ignore[return-value]
