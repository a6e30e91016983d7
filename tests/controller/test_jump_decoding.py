"""Jump-forward decoding against the reference `generate` path on the tiny random model: the same greedy tokens (in
float32 and bfloat16), fewer forward passes, the same sampling distribution, samples that only depend on the seed."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import DynamicCache, LogitsProcessorList

from degaml.controller.policy.jump_decoding import MAX_CHUNK, choose, constrained_scores, replicates, sampling_warpers
from degaml.controller.policy.decoding import ConstrainedDecoder, prompt_ids, schema_processor
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.controller.policy.stepwise_attention import stepwise_attention
from degaml.strategies.registry import Action, action_json_schema

SCHEMA = action_json_schema()
MAX_NEW = 160  # the tiny model spaces at random, in single characters: room for any action without a cut


def _messages(task: str, step: int) -> list[dict[str, str]]:
    history = [HistoryItem(t, {"strategy": {"family": "slot", "times": 3, "learning_rate": 0.01}}, 0.5, 0.1, 1, 3.0)
               for t in range(step)]
    state = PolicyState(task, "Toy questions.", "multiple_choice", ["What is two plus two?"], 0.4, 0.5, 20, step, 4,
                        None, history)
    return render_messages(state, SCHEMA)


SEQUENCE = [("toy_mc", 0), ("toy_mc", 1), ("toy_mc", 1), ("toy_mc", 2), ("other_task", 0), ("other_task", 1)]


@pytest.fixture(scope="module")
def tiny_bf16(tiny_model_dir):
    from degaml.models import load_llm

    return load_llm(str(tiny_model_dir), device="cpu", dtype="bfloat16")


@pytest.mark.parametrize("which", ["tiny_loaded", "tiny_bf16"])
@pytest.mark.slow
def test_greedy_tokens_equal_generate_with_fewer_passes(request, which):
    loaded = request.getfixturevalue(which)
    reference, jump = ConstrainedDecoder(Action, jump_forward=False), ConstrainedDecoder(Action)
    for task, step in SEQUENCE:  # an episode, a retry of the same prompt, another task: prefix reuse on both paths
        messages = _messages(task, step)
        expected = reference.generate(loaded.model, loaded.tokenizer, messages, "None", 0.0, MAX_NEW, 0)
        assert jump.generate(loaded.model, loaded.tokenizer, messages, "None", 0.0, MAX_NEW, 0) == expected, (task, step)
        ref_tokens, tokens = reference.calls[-1].tokens, jump.calls[-1].tokens
        assert tokens == ref_tokens[: len(tokens)] and ref_tokens[len(tokens):] in ([], [loaded.tokenizer.eos_token_id])
    assert all(c.forward_passes < len(r.tokens) for c, r in zip(jump.calls, reference.calls))


def test_a_decision_remembered_from_the_same_state_costs_one_pass(tiny_loaded):
    decoder, messages = ConstrainedDecoder(Action), _messages("toy_mc", 1)
    first = decoder.generate(tiny_loaded.model, tiny_loaded.tokenizer, messages, "None", 0.0, MAX_NEW, 0)
    again = decoder.generate(tiny_loaded.model, tiny_loaded.tokenizer, messages, "None", 0.0, MAX_NEW, 0)
    n = len(decoder.calls[-1].tokens)  # every choice proposed from memory: each pass accepts a full chunk
    assert again == first and decoder.calls[-1].forward_passes == math.ceil(n / MAX_CHUNK) < n


@pytest.mark.slow
def test_a_chunk_under_stepwise_attention_is_one_token_steps_bit_for_bit(tiny_bf16):
    """Up to MAX_CHUNK rows (beyond, some CPUs' bf16 products round some rows differently: a chunk's limit): every
    layer's keys, values and the last hidden states are bit for bit those of one-token steps. The vocabulary
    projection on top is one matmul of R rows against R matmuls of one row: on a CPU with AMX its R-row kernel may
    round a logit by one bf16 unit differently (seen 2026-12-07: 1 row of 32, 1.5e-5; bit-exact with AMX off) — the
    same greedy choice, within one unit."""
    model, tokenizer = tiny_bf16.model, tiny_bf16.tokenizer
    ids = prompt_ids(tokenizer, _messages("toy_mc", 1))  # (1, T)
    new = tokenizer('{ "strategy": {"family": "tts", "method"', return_tensors="pt")["input_ids"][:, :MAX_CHUNK]  # (1, R)
    with torch.no_grad():
        cache = DynamicCache(config=model.config)
        model(ids, cache=cache)
        chunk_cache = copy.deepcopy(cache)
        step_hidden = torch.cat([model.model(new[:, i : i + 1], past_key_values=cache).last_hidden_state[0]
                                 for i in range(new.shape[1])])  # (R, H)
        with stepwise_attention(model) as wrapped:
            chunk_hidden = model.model(new, past_key_values=chunk_cache).last_hidden_state[0]  # (R, H)
        steps = torch.stack([model.lm_head(h[None])[0] for h in step_hidden])  # (R, V): one row at a time
        chunk = model.lm_head(chunk_hidden)  # (R, V): one product
    assert wrapped and model.config._attn_implementation == "sdpa"  # switched back after the block
    assert torch.equal(chunk_hidden, step_hidden)
    assert all(torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
               for a, b in zip(cache.layers, chunk_cache.layers))
    assert torch.equal(chunk.argmax(-1), steps.argmax(-1))
    ulp = torch.finfo(torch.bfloat16).eps * steps.float().abs().clamp_min(torch.finfo(torch.bfloat16).tiny)
    assert ((chunk.float() - steps.float()).abs() <= ulp).all()


@pytest.mark.slow
def test_sampling_scores_are_generates(tiny_loaded):
    """Mask and warpers (temperature, HF's default top-k 50) give the scores `generate` samples from, step by step."""
    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    processor = schema_processor(model, tokenizer, Action)
    ids = prompt_ids(tokenizer, _messages("toy_mc", 0))
    processor.reset()
    torch.manual_seed(3)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), logits_processor=LogitsProcessorList([processor]),
                             do_sample=True, temperature=0.7, max_new_tokens=40, output_scores=True, return_dict_in_generate=True)
        logits = model(out.sequences).logits[0, ids.shape[1] - 1 : -1].float()  # (new, V)
    index, state, warpers = processor.index, processor.index.get_initial_state(), sampling_warpers(model.generation_config, 0.7)
    for i, token in enumerate(out.sequences[0, ids.shape[1]:].tolist()):
        mine = constrained_scores(logits[i], sorted(index.get_allowed_tokens(state)), warpers)
        theirs = out.scores[i][0]
        assert torch.equal(torch.isinf(mine), torch.isinf(theirs))
        torch.testing.assert_close(mine.softmax(-1), theirs.softmax(-1), atol=1e-5, rtol=1e-4)
        if token == tokenizer.eos_token_id:
            break
        state = index.get_next_state(state, token)
    assert replicates(model.generation_config)


def test_choose_draws_from_the_distribution():
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0, 1.0, 0.0])
    allowed = [0, 2, 3, 4]
    warpers = sampling_warpers(None, 0.8)
    p = constrained_scores(logits, allowed, warpers).softmax(-1)
    n = 20_000
    draws = [choose(logits, allowed, warpers, u) for u in torch.rand(n, generator=torch.Generator().manual_seed(0)).tolist()]
    counts = torch.bincount(torch.tensor(draws), minlength=len(logits)).double()
    assert counts[1] == counts[5] == 0  # never outside the constraint
    chi2 = float((((counts - n * p) ** 2) / (n * p)).nan_to_num()[allowed].sum())
    assert chi2 < 16.3  # χ² with 3 degrees of freedom, p = 0.001
    assert choose(logits, allowed, None, 0.5) == 3  # greedy: the masked argmax


@pytest.mark.slow
def test_a_sample_depends_on_the_seed_not_on_what_the_decoder_remembers(tiny_loaded):
    model, tokenizer, messages = tiny_loaded.model, tiny_loaded.tokenizer, _messages("toy_mc", 2)
    warm = ConstrainedDecoder(Action)
    for task, step in SEQUENCE:  # fills its memory of drafts with other decisions
        warm.generate(model, tokenizer, _messages(task, step), "None", 1.0, MAX_NEW, 7)
    samples = [warm.generate(model, tokenizer, messages, "None", 1.0, MAX_NEW, seed) for seed in (11, 12)]
    fresh = ConstrainedDecoder(Action, reuse_prefix=False)
    assert [fresh.generate(model, tokenizer, messages, "None", 1.0, MAX_NEW, seed) for seed in (11, 12)] == samples
    assert all(Action.model_validate_json(s) for s in samples)
