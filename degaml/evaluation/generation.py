"""Greedy batched generation with stop sequences (lm-eval's `generate_until`): THE decoder of degaml.

Prompts are sorted by length, left-padded and decoded greedily by HF `generate` (KV cache; stop strings checked
by HF's vectorised `StopStringCriteria`, no per-step Python decoding); a row ends at EOS, at any stop string, or
after `max_new_tokens`; the text is then cut at the first stop string. A fixed LoRA adapter is merged into the
base weights while decoding (`merged_lora`: same function, no side path per step).

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
from degaml.models.merge import merged_lora


@dataclass(frozen=True)
class Generation:
    text: str  # decoded continuation, cut at the first stop sequence
    n_prompt_tokens: int
    n_new_tokens: int


@dataclass
class Prepared:
    """What a `prepare` hook returns for one batch."""

    cache: object | None = None  # KV cache of input positions 0..T-2 (the last one is left to generate)
    logit_bias: torch.Tensor | None = None  # (B, V) added to each row's logits at every step


PrepareFn = Callable[[torch.Tensor, torch.Tensor], Prepared]  # (ids (B, T), mask (B, T)) → Prepared


class _RowBias:
    """HF logits processor adding a fixed bias per row: scores (B, V) + bias (B, V)."""

    def __init__(self, bias: torch.Tensor) -> None:
        self.bias = bias

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores + self.bias.to(scores.dtype)


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


def decode_batch(model, tokenizer, ids: torch.Tensor, mask: torch.Tensor, stops: Sequence[str], max_new_tokens: int,
                 prepared: Prepared | None = None) -> torch.Tensor:
    """Greedy new tokens (B, ≤ max_new_tokens) after left-padded `ids`/`mask` (B, T); finished rows hold pad ids."""
    from transformers import LogitsProcessorList

    prepared = prepared or Prepared()
    extra = {"cache": prepared.cache} if prepared.cache is not None else {}
    processors = LogitsProcessorList([_RowBias(prepared.logit_bias)] if prepared.logit_bias is not None else [])
    return model.generate(
        input_ids=ids,
        attention_mask=mask,
        logits_processor=processors,
        do_sample=False,
        max_new_tokens=max_new_tokens,
        stop_strings=list(stops) or None,
        tokenizer=tokenizer,
        pad_token_id=tokenizer.pad_token_id,
        temperature=None,
        top_p=None,
        top_k=None,
        **extra,
    )[:, ids.shape[1] :]


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
) -> list[Generation]:
    """Greedy continuations of `prompts`; `on_batch(rows, tokens)` is called after each batch.

    `prepare` runs outside inference mode (SLOT's fit needs autograd); decoding runs inside it.
    """
    device = next(model.parameters()).device
    encoded, order = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    stops = [s for s in until if s]
    out: list[Generation | None] = [None] * len(encoded)
    with merged_lora(model):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask, _ = left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, device)  # (B, T) each
            prepared = prepare(ids, mask) if prepare is not None else None
            with torch.inference_mode():
                generated = decode_batch(model, tokenizer, ids, mask, stops, max_new_tokens, prepared)  # (B, N)
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
