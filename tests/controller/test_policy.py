"""The policy's constrained decoding: the compiled index, the reused prompt KV cache and jump-forward decoding
change no output; tried actions are excluded inside the constraint.

Reference = the path the policy used before (a fresh `outlines.Generator` per decision, full prefill every time).
Jump-forward decoding draws samples differently from `generate` (`jump_decoding`), so sampled outputs are compared
with the reference on the `generate` path (`jump_forward=False`); its distribution is tested in test_jump_decoding.
"""

from __future__ import annotations

import outlines
import pytest
import torch
from peft import LoraConfig, get_peft_model

from degaml.controller.policy.model import Policy, canonical
from degaml.controller.policy.decoding import ConstrainedDecoder, common_prefix, prompt_ids, schema_processor
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.models.adapters import attached_adapter
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import Action, action_json_schema

SCHEMA = action_json_schema()
MAX_NEW = 48


def _state(task: str, step: int) -> PolicyState:
    history = [HistoryItem(t, {"strategy": {"family": "lora_mix", "lambda": 0.25 * t}}, 0.5, 0.1, 1, 3.0) for t in range(step)]
    return PolicyState(task, "Toy questions.", "multiple_choice", ["What is two plus two?", "Which planet is red?"],
                       0.4, 0.5 if step else 0.4, 20, step, 4, None, history)


def _messages(task: str = "toy_mc", step: int = 0) -> list[dict[str, str]]:
    return render_messages(_state(task, step), SCHEMA)


def _reference(loaded, adapter, messages, temperature: float, seed: int) -> str:
    """The former decision path: a new Generator (index compiled again), the whole prompt prefilled."""
    tokenizer, side = loaded.tokenizer, loaded.tokenizer.padding_side
    with attached_adapter(loaded.model, adapter) as model:
        generator = outlines.Generator(outlines.from_transformers(model, tokenizer), Action)
        torch.manual_seed(seed)
        kwargs = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        raw = generator(outlines.inputs.Chat(messages), max_new_tokens=MAX_NEW, **kwargs)
    tokenizer.padding_side = side
    return raw


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory, tiny_loaded):
    """A policy LoRA adapter for the tiny model with non-zero B (so it changes the logits)."""
    path = tmp_path_factory.mktemp("policy-adapter")
    peft_model = get_peft_model(tiny_loaded.model, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(path)
    peft_model.unload()
    return path


def test_prefix_kv_gives_the_logits_of_a_full_prefill(tiny_loaded):
    from transformers import DynamicCache

    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    ids = prompt_ids(tokenizer, _messages(step=2))  # (1, T)
    shared = common_prefix(ids[0].tolist(), prompt_ids(tokenizer, _messages("other_task"))[0].tolist())
    assert 0 < shared < ids.shape[1]
    with torch.no_grad():
        full = model(ids).logits[0, -1]
        cache = DynamicCache(config=model.config)
        model(ids[:, :shared], cache=cache)
        rest = model(ids[:, shared:], cache=cache).logits[0, -1]
    torch.testing.assert_close(rest, full, atol=1e-5, rtol=1e-5)


def test_the_index_is_compiled_once_per_tokenizer_and_schema(tiny_loaded):
    side = tiny_loaded.tokenizer.padding_side
    first = schema_processor(tiny_loaded.model, tiny_loaded.tokenizer, Action)
    assert schema_processor(tiny_loaded.model, tiny_loaded.tokenizer, Action) is first
    assert tiny_loaded.tokenizer.padding_side == side  # Outlines sets it to left; the evaluator pads itself


@pytest.mark.parametrize(("temperature", "jump_forward"), [(0.0, True), (0.0, False), (1.0, False)])
@pytest.mark.slow
def test_cached_prefix_decisions_equal_the_reference(tiny_loaded, temperature, jump_forward):
    decoder = ConstrainedDecoder(Action, jump_forward=jump_forward)
    # an episode's decisions, a retry of the same prompt, then another task: each reuses part of the previous prompt
    sequence = [("toy_mc", 0, 11), ("toy_mc", 1, 12), ("toy_mc", 1, 13), ("toy_mc", 2, 14), ("other_task", 0, 15)]
    for task, step, seed in sequence:
        messages = _messages(task, step)
        raw = decoder.generate(tiny_loaded.model, tiny_loaded.tokenizer, messages, "None", temperature, MAX_NEW, seed)
        assert raw == _reference(tiny_loaded, None, messages, temperature, seed), (task, step)
        if (task, step, seed) != sequence[0]:
            assert decoder.reused_tokens > 0
    assert decoder.reused_tokens < decoder.prompt_tokens - 1  # a different task shares the system prompt only
    decoder.generate(tiny_loaded.model, tiny_loaded.tokenizer, messages, "None", temperature, MAX_NEW, 99)
    assert decoder.reused_tokens == decoder.prompt_tokens - 1  # a re-sample prefills one token


@pytest.mark.slow
def test_the_cache_of_one_adapter_is_not_used_for_another(tiny_loaded, tiny_adapter):
    messages = _messages(step=1)
    with_adapter = Policy(tiny_loaded, tiny_adapter)
    config = AdaptConfig(temperature=0.0, retries=0, max_new_tokens=MAX_NEW)
    first = with_adapter.decide(messages, config, seed=0, tried=set())
    assert first.raw == _reference(tiny_loaded, tiny_adapter, messages, 0.0, 0)
    decoder = with_adapter.decoder
    raw = decoder.generate(tiny_loaded.model, tiny_loaded.tokenizer, messages, "None", 0.0, MAX_NEW, 0)  # base model
    assert decoder.reused_tokens == 0 and raw == _reference(tiny_loaded, None, messages, 0.0, 0)
    assert first.raw != raw  # the adapter matters, so a shared cache would have shown


@pytest.mark.slow
def test_retries_of_a_repeat_reuse_the_prompt_and_stay_seeded(tiny_loaded):
    """The reference `generate` path has no exclusion: a greedy repeat is re-sampled, from the cached prompt."""
    messages = _messages(step=1)
    config = AdaptConfig(temperature=0.0, retries=2, max_new_tokens=MAX_NEW)
    policy = Policy(tiny_loaded, None, jump_forward=False)
    greedy = policy.decide(messages, AdaptConfig(temperature=0.0, retries=0, max_new_tokens=MAX_NEW), seed=5, tried=set())
    tried = {canonical(greedy.action)} if greedy.action else set()  # greedy again is a repeat, or invalid again
    again = policy.decide(messages, config, seed=5, tried=tried)
    assert again.attempts >= 2 and policy.decoder.reused_tokens == policy.decoder.prompt_tokens - 1
    fresh = Policy(tiny_loaded, None, reuse_prefix=False, jump_forward=False).decide(messages, config, seed=5, tried=tried)
    assert (fresh.raw, fresh.action, fresh.attempts) == (again.raw, again.action, again.attempts)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.slow
def test_tried_actions_are_excluded_in_one_attempt(tiny_loaded, temperature):
    """Default path: the constraint keeps tried actions out, so a decision needs no re-sample to avoid them."""
    messages = _messages(step=1)
    config = AdaptConfig(temperature=temperature, retries=2, max_new_tokens=160)  # no cut: single-char tokens
    policy = Policy(tiny_loaded, None)
    tried: set[str] = set()
    for seed in range(4):  # each decision's action joins the tried set: four different actions, one attempt each
        d = policy.decide(messages, config, seed=seed, tried=tried)
        assert d.action is not None and d.attempts == 1 and canonical(d.action) not in tried, d
        tried.add(canonical(d.action))
    assert len(tried) == 4
