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
