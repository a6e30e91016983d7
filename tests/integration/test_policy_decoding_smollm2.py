"""Jump-forward decoding on the real policy (SmolLM2-135M in its `dtype: auto`, the shipped policy adapter when
there is one): greedy decisions on real states equal the `generate` path token for token, and excluding tried
actions gives an untried action in one attempt."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from degaml.controller.policy.reference import random_action
from degaml.controller.policy.model import Policy, canonical, resolve_policy
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import action_json_schema

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _states() -> list[PolicyState]:
    from degaml.data import load_task_data, shared_data_dir
    from degaml.specs import load_spec

    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    rng, schema, states = random.Random(0), action_json_schema(), []
    for task in ("arc_easy", "gsm8k"):
        spec = load_spec(REPO / "specs" / f"{task}.yaml")
        questions = load_task_data(spec, on_skip=lambda _: None).support_prompts()[:3]
        history: list[HistoryItem] = []
        for step in range(3):
            states.append(PolicyState(task, spec.description, spec.format, questions, 0.4, 0.45, spec.num_validation,
                                      step, 3, None, list(history)))
            history.append(HistoryItem(step, random_action(schema, rng), 0.45, 0.05, 1, 60.0))
    return states


TIE = 0.25  # nats: two computation orders (a chunk of forced tokens vs one token per pass) may round a near-tie
# differently in bf16 (an `auto` dtype on CPUs with AVX512-BF16) — seen once on an AMD EPYC without AMX


def _divergence_margin(loaded, adapter, messages, ref_tokens: list[int], got_tokens: list[int]) -> float:
    """|log p(ref) − log p(got)| at the first token where the two greedy paths differ (one full forward pass)."""
    import torch

    from degaml.controller.policy.decoding import prompt_ids
    from degaml.models.adapters import attached_adapter

    k = next(i for i, (a, b) in enumerate(zip(ref_tokens, got_tokens)) if a != b)
    ids = torch.cat([prompt_ids(loaded.tokenizer, messages)[0], torch.tensor(ref_tokens[:k])])[None]
    with attached_adapter(loaded.model, adapter) as model, torch.inference_mode():
        logprobs = torch.log_softmax(model(ids.to(model.device)).logits[0, -1].float(), -1)
    return abs(float(logprobs[ref_tokens[k]] - logprobs[got_tokens[k]]))


def test_greedy_decisions_on_real_states_equal_generate():
    from degaml.models import load_llm

    loaded = load_llm("default", "cpu")
    adapter = resolve_policy("default")
    reference = Policy(loaded, adapter, jump_forward=False)
    jump = Policy(loaded, adapter, exclude_tried=False)
    config = AdaptConfig(temperature=0.0, retries=0)
    schema = action_json_schema()
    for state in _states():
        messages = render_messages(state, schema)
        expected = reference.decide(messages, config, seed=0, tried=set())
        got = jump.decide(messages, config, seed=0, tried=set())
        tokens, ref_tokens = jump.decoder.calls[-1].tokens, reference.decoder.calls[-1].tokens
        if got.raw != expected.raw:  # allowed only where greedy is a float-level tie between the two tokens
            margin = _divergence_margin(loaded, adapter, messages, ref_tokens, tokens)
            assert margin < TIE, (state.task, state.step, got.raw, expected.raw, margin)
            continue
        assert tokens == ref_tokens[: len(tokens)] and len(ref_tokens) - len(tokens) <= 1  # an EOS at most
        assert jump.decoder.calls[-1].forward_passes < len(ref_tokens)
        if got.action is not None:  # excluding it: another action, in one attempt
            other = Policy(loaded, adapter).decide(messages, AdaptConfig(temperature=0.0, retries=2), seed=0,
                                                   tried={canonical(got.action)})
            assert other.attempts == 1 and other.action is not None and canonical(other.action) != canonical(got.action)
