"""Test-time training: params grid, unlabeled masked-padding data, the run on the tiny model, guards."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from peft import PeftModel
from pydantic import ValidationError
from safetensors.torch import load_file

from degaml.strategies import lora_steps, ttt
from degaml.strategies.ttt import TTTParams, build_lm_batch, lm_loss, run_ttt, step_batches, training_texts

GOOD = {"ttl_steps": 5, "learning_rate": 5e-4, "batch_size": 4, "shuffle_data": True}


# --- params -----------------------------------------------------------------------------------------------------


def test_params_accept_the_grid_and_round_trip():
    params = TTTParams.model_validate(GOOD)
    assert params.family == "ttt"
    assert TTTParams.model_validate_json(params.model_dump_json()) == params
    assert TTTParams.model_validate({"family": "ttt", **GOOD, "learning_rate": 1e-5}).learning_rate == 1e-5


@pytest.mark.parametrize("bad", [
    {"ttl_steps": 7}, {"ttl_steps": 0}, {"learning_rate": 1e-3}, {"batch_size": 16}, {"batch_size": True},
    {"family": "tts"}, {"extra": 1}, {"shuffle_data": "maybe"},
])
def test_params_reject_values_off_the_grid_and_extra_keys(bad):
    with pytest.raises(ValidationError):
        TTTParams.model_validate({**GOOD, **bad})


def test_params_missing_field_is_rejected():
    with pytest.raises(ValidationError):
        TTTParams.model_validate({"ttl_steps": 5})


def test_json_schema_lists_the_grids_with_descriptions():
    schema = TTTParams.model_json_schema()
    props = schema["properties"]
    assert props["ttl_steps"]["enum"] == [5, 10, 25]
    assert props["learning_rate"]["enum"] == [1e-5, 5e-5, 1e-4, 5e-4]
    assert props["batch_size"]["enum"] == [2, 4, 8]
    assert props["family"].get("const") == "ttt" or props["family"].get("enum") == ["ttt"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["family", "ttl_steps", "learning_rate", "batch_size", "shuffle_data"]
    assert all(props[name].get("description") for name in props)


# --- data -------------------------------------------------------------------------------------------------------


def test_padding_is_masked_out_of_the_loss(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    short, long = "Question: What is two plus two?", "The quick brown fox jumps over the lazy dog. " * 3
    plain = build_lm_batch(tok, [short], 512)
    padded = build_lm_batch(tok, [short], 512, pad_to=plain.input_ids.shape[1] + 40)
    assert (padded.labels[padded.attention_mask == 0] == -100).all()
    assert torch.equal(padded.labels[padded.attention_mask == 1], plain.labels[0])
    with torch.no_grad():
        a = lm_loss(model, plain, tiny_loaded.device)
        b = lm_loss(model, padded, tiny_loaded.device)
        # a mixed batch = token-weighted mean of the rows' own losses (pads of the short row contribute nothing)
        mixed = lm_loss(model, build_lm_batch(tok, [short, long], 512), tiny_loaded.device)
        single_long = build_lm_batch(tok, [long], 512)
        c = lm_loss(model, single_long, tiny_loaded.device)
        upstream = model(input_ids=padded.input_ids, attention_mask=padded.attention_mask, labels=padded.input_ids).loss
    assert b.item() == pytest.approx(a.item(), abs=1e-5)
    n_a, n_c = plain.input_ids.shape[1] - 1, single_long.input_ids.shape[1] - 1
    assert mixed.item() == pytest.approx((a.item() * n_a + c.item() * n_c) / (n_a + n_c), abs=1e-4)
    assert upstream.item() != pytest.approx(a.item(), abs=1e-3)  # upstream's unmasked pads change the loss


def test_batches_are_left_truncated(tiny_loaded):
    tok = tiny_loaded.tokenizer
    text = "The quick brown fox jumps over the lazy dog."
    full = tok(text, add_special_tokens=False)["input_ids"]
    batch = build_lm_batch(tok, [text], max_length=5)
    assert batch.input_ids[0].tolist() == full[-5:]


def test_step_batches_count_optimizer_steps_and_are_seeded():
    assert step_batches(5, 2, 4, seed=0, shuffle=False) == [[0, 1], [2, 3], [4], [0, 1]]
    shuffled = step_batches(10, 4, 25, seed=3, shuffle=True)
    assert len(shuffled) == 25 and all(1 <= len(b) <= 4 for b in shuffled)
    assert shuffled == step_batches(10, 4, 25, seed=3, shuffle=True)
    assert shuffled != step_batches(10, 4, 25, seed=4, shuffle=True)
    assert sorted(i for b in shuffled[:3] for i in b) == list(range(10))  # one epoch covers every item once
    assert step_batches(0, 4, 5, seed=0, shuffle=True) == []


def _sentinel_labels(ctx):
    """Replace every label/rationale of validation/test/train with a sentinel string (to detect any leak)."""
    def mark(items):
        return tuple(dataclasses.replace(ex, answer="SENTINEL_ANSWER", rationale="SENTINEL_RATIONALE") for ex in items)

    ctx.task = dataclasses.replace(ctx.task, validation=mark(ctx.task.validation), test=mark(ctx.task.read("test", "sentinel labels")),
                                   train=mark(ctx.task.train))
    return ctx


def test_training_texts_are_unlabeled_inputs_only(numeric_context, mc_context):
    ctx = _sentinel_labels(numeric_context)
    texts = training_texts(ctx, "validation")
    assert len(texts) == len(ctx.task.support) + len(ctx.task.validation)
    assert texts[0] == f"Question: {ctx.task.support[0].question}\nAnswer:"
    assert all("SENTINEL" not in t for t in texts)
    with mc_context.task.test.released("final scoring"):
        mc_texts = training_texts(mc_context, "test")
    assert len(mc_texts) == len(mc_context.task.support) + len(mc_context.task.test)
    assert all("Earth" not in t and "Venus" not in t for t in mc_texts)  # no choice is ever trained on


def test_run_on_a_numeric_task_never_sees_a_label(numeric_context, monkeypatch):
    ctx = _sentinel_labels(numeric_context)
    seen: list[str] = []
    real = ttt.build_lm_batch

    def spy(tokenizer, texts, max_length, pad_to=None):
        seen.extend(texts)
        return real(tokenizer, texts, max_length, pad_to)

    monkeypatch.setattr(ttt, "build_lm_batch", spy)
    outcome = run_ttt(TTTParams(ttl_steps=5, learning_rate=1e-4, batch_size=4, shuffle_data=False), ctx, "validation")
    assert outcome.ok and len(seen) == 4 + 4 + 4 + 3 + 4  # 15 inputs (5 support + 10 validation) in order, batch 4
    assert all("SENTINEL" not in t for t in seen)
    assert set(seen) == set(training_texts(ctx, "validation"))


# --- runs -------------------------------------------------------------------------------------------------------


def _probe(loaded) -> torch.Tensor:
    ids = loaded.tokenizer("Question: What is two plus two?", add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return loaded.model(input_ids=ids).logits.clone()


def _base_state(loaded):
    model = loaded.model
    return (model.training, {n: p.requires_grad for n, p in model.named_parameters()},
            [n for n, _ in model.named_modules() if "lora" in n.lower()])


@pytest.mark.slow
def test_run_saves_a_loadable_adapter_and_leaves_the_base_untouched(mc_context, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    loaded = mc_context.loaded
    before_logits, before_state = _probe(loaded), _base_state(loaded)
    events: list[tuple[str, float]] = []
    mc_context.progress = lambda what, frac: events.append((what, frac))
    params = TTTParams(ttl_steps=5, learning_rate=5e-4, batch_size=4, shuffle_data=True)
    outcome = run_ttt(params, mc_context, "validation")

    assert outcome.ok and outcome.error is None and outcome.family == "ttt" and outcome.split == "validation"
    assert outcome.params == params.model_dump()
    assert outcome.accuracy == outcome.result.accuracy and 0.0 <= outcome.accuracy <= 1.0
    assert outcome.tokens > outcome.result.tokens > 0 and outcome.seconds > 0
    assert sum(line.startswith("step ") for line in outcome.log) == 5 and "step 5/5 loss" in " ".join(outcome.log)
    assert any(what == "ttt step 1/5" for what, _ in events) and events[-1][1] == 1.0
    art = outcome.artifact
    assert art.parent == mc_context.work_dir
    assert (art / "adapter_config.json").is_file() and (art / "adapter_model.safetensors").is_file()
    adapted, theta0 = load_file(str(art / "adapter_model.safetensors")), load_file(
        str(mc_context.initial_adapter() / "adapter_model.safetensors"))
    assert adapted.keys() == theta0.keys()
    assert any(not torch.equal(adapted[k], theta0[k]) for k in adapted)  # training moved the adapter
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(art))  # standard PEFT format

    assert torch.equal(_probe(loaded), before_logits)
    assert _base_state(loaded) == before_state


@pytest.mark.slow
def test_run_is_deterministic_for_a_seed(mc_context):
    params = TTTParams(ttl_steps=5, learning_rate=5e-4, batch_size=2, shuffle_data=True)
    first = run_ttt(params, mc_context, "validation")
    a = load_file(str(first.artifact / "adapter_model.safetensors"))
    second = run_ttt(params, mc_context, "validation")
    b = load_file(str(second.artifact / "adapter_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [line for line in first.log if line.startswith("step")] == [line for line in second.log if line.startswith("step")]


def _assert_reverted(outcome, ctx, loaded, before_logits, before_state, reason: str):
    assert outcome.ok is False and reason in outcome.error and outcome.artifact is None
    assert outcome.accuracy == ctx.evaluate("validation", ctx.initial_adapter()).accuracy  # θ₀'s accuracy
    assert torch.equal(_probe(loaded), before_logits) and _base_state(loaded) == before_state
    assert not list(ctx.work_dir.glob("ttt-*"))  # nothing saved


def test_nan_loss_reverts_to_theta0_without_raising(mc_context, monkeypatch):
    loaded = mc_context.loaded
    before_logits, before_state = _probe(loaded), _base_state(loaded)
    monkeypatch.setattr(lora_steps, "batch_loss", lambda model, batch, device: lm_loss(model, batch, device) * float("nan"))
    outcome = run_ttt(TTTParams(**GOOD), mc_context, "validation")
    _assert_reverted(outcome, mc_context, loaded, before_logits, before_state, "non-finite loss")


def test_divergence_reverts_to_theta0(mc_context, monkeypatch):
    loaded = mc_context.loaded
    before_logits, before_state = _probe(loaded), _base_state(loaded)
    calls = {"n": 0}

    def growing(model, batch, device):
        calls["n"] += 1
        return lm_loss(model, batch, device) * (10.0 ** (calls["n"] - 1))

    monkeypatch.setattr(lora_steps, "batch_loss", growing)
    outcome = run_ttt(TTTParams(**GOOD), mc_context, "validation")
    _assert_reverted(outcome, mc_context, loaded, before_logits, before_state, "diverged")
    assert calls["n"] == 2  # stopped at the first diverging step


# --- real model ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_ttt_on_smollm2(tmp_path):
    """TTT on SmolLM2-135M with a small random θ₀ (no generator needed): saves an adapter, base left as it was."""
    from tests.integration.smollm2_context import smollm2_context

    ctx = smollm2_context(tmp_path, ["num_support=4", "num_validation=6", "num_test=4"], rank=4, b_std=0.01)
    loaded = ctx.loaded
    before = _probe(loaded)
    outcome = run_ttt(TTTParams(ttl_steps=5, learning_rate=1e-4, batch_size=2, shuffle_data=True), ctx, "validation")
    assert outcome.ok, outcome.error
    assert outcome.result.n == 6 and (outcome.artifact / "adapter_model.safetensors").is_file()
    assert sum(line.startswith("step ") for line in outcome.log) == 5
    assert torch.equal(_probe(loaded), before)
