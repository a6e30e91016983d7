"""SLOT on the real embedded SmolLM2-135M (offline): δ = 0 reproduces the evaluator on real ARC-Easy items, and a
real run (times=3, lr=0.1) lowers the prompt loss and leaves the base model unchanged. θ₀ here is an identity
LoRA (B = 0) since no SmolLM2 generator ships with the tests."""

from __future__ import annotations

import pytest
import torch

from tests.integration.smollm2_context import smollm2_context

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slot_context(tmp_path_factory):
    return smollm2_context(tmp_path_factory.mktemp("slot-smollm2"), ["num_validation=6"], rank=2)


def test_slot_on_smollm2(slot_context, monkeypatch):
    import degaml.strategies.slot as slot

    ctx = slot_context
    reference = ctx.evaluate("validation", ctx.initial_adapter())
    zero = slot.run_slot(slot.SlotParams.model_construct(family="slot", times=0, learning_rate=0.1), ctx, "validation")
    for mine, ref in zip(zero.result.predictions, reference.predictions):
        assert mine.scores == pytest.approx(ref.scores, abs=2e-3)
    fits = []
    real = slot.optimise_deltas
    monkeypatch.setattr(slot, "optimise_deltas", lambda *a, **k: fits.append(real(*a, **k)) or fits[-1])
    before = {k: v.clone() for k, v in ctx.loaded.model.state_dict().items()}
    out = slot.run_slot(slot.SlotParams(times=3, learning_rate=0.1), ctx, "validation")
    assert out.ok and out.result.n == len(ctx.task.validation)
    for fit in fits:
        assert all(after < first for after, first in zip(fit.losses[-1], fit.losses[0]))
    assert all(torch.equal(v, ctx.loaded.model.state_dict()[k]) for k, v in before.items())
