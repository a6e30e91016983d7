"""Supervised LoRA steps on the labelled support: trains from the given adapter on support labels only."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError
from safetensors.torch import load_file

from degaml.strategies import lora_steps
from degaml.strategies.registry import Action, run_strategy
from degaml.strategies.support_sft import SupportSFTParams, run_support_sft

GOOD = {"steps": 10, "learning_rate": 1e-3, "batch_size": 4}


def test_params_are_a_closed_grid():
    SupportSFTParams(**GOOD)
    for bad in ({"steps": 7}, {"learning_rate": 0.5}, {"batch_size": True}):
        with pytest.raises(ValidationError):
            SupportSFTParams(**(GOOD | bad))
    assert Action.model_validate({"strategy": {"family": "support_sft", **GOOD}}).strategy.family == "support_sft"


@pytest.mark.slow
def test_trains_on_labelled_support_only_and_saves_a_changed_adapter(mc_context, monkeypatch):
    seen: list[list[int]] = []
    real = lora_steps.batch_loss

    def recording(model, batch, device):
        seen.append(batch.input_ids.flatten().tolist())
        return real(model, batch, device)

    monkeypatch.setattr(lora_steps, "batch_loss", recording)
    start = mc_context.initial_adapter()
    outcome = run_support_sft(SupportSFTParams(**GOOD), mc_context, "validation")
    assert outcome.ok and outcome.artifact is not None and outcome.result.n == len(mc_context.task.validation)
    assert len(seen) == GOOD["steps"]
    before, after = load_file(str(start / "adapter_model.safetensors")), load_file(str(outcome.artifact / "adapter_model.safetensors"))
    assert any(not before[k].equal(after[k]) for k in before)  # it started from θ₀ and moved
    tok = mc_context.loaded.tokenizer
    trained_text = " ".join(tok.decode(ids) for ids in seen)
    for ex in mc_context.task.validation + mc_context.task.read("test", "check"):  # no scored item's input is trained on
        assert ex.question not in trained_text
    assert any(ex.question in trained_text for ex in mc_context.task.labelled_support)


def test_support_labels_stay_out_of_support_prompts(mc_context):
    task = mc_context.task
    assert [ex.id for ex in task.labelled_support] == [ex.id for ex in task.support]
    assert all(ex.answer is not None for ex in task.labelled_support)
    assert all(ex.answer is None for ex in task.support)  # what the generator conditions on


def test_no_labelled_support_is_an_expected_failure(mc_context):
    ctx = dataclasses.replace(mc_context, task=dataclasses.replace(mc_context.task, labelled_support=()))
    outcome = run_strategy(SupportSFTParams(**GOOD), ctx, "validation")
    assert not outcome.ok and "no labelled support" in outcome.error


def test_unexpected_exceptions_propagate(mc_context, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a strategy outcome")

    monkeypatch.setattr(lora_steps, "batch_loss", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        run_strategy(SupportSFTParams(**GOOD), mc_context, "validation")
