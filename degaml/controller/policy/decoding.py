"""Constrained decoding of the policy's action JSON, paying the fixed costs of a decision once.

A decision is the prefill of the rendered state (600–800 tokens) plus ~25–60 tokens constrained by Outlines. Two
parts of that are the same from one decision to the next and are computed once:

- the Outlines index of the action schema (JSON Schema → regex → token automaton): `schema_processor` builds it
  once per (tokenizer, schema) and process, and resets it before every generation (Outlines' own `Generator` does
  the same reset; building a `Generator` per decision recompiled the index every time);
- the prefill of what a prompt shares with the previous prompt of the same policy: the system message (the action
  space, constant) always, and within an episode the task, its examples and the earlier history — and the whole
  prompt when a decision is re-sampled (retries). `PrefixCache` keeps the token ids and the KV cache of the last
  prompt; the next prompt keeps the longest common prefix of the ids (the cache is cropped to it) and HF `generate`
  prefills only the rest. With causal attention the KV at position i depends only on ids[: i + 1], so the reuse
  is exact up to floating-point summation order (tests compare logits and outputs with the uncached path).

Generation itself is, by default, `jump_decoding.JumpForward`: forced JSON tokens and remembered drafts are
checked a chunk per forward call, so a decision costs a prefill plus one pass per choice the drafts did not foresee
(HF `generate` cannot do this; see that module), and tried actions can be excluded inside the constraint. `jump_forward=False` is the reference
path: HF `generate` with Outlines' logits processor, as `outlines.Generator` runs it (one forward pass per token).
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel

from degaml.controller.policy.action_language import TriedExclusion, action_language
from degaml.controller.policy.jump_decoding import JumpForward, replicates, sampling_warpers

_PROCESSORS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def schema_key(output_type: type[BaseModel]) -> str:
    return json.dumps(output_type.model_json_schema(), sort_keys=True)


def schema_processor(model: torch.nn.Module, tokenizer: Any, output_type: type[BaseModel]) -> Any:
    """Outlines' logits processor for `output_type`, compiled on first use per (tokenizer, schema) in this process."""
    key = schema_key(output_type)
    with _LOCK:
        per_tokenizer = _PROCESSORS.setdefault(tokenizer, {})
        if key not in per_tokenizer:
            import outlines

            padding_side = tokenizer.padding_side
            try:  # the index depends on the tokenizer's vocabulary only, not on the weights of `model`
                per_tokenizer[key] = outlines.Generator(outlines.from_transformers(model, tokenizer), output_type).logits_processor
            finally:
                tokenizer.padding_side = padding_side  # from_transformers sets it to left; the evaluator pads itself
        return per_tokenizer[key]


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> torch.Tensor:
    """(1, T) token ids of the chat prompt, exactly as Outlines builds them (template as text, then tokenized)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt")["input_ids"]


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class PrefixCache:
    """Token ids of the last prompt and its KV cache (positions 0..len(ids)-1), for one (model, adapter)."""

    owner: tuple[int, str, str]  # (id of the base model, adapter, dtype): a cache is valid for these weights only
    ids: list[int]
    cache: Any  # transformers DynamicCache


@dataclass
class Call:
    """One generation: prompt tokens, of them reused from the last prompt, forward passes, the new tokens and text."""

    prompt_tokens: int
    reused_tokens: int
    forward_passes: int
    tokens: list[int]  # generated ids (an EOS included when one was generated)
    text: str


def _croppable(cache: Any) -> bool:
    """Only full-attention layers can be cropped back to an arbitrary prefix (sliding windows have dropped keys)."""
    return all(type(layer).__name__ == "DynamicLayer" for layer in getattr(cache, "layers", [None]))


class ConstrainedDecoder:
    """Samples `output_type` JSON from a chat prompt. Reference paths: `reuse_prefix=False` prefills every prompt in
    full; `jump_forward=False` generates with HF `generate` (one forward pass per token, no exclusion of actions)."""

    def __init__(self, output_type: type[BaseModel], reuse_prefix: bool = True, jump_forward: bool = True) -> None:
        self.output_type = output_type
        self.reuse_prefix = reuse_prefix
        self.jump_forward = jump_forward
        self.jump: JumpForward | None = None  # built on first use, for the tokenizer's index
        self.last: PrefixCache | None = None
        self.reused_tokens = 0  # of the last call's prompt
        self.prompt_tokens = 0
        self.calls: list[Call] = []

    def _start_cache(self, model: torch.nn.Module, owner: tuple[int, str, str], ids: list[int]) -> tuple[Any, int]:
        """(the cache generate starts from, how many leading prompt tokens it already holds)."""
        from transformers import DynamicCache

        keep = 0
        if self.reuse_prefix and self.last is not None and self.last.owner == owner and _croppable(self.last.cache):
            keep = min(common_prefix(self.last.ids, ids), len(ids) - 1)  # generate needs ≥ 1 uncached token
        if keep == 0:
            self.last = None
            return DynamicCache(config=model.config), 0
        cache = self.last.cache
        cache.crop(keep - cache.get_seq_length())  # a negative count: drop everything after the common prefix
        self.last = None  # generate mutates it; it is stored again only when generation finished
        return cache, keep

    def generate(self, model: torch.nn.Module, tokenizer: Any, messages: list[dict[str, str]], adapter: str,
                 temperature: float, max_new_tokens: int, seed: int, on_token: Callable[[int], None] | None = None,
                 exclude: set[str] | None = None) -> str:
        """One constrained sample (greedy when temperature is 0), seeded by `seed`. `on_token(n)` gets the number of
        tokens generated so far (progress; it never stops generation). `exclude`: canonical actions the output must
        not be (jump-forward path only; the `generate` path ignores it and the caller re-samples repeats)."""
        processor = schema_processor(model, tokenizer, self.output_type)
        input_ids = prompt_ids(tokenizer, messages).to(model.device)  # (1, T)
        ids = input_ids[0].tolist()
        base = getattr(model, "get_base_model", lambda: model)()
        owner = (id(base), adapter, str(model.dtype))
        cache, keep = self._start_cache(model, owner, ids)
        self.prompt_tokens, self.reused_tokens = len(ids), keep
        if self.jump_forward and replicates(base.generation_config):
            new, passes = self._jump(model, tokenizer, processor.index, cache, ids[keep:], temperature, max_new_tokens,
                                     seed, on_token, exclude)
        else:
            new = self._hf_generate(model, processor, input_ids, cache, temperature, max_new_tokens, seed, on_token)
            passes = len(new)  # the prefill, then one step per further token
        if self.reuse_prefix and _croppable(cache):
            cache.crop(len(ids) - cache.get_seq_length())  # keep the prompt's positions only
            self.last = PrefixCache(owner, ids, cache)
        text = tokenizer.decode(new, skip_special_tokens=True)
        self.calls.append(Call(len(ids), keep, passes, new, text))
        return text

    def _jump(self, model: torch.nn.Module, tokenizer: Any, index: Any, cache: Any, pending: list[int],
              temperature: float, max_new_tokens: int, seed: int, on_token: Callable[[int], None] | None,
              exclude: set[str] | None) -> tuple[list[int], int]:
        if self.jump is None or self.jump.index is not index:
            self.jump = JumpForward(index, tokenizer, action_language(self.output_type))
        language = self.jump.language
        exclusion = TriedExclusion(language, exclude) if exclude and language is not None else None
        base = getattr(model, "get_base_model", lambda: model)()
        warpers = sampling_warpers(base.generation_config, temperature) if temperature > 0 else None
        uniforms = torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(seed)) if temperature > 0 else None
        # a cache with sliding-window layers cannot take a rejected draft's KV back: propose forced tokens only
        return self.jump.run(model, cache, pending, max_new_tokens, warpers, uniforms, exclusion, on_token,
                             drafts=_croppable(cache))

    def _hf_generate(self, model: torch.nn.Module, processor: Any, input_ids: torch.Tensor, cache: Any,
                     temperature: float, max_new_tokens: int, seed: int, on_token: Callable[[int], None] | None) -> list[int]:
        """The reference: HF `generate` with Outlines' logits processor, seeded like Outlines' path (`torch.manual_seed`)."""
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        class _Count(StoppingCriteria):  # never stops generation: only counts the tokens as they are generated
            n = 0

            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
                self.n += 1
                on_token(self.n)  # type: ignore[misc]
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens}
        kwargs |= {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        if on_token is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_Count()])
        with _LOCK:  # the processor holds the state of one generation
            processor.reset()
            torch.manual_seed(seed)
            with torch.no_grad():
                out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), cache=cache,
                                     logits_processor=LogitsProcessorList([processor]), **kwargs)  # (1, T + new)
        return out[0, input_ids.shape[1]:].tolist()
