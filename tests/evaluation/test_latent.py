"""Scoring/generation with per-item hidden-state offsets: δ = 0 reproduces the evaluator's functions exactly,
δ enters every position of its own item only, and the fit sees prompt tokens only."""

from __future__ import annotations

import pytest
import torch

from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.latent import _common_prefix, _item_batches, generate_with_offsets, score_items_with_offsets
from degaml.evaluation.loglikelihood import encode_pair, score_continuations


def _items():
    items = [[(f"Question number {i} about planets?\nAnswer:", f" {c}") for c in ("Mars", "Venus", f"Earth {i}")]
             for i in range(5)]
    items.append([("The fox jumps over Mars", " dog"), ("The fox jumps over Venus", " dog")])  # context varies per choice
    items.append(list(items[0]))  # same context as item 0 (never merged with it)
    return items


def test_zero_offset_equals_score_continuations(tiny_loaded):
    items = _items()
    flat = [p for item in items for p in item]
    ref = score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, flat, 3, 64)
    got = [s for item in score_items_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, items, 3, 64) for s in item]
    assert [s.n_tokens for s in got] == [s.n_tokens for s in ref]
    assert [s.logprob for s in got] == pytest.approx([s.logprob for s in ref], abs=1e-5)


def test_offset_applies_to_its_own_item_only(tiny_loaded):
    items = _items()[:3]
    base = score_items_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, items, 8, 64)

    def shift_item_one(states, targets, owner, n):
        delta = torch.zeros(n, states.shape[-1])
        delta[1] = 3.0
        return delta

    moved = score_items_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, items, 8, 64, shift_item_one)
    assert [s.logprob for s in moved[0]] == pytest.approx([s.logprob for s in base[0]], abs=1e-5)
    assert all(abs(a.logprob - b.logprob) > 1e-3 for a, b in zip(moved[1], base[1]))


def test_fit_receives_only_prompt_tokens(tiny_loaded):
    items = _items()
    seen = []

    def spy(states, targets, owner, n):
        seen.append((states.shape, targets.tolist(), owner.tolist(), n))
        return torch.zeros(n, states.shape[-1])

    score_items_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, items, 100, 64, spy)
    (shape, targets, owner, n), = seen
    assert n == len(items) and shape[0] == len(targets) == len(owner)
    tok = tiny_loaded.tokenizer
    expected = sorted(tuple(_common_prefix([encode_pair(tok, c, k)[0] for c, k in item])[1:]) for item in items)
    got = sorted(tuple(t for t, o in zip(targets, owner) if o == i) for i in range(n))
    assert got == expected


def test_item_batches_respect_row_budget():
    assert _item_batches([1, 1, 1, 2, 3], 3) == [[0, 1, 2], [3], [4]]
    assert _item_batches([5], 2) == [[0]]  # an oversized item still gets its own batch
    assert _common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == [1, 2]


@pytest.mark.slow
def test_zero_offset_generation_equals_generate_greedy(tiny_loaded):
    prompts = [f"What is {i} plus {i}?" + " yes" * i for i in range(7)] + ["Question: What is two plus two?\nAnswer:"]
    ref = generate_greedy(tiny_loaded.model, tiny_loaded.tokenizer, prompts, ["\n", "no"], 6, 3, 128)
    got = generate_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, prompts, ["\n", "no"], 6, 3, 128)
    assert [g.text for g in got] == [g.text for g in ref]
    assert [g.n_prompt_tokens for g in got] == [g.n_prompt_tokens for g in ref]


def test_generation_offset_changes_decoding_and_fit_sees_unpadded_prompts(tiny_loaded):
    prompts = ["What is 1 plus 1?", "The quick brown fox jumps over the lazy dog."]
    seen = []

    def big(states, targets, owner, n):
        seen.append((targets.tolist(), owner.tolist()))
        delta = torch.zeros(n, states.shape[-1])
        delta[:, 0] = 50.0
        return delta

    plain = generate_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, prompts, [], 5, 2, 128)
    steered = generate_with_offsets(tiny_loaded.model, tiny_loaded.tokenizer, prompts, [], 5, 2, 128, big)
    assert [g.text for g in steered] != [g.text for g in plain]
    (targets, owner), = seen
    tok = tiny_loaded.tokenizer
    order = sorted(range(2), key=lambda i: -len(tok(prompts[i], add_special_tokens=False)["input_ids"]))
    for row, i in enumerate(order):  # rows are length-sorted; targets are ids[1:] of each prompt, no padding
        ids = tok(prompts[i], add_special_tokens=False)["input_ids"]
        assert [t for t, o in zip(targets, owner) if o == row] == ids[1:]
