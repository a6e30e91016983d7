"""Jump-forward constrained decoding: one forward pass per real choice, not one per token of the action JSON.

Most tokens of an action are fixed by the schema (keys, quotes, braces). HF `generate` runs one forward pass per
token and cannot do otherwise here: it has no way to append tokens it did not sample, and its assisted generation
(several proposed tokens checked in one pass) calls the logits processors once per step, while Outlines' processor
advances its automaton on the last token it is shown. So this is a small loop of its own around the model's forward
and Outlines' compiled index (outlines_core `Index`: state → allowed tokens → next state):

1. The prompt's uncached tokens are prefilled alone (as `generate` prefills them); their last logits give the first
   choice.
2. From the automaton's current state, tokens are proposed: a token that is the only one the constraint allows is
   *forced*; otherwise the token this decoder chose the last time it was in the same state (`memory`, seeded with
   the tokenizer's own tokenization of every action's JSON) is a *draft*. Proposing stops at a state with neither,
   at the end of the JSON, or when the chunk is full (`MAX_CHUNK`).
3. One forward call on [the token chosen last, proposals] (a chunk; attention row by row, `stepwise_attention`)
   gives their KV and the logits at every proposed position.
4. Walk the proposals: a forced token is accepted as is (the constraint leaves nothing to choose). At a draft
   position the real choice is made from the logits, masked by the constraint, as `generate` makes it — greedy: the
   masked argmax (ties to the lowest id, as torch.argmax over the vocabulary); sampling: the inverse CDF of the
   masked, warped distribution at a uniform number drawn for that output position. The first choice that differs
   from its draft ends the walk and the KV of the proposals after it is cropped; after the last proposal the same
   logits give one more choice for free.

A decision thus costs one prefill, then one pass per choice that was not proposed (or was proposed wrongly) — once
`memory` knows the model's formatting, often one or two passes for the whole action. Greedy output is token for
token the output of `generate` with Outlines' logits processor: in bfloat16 bit for bit (each row of a chunk is
computed as a one-token step computes it), in float32 up to the rounding of batched vs one-row matrix products. A
sampled output has the same distribution as `generate`'s — the Outlines mask, then generate's warpers (temperature;
top-k/top-p/min-p from the model's generation config, HF's defaults where unset) — but uses the random stream
differently, so a seed gives another sample than the `generate` path (a local `torch.Generator`; the global RNG is
untouched).

`TriedExclusion` (optional) removes, at every position, the tokens after which the action can only end as one
already tried: a greedy decision then picks the best untried action in one attempt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from degaml.controller.policy.action_language import TriedExclusion, compact
from degaml.controller.policy.stepwise_attention import stepwise_attention

# Rows per checking call (the token chosen last + proposals). At batch 1 on CPU a chunk of 32 costs about one
# decoding step; and up to 32 rows, bf16 matrix products give every row the bits a one-row product gives (oneDNN on
# this machine's AMX CPU changes kernels from 33 rows: measured on SmolLM2's shapes), which greedy identity needs.
MAX_CHUNK = 32
HALF = (torch.bfloat16, torch.float16)  # where chunked attention would flip near-ties: checked row by row
SEED_STYLES: tuple[Callable[[str], str], ...] = (  # compact JSON → spaced variants (values have no `":`, `,"`)
    lambda t: t.replace('":', '": ').replace(',"', ', "').replace('{"', '{ "').replace("}", " }"),
    lambda t: t.replace('":', '": ').replace(',"', ', "'),  # json.dumps' default separators
    lambda t: t,
)
HF_SAMPLING_DEFAULTS = {"top_k": 50, "top_p": 1.0}  # transformers' defaults where a generation config leaves them unset


# generation-config options whose logits processors the loop does not replicate, with their no-op values
_NOT_REPLICATED = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None, "suppress_tokens": None,
                   "begin_suppress_tokens": None, "min_length": 0, "min_new_tokens": None, "typical_p": 1.0,
                   "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "top_h": None, "sequence_bias": None,
                   "forced_bos_token_id": None, "forced_eos_token_id": None, "exponential_decay_length_penalty": None,
                   "guidance_scale": 1.0, "watermarking_config": None}


def replicates(generation_config: Any) -> bool:
    """Whether this loop makes the choices `generate` makes under `generation_config` (else: use `generate`)."""
    return all(getattr(generation_config, k, None) in (None, v) for k, v in _NOT_REPLICATED.items())


def sampling_warpers(generation_config: Any, temperature: float) -> list[Any]:
    """The warpers `generate(do_sample=True, temperature=...)` applies after the logits processors, in its order."""
    from transformers import MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    top_k = getattr(generation_config, "top_k", None)
    top_p = getattr(generation_config, "top_p", None)
    top_k = HF_SAMPLING_DEFAULTS["top_k"] if top_k is None else top_k
    top_p = HF_SAMPLING_DEFAULTS["top_p"] if top_p is None else top_p
    min_p = getattr(generation_config, "min_p", None)
    warpers: list[Any] = [TemperatureLogitsWarper(temperature)] if temperature != 1.0 else []
    warpers += [TopKLogitsWarper(top_k=top_k)] if top_k else []
    warpers += [TopPLogitsWarper(top_p=top_p)] if top_p < 1.0 else []
    warpers += [MinPLogitsWarper(min_p=min_p)] if min_p is not None else []
    return warpers


def constrained_scores(logits: torch.Tensor, allowed: list[int], warpers: list[Any]) -> torch.Tensor:
    """(V,) float32 logits → the scores sampling draws from: -inf outside `allowed`, then the warpers."""
    scores = torch.full_like(logits, float("-inf"))
    index = torch.tensor(allowed)
    scores[index] = logits[index]
    scores = scores[None]  # (1, V): the warpers' batch layout
    for warper in warpers:
        scores = warper(None, scores)
    return scores[0]


def choose(logits: torch.Tensor, allowed: list[int], warpers: list[Any] | None, u: float) -> int:
    """One constrained choice from (V,) float32 logits: greedy (`warpers` None) or the inverse CDF of the masked,
    warped distribution at `u` ∈ [0, 1) — a token drawn from exactly that distribution when `u` is uniform."""
    if warpers is None:
        return allowed[int(logits[torch.tensor(allowed)].argmax())]  # `allowed` is sorted: ties go to the lowest id
    index = torch.tensor(allowed)
    probs = torch.softmax(constrained_scores(logits, allowed, warpers), dim=-1)[index]  # zero outside `allowed`
    cdf = probs.cumsum(0)
    return allowed[min(int(torch.searchsorted(cdf, u * cdf[-1], right=True)), len(allowed) - 1)]


class JumpForward:
    """Outlines' index read through memoised dicts, the texts of tokens, and the drafts remembered per state."""

    def __init__(self, index: Any, tokenizer: Any, language: tuple[tuple[str, str], ...] | None) -> None:
        self.index, self.tokenizer, self.eos = index, tokenizer, tokenizer.eos_token_id
        self._allowed: dict[int, list[int]] = {}
        self._next: dict[tuple[int, int], int] = {}
        self._text: dict[int, str] = {}
        self.memory: dict[int, int] = {}  # automaton state → the token last chosen (or seeded) there
        self.language = language if language is not None and self._seed(language) else None

    def text(self, token: int) -> str:
        """The token's text without whitespace (the compact prefix `TriedExclusion` reads), as Outlines maps tokens."""
        if token not in self._text:
            self._text[token] = compact(self.tokenizer.convert_tokens_to_string([self.tokenizer.convert_ids_to_tokens(token)]))
        return self._text[token]

    def advance(self, state: int, token: int) -> int:
        if (state, token) not in self._next:
            self._next[state, token] = self.index.get_next_state(state, token)
        return self._next[state, token]

    def allowed(self, state: int, prefix: str, exclusion: TriedExclusion | None) -> list[int]:
        """Sorted token ids the constraint allows in `state` (after `prefix`), minus those `exclusion` rules out."""
        if state not in self._allowed:
            self._allowed[state] = sorted(self.index.get_allowed_tokens(state))
        tokens = self._allowed[state]
        if exclusion is None or not exclusion.active:
            return tokens
        kept = [t for t in tokens if (exclusion.allows_end(prefix) if t == self.eos else exclusion.allows(prefix + self.text(t)))]
        return kept or tokens  # cannot be empty while the prefix can still end untried; never leave no choice

    def _walk(self, text: str, seed: bool) -> bool:
        """Feed the tokenizer's tokens of `text` through the index (recording them as drafts when `seed`)."""
        state = self.index.get_initial_state()
        for token in self.tokenizer(text, add_special_tokens=False)["input_ids"]:
            if token not in self.allowed(state, "", None):
                return False
            if seed:
                self.memory.setdefault(state, token)
            state = self.advance(state, token)
        return self.index.is_final_state(state)

    def _seed(self, language: tuple[tuple[str, str], ...]) -> bool:
        """Seed `memory` with every action's JSON in a few spacings (first come first kept: how models tend to
        space JSON when no earlier decision showed theirs); False if the index rejects a compact text — then the
        language is not the one the index was compiled from, and no exclusion is done."""
        ok = all([self._walk(text, seed=False) for text, _ in language])
        for style in SEED_STYLES:
            for text, _ in language:
                self._walk(style(text), seed=True)  # a spacing the index does not accept seeds a prefix only
        return ok

    def proposals(self, state: int, prefix: str, exclusion: TriedExclusion | None, room: int,
                  drafts: bool = True) -> list[tuple[int, bool]]:
        """(token, forced) proposed from `state` on: forced tokens and (`drafts`) remembered ones, up to an unknown."""
        out: list[tuple[int, bool]] = []
        while len(out) < room:
            allowed = self.allowed(state, prefix, exclusion)
            if len(allowed) == 1:
                token, forced = allowed[0], True
            elif drafts and self.memory.get(state) in allowed:
                token, forced = self.memory[state], False
            else:
                break
            if token == self.eos:
                break
            out.append((token, forced))
            prefix += self.text(token)
            state = self.advance(state, token)
        return out

    def run(self, model: torch.nn.Module, cache: Any, pending: list[int], max_new_tokens: int,
            warpers: list[Any] | None, uniforms: torch.Tensor | None, exclusion: TriedExclusion | None,
            on_token: Callable[[int], None] | None = None, drafts: bool = True) -> tuple[list[int], int]:
        """Generate after `pending` (the prompt tokens not in `cache`, ≥ 1); returns (new token ids, forward passes).
        Sampling (`warpers`) draws output position i at `uniforms[i]`, so proposals never change a sample.
        `cache` holds the prompt's earlier positions and is extended in place (its tail past the prompt is junk);
        `drafts=False` proposes forced tokens only (for a cache that cannot be cropped: they are never rejected)."""
        state, prefix, out, passes = self.index.get_initial_state(), "", [], 0
        half = getattr(model, "get_base_model", lambda: model)().dtype in HALF
        while len(out) < max_new_tokens:
            if self.allowed(state, prefix, exclusion) == [self.eos]:
                break  # the JSON is complete: generate would emit EOS here, which decoding skips
            prefill = len(pending) > 1  # the prompt's uncached tokens: computed alone, as generate's prefill is
            room = 0 if prefill else min(MAX_CHUNK - 1, max_new_tokens - len(out) - 1)
            proposed = self.proposals(state, prefix, exclusion, room, drafts)
            ids = torch.tensor([pending + [t for t, _ in proposed]], device=model.device)  # (1, P + D)
            rowwise = not prefill and len(proposed) > 0 and half  # float32: batched matmuls round apart anyway
            with torch.no_grad(), (stepwise_attention(model) if rowwise else contextlib.nullcontext()):
                logits = model(input_ids=ids, cache=cache, logits_to_keep=len(proposed) + 1).logits[0]  # (D + 1, V)
            logits, passes = logits.float().cpu(), passes + 1
            accepted = 0
            for j in range(len(proposed) + 1):
                draft, forced = proposed[j] if j < len(proposed) else (None, False)
                u = float(uniforms[len(out)]) if uniforms is not None else 0.0
                token = draft if forced else choose(logits[j], self.allowed(state, prefix, exclusion), warpers, u)
                out.append(token)
                if not forced:
                    self.memory[state] = token
                if token == self.eos or len(out) >= max_new_tokens:
                    return out, passes
                prefix += self.text(token)
                state = self.advance(state, token)
                if token != draft:
                    break
                accepted += 1
            if accepted < len(proposed):
                cache.crop(accepted - len(proposed))  # a negative count: drop the KV of the rejected proposals
            pending = [out[-1]]  # chosen from the last logits; its KV comes with the next chunk
            if on_token is not None:
                on_token(len(out))
        return out, passes
