"""SLOT on the real embedded SmolLM2-135M (offline): δ = 0 reproduces the evaluator on real ARC-Easy items, and a
real run (times=3, lr=0.1) lowers the prompt loss and leaves the base model unchanged. θ₀ here is an identity
LoRA (B = 0) since no SmolLM2 generator ships with the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from degaml.data import load_task_data, shared_data_dir
from degaml.specs import load_spec
from degaml.strategies.base import StrategyContext

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slot_context(tmp_path_factory):
    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    from peft import LoraConfig, get_peft_model

    from degaml.models import load_llm

    loaded = load_llm("default", device="cpu", dtype="float32")
    spec = load_spec(REPO / "specs" / "arc_easy.yaml", ["num_validation=6"])
    root = tmp_path_factory.mktemp("slot-smollm2")
    peft_model = get_peft_model(loaded.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(root / "theta0")
    peft_model.unload()
    return StrategyContext(loaded, spec, load_task_data(spec), sampler=None, work_dir=root, _initial=root / "theta0")


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
