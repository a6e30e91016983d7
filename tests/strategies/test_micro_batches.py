"""Training steps in micro-batches (bounded activation memory) give the loss and gradient of the whole batch."""

from __future__ import annotations

import pytest
import torch

from degaml.baselines.config import LoraShape
from degaml.baselines.lora import trainable_lora
from degaml.generator.collect import build_batch
from degaml.strategies import lora_steps


def test_micro_batches_accumulate_the_whole_batch_loss_and_gradient(tiny_loaded, monkeypatch):
    pairs = [("Question: What is two plus two?" * k, " four" * (k % 3 + 1)) for k in range(1, 6)]
    batch = build_batch(tiny_loaded.tokenizer, pairs, 512)
    monkeypatch.setattr(lora_steps, "MICRO_TOKENS", 1)  # one row per micro-batch
    assert len(lora_steps.micro_batches(batch)) == len(pairs)
    with trainable_lora(tiny_loaded, LoraShape(rank=2, alpha=4), seed=0) as model:
        params = [p for p in model.parameters() if p.requires_grad]
        whole = lora_steps.batch_loss(model, batch, tiny_loaded.device)
        whole.backward()
        expected = [p.grad.clone() for p in params]
        model.zero_grad(set_to_none=True)
        value = lora_steps.accumulated_loss(model, batch, tiny_loaded.device)
        assert value == pytest.approx(float(whole), rel=1e-5)
        for p, g in zip(params, expected):
            torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)


def test_gradient_checkpointing_gives_the_same_steps_and_leaves_the_model_as_it_was(mc_context, tmp_path):
    loaded = mc_context.loaded
    start = mc_context.initial_adapter()
    pairs = [("Question: What is two plus two?" * k, " four" * (k % 3 + 1)) for k in range(1, 6)]
    batch = build_batch(loaded.tokenizer, pairs, 512)
    runs = {}
    for flag in (False, True):
        runs[flag] = lora_steps.train_lora_steps(loaded, start, tmp_path / f"out-{flag}", lambda _i: batch, 3, 1e-3,
                                                 seed=0, checkpointing=flag)
        assert runs[flag].error is None
        assert not loaded.model.is_activation_checkpointing and not loaded.model.training
    assert runs[True].losses == pytest.approx(runs[False].losses, rel=1e-6)
    from safetensors.torch import load_file

    plain, recomputed = (load_file(tmp_path / f"out-{f}" / "adapter_model.safetensors") for f in (False, True))
    for name in plain:
        torch.testing.assert_close(recomputed[name], plain[name], rtol=1e-5, atol=1e-7)


def test_the_checkpointing_switch_is_not_part_of_a_cells_key(tmp_path):
    from degaml.comparison.keys import portable_spec
    from degaml.specs.model import TaskSpec

    spec = TaskSpec.model_validate({"version": 1, "task": "t", "format": "numeric", "dataset": [{"source": "x.jsonl"}]})
    on = spec.model_copy(update={"gradient_checkpointing": True})
    assert portable_spec(on) == portable_spec(spec)
