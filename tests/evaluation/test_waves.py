"""Row compaction (`degaml.evaluation.waves`): decoding in waves, finished rows dropped between `generate` calls,
gives the same texts and token counts as one uninterrupted `generate` and as the naive cache-free reference — with
stop strings that span a wave boundary, rows ending at EOS mid-wave, several batches, SLOT's per-row logit bias
and its prompt cache. The tiny model's weights are re-drawn larger here so that greedy text varies and some rows hit
EOS (the default tiny model repeats one token forever)."""

from __future__ import annotations

import pytest
import torch

from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.latent import generate_with_offsets
from degaml.evaluation.waves import COMPACT, SINGLE_WAVE, WaveSchedule
from degaml.models import load_llm
from tests.evaluation.test_generation import naive_generate

PROMPTS = [f"What is {i} plus {i}?" + " yes" * i for i in range(6)] + ["Question: What is two plus two?\nAnswer:", "a"]
SMALL = WaveSchedule(first=4, growth=2.0)  # boundaries 4, 8, 16
MAX_NEW = 16


@pytest.fixture(scope="module")
def chaotic(tiny_model_dir):
    """A separate copy of the tiny model with N(0, 0.3) matrices: varied greedy text, EOS at different steps."""
    loaded = load_llm(str(tiny_model_dir), device="cpu", dtype="float32")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in loaded.model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return loaded


@pytest.fixture
def widths(chaotic, monkeypatch):
    """Batch width of every `generate` call (a spy that delegates to the real method)."""
    seen: list[int] = []
    real = chaotic.model.generate

    def spy(*args, **kwargs):
        seen.append(kwargs["input_ids"].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(chaotic.model, "generate", spy)
    return seen


def test_schedule_boundaries():
    assert COMPACT.boundaries(160) == [16, 32, 64, 128, 160]
    assert SMALL.boundaries(16) == [4, 8, 16]
    assert WaveSchedule(first=3, growth=1.5).boundaries(10) == [3, 5, 8, 10]
    assert SINGLE_WAVE.boundaries(160) == [160]
    assert WaveSchedule(first=200).boundaries(160) == [160]


def _straddling_stop(tok, rows: list[list[int]], edge: int) -> str:
    """A two-token ASCII string whose first token is the last of wave 1 and which does not occur earlier."""
    for new in rows:
        if len(new) > edge:
            text = tok.decode(new[edge - 1 : edge + 1])
            if len(text) >= 2 and text.isascii() and text.isprintable() and text not in tok.decode(new[: edge + 1])[:-1]:
                return text
    raise AssertionError("no row gives a straddling stop string")


@pytest.mark.slow
def test_compacted_equals_one_generate_and_the_naive_reference(chaotic, widths):
    model, tok = chaotic.model, chaotic.tokenizer
    free = generate_greedy(model, tok, PROMPTS, [], MAX_NEW, 3, 128, schedule=SINGLE_WAVE)
    rows = [tok(g.text, add_special_tokens=False)["input_ids"] for g in free]
    stop = _straddling_stop(tok, rows, SMALL.first)
    until = [stop, "\n"]
    single = generate_greedy(model, tok, PROMPTS, until, MAX_NEW, 3, 128, schedule=SINGLE_WAVE)
    widths.clear()
    got = generate_greedy(model, tok, PROMPTS, until, MAX_NEW, 3, 128, schedule=SMALL)
    assert [g.text for g in got] == [g.text for g in single]
    assert [g.n_new_tokens for g in got] == [g.n_new_tokens for g in single]
    assert [g.text for g in got] == [naive_generate(model, tok, p, until, MAX_NEW) for p in PROMPTS]
    # the cases are really there: a row stopped by the straddling string right after the boundary, a row ended at
    # EOS after the first wave, rows that ran to the budget; and finished rows left the batch
    assert any(g.n_new_tokens == SMALL.first + 1 and g.text != f.text for g, f in zip(single, free))
    assert any(SMALL.first < g.n_new_tokens < MAX_NEW and stop not in f.text for g, f in zip(single, free))
    assert any(g.n_new_tokens == MAX_NEW for g in single)
    assert len(widths) > 3 and any(b < a for a, b in zip(widths, widths[1:]))


def _item_delta(states, targets, owner, n):
    """δ_item = ½ × the mean prompt state of the item: fixed per prompt, whatever the batch."""
    delta = torch.zeros(n, states.shape[-1])
    delta.index_add_(0, owner, states.detach())
    return 0.5 * delta / torch.bincount(owner, minlength=n).clamp(min=1)[:, None]


@pytest.mark.slow
def test_compacted_steered_generation_selects_bias_and_cache_rows(chaotic, widths):
    model, tok = chaotic.model, chaotic.tokenizer
    until = ["\n"]
    single = generate_with_offsets(model, tok, PROMPTS, until, MAX_NEW, 4, 128, _item_delta, schedule=SINGLE_WAVE)
    widths.clear()
    got = generate_with_offsets(model, tok, PROMPTS, until, MAX_NEW, 4, 128, _item_delta, schedule=SMALL)
    assert [g.text for g in got] == [g.text for g in single]
    assert [g.n_new_tokens for g in got] == [g.n_new_tokens for g in single]
    plain = generate_greedy(model, tok, PROMPTS, until, MAX_NEW, 4, 128, schedule=SINGLE_WAVE)
    assert [g.text for g in got] != [g.text for g in plain]  # the offsets really steer
    assert any(b < a for a, b in zip(widths, widths[1:]))  # rows (and their bias) were dropped
    zero = generate_with_offsets(model, tok, PROMPTS, until, MAX_NEW, 4, 128, schedule=SMALL)  # cache, no bias
    assert [g.text for g in zero] == [g.text for g in plain]


@pytest.fixture
def merges(monkeypatch):
    """(rows, width, has bias) of the parts of every cross-batch merge (a spy delegating to the real `merge`)."""
    import degaml.evaluation.generation as generation

    seen: list[list[tuple[int, int, bool]]] = []
    real = generation.merge

    def spy(parts, pad_id):
        seen.append([(len(p.keys), p.ids.shape[1], p.bias is not None) for p in parts])
        return real(parts, pad_id)

    monkeypatch.setattr(generation, "merge", spy)
    return seen


@pytest.mark.slow
def test_unfinished_rows_of_consecutive_batches_are_merged_with_the_same_tokens(chaotic, merges):
    model, tok = chaotic.model, chaotic.tokenizer
    until, schedule = [" la", "\n"], WaveSchedule(first=6, growth=2.0)
    single = generate_greedy(model, tok, PROMPTS, until, MAX_NEW, 2, 128, schedule=SINGLE_WAVE)
    merges.clear()
    got = generate_greedy(model, tok, PROMPTS, until, MAX_NEW, 2, 128, schedule=schedule)
    assert [(g.text, g.n_new_tokens) for g in got] == [(g.text, g.n_new_tokens) for g in single]
    assert [g.text for g in got] == [naive_generate(model, tok, p, until, MAX_NEW) for p in PROMPTS]
    assert any(len(parts) > 1 and len({w for _, w, _ in parts}) > 1 for parts in merges)  # different lengths
    assert all(sum(n for n, _, _ in parts) <= 2 for parts in merges)  # never wider than batch_size


@pytest.mark.slow
def test_merged_steered_rows_keep_their_bias_rows(chaotic, merges):
    """Batch 0 gets δ = 0 (no bias at all), the others δ ≠ 0: merged parts with and without a bias."""
    model, tok = chaotic.model, chaotic.tokenizer
    until = [" la", "\n"]

    def fit_factory():
        calls = []

        def fit(states, targets, owner, n):
            calls.append(n)
            return _item_delta(states, targets, owner, n) * (len(calls) > 1)

        return fit

    single = generate_with_offsets(model, tok, PROMPTS, until, MAX_NEW, 2, 128, fit_factory(), schedule=SINGLE_WAVE)
    merges.clear()
    got = generate_with_offsets(model, tok, PROMPTS, until, MAX_NEW, 2, 128, fit_factory(), schedule=SMALL)
    assert [(g.text, g.n_new_tokens) for g in got] == [(g.text, g.n_new_tokens) for g in single]
    assert any(len(parts) > 1 for parts in merges)
    assert any(len({b for _, _, b in parts}) > 1 for parts in merges)  # a part without bias beside one with
