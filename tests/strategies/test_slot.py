"""SLOT: params grid, the per-sample δ optimiser (pure), and runs on the tiny fixtures (equivalence at δ = 0,
one backbone call per batch, NaN guard, base model untouched)."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

import degaml.strategies.slot as slot
from degaml.evaluation.latent import _item_batches
from degaml.models.heads import backbone_and_head
from degaml.strategies.slot import SlotParams, optimise_deltas, run_slot


def test_params_accept_the_grid_and_reject_the_rest():
    p = SlotParams(times=5, learning_rate=0.1)
    assert p.model_dump() == {"family": "slot", "times": 5, "learning_rate": 0.1}
    for bad in ({"times": 2, "learning_rate": 0.1}, {"times": 5, "learning_rate": 0.2}, {"times": 0, "learning_rate": 0.1},
                {"times": 5, "learning_rate": 0.1, "steps": 3}, {"times": 5}):
        with pytest.raises(ValidationError):
            SlotParams(**bad)
    props = SlotParams.model_json_schema()["properties"]
    assert props["times"]["enum"] == [1, 3, 5, 10] and props["learning_rate"]["enum"] == [0.001, 0.01, 0.05, 0.1]
    assert all(props[k].get("description") for k in ("family", "times", "learning_rate"))


def _toy(seed: int = 0, n_items: int = 2, per_item: int = 6, d: int = 8, vocab: int = 13):
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(d, vocab, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, d, generator=g))
    states = torch.randn(n_items * per_item, d, generator=g)
    targets = torch.randint(0, vocab, (n_items * per_item,), generator=g)
    owner = torch.arange(n_items).repeat_interleave(per_item)
    return head, states, targets, owner


def test_delta_is_per_sample_and_lowers_each_items_prompt_loss():
    head, states, targets, owner = _toy()
    before = head.weight.clone()
    fit = optimise_deltas(head, states, targets, owner, 2, times=10, lr=0.1)
    assert fit.delta.shape == (2, 8) and not torch.allclose(fit.delta[0], fit.delta[1])
    assert len(fit.losses) == 11 and fit.failed == [False, False] and fit.n_targets == [6, 6]
    for i in range(2):
        assert fit.losses[-1][i] < fit.losses[0][i]
        assert fit.losses[1][i] < fit.losses[0][i]  # first step already helps
    assert torch.equal(head.weight, before) and head.weight.grad is None  # only δ is optimised


def test_batched_fit_equals_fitting_each_item_alone():
    head, states, targets, owner = _toy(seed=3, n_items=3)
    together = optimise_deltas(head, states, targets, owner, 3, times=5, lr=0.05)
    for i in range(3):
        rows = owner == i
        alone = optimise_deltas(head, states[rows], targets[rows], torch.zeros(int(rows.sum()), dtype=torch.long), 1, 5, 0.05)
        assert torch.allclose(together.delta[i], alone.delta[0], atol=1e-6)


def test_initial_loss_is_the_plain_cross_entropy_and_chunking_changes_nothing():
    head, states, targets, owner = _toy(seed=1)
    fit = optimise_deltas(head, states, targets, owner, 2, times=3, lr=0.01)
    ce = torch.nn.functional.cross_entropy(head(states[:6]), targets[:6])
    assert fit.losses[0][0] == pytest.approx(ce.item(), rel=1e-6)
    small = optimise_deltas(head, states, targets, owner, 2, times=3, lr=0.01, chunk=4)
    assert torch.allclose(fit.delta, small.delta, atol=1e-6)


def test_nan_guard_resets_only_the_failing_item():
    head, states, targets, owner = _toy(seed=2)
    states[owner == 1] = float("nan")
    fit = optimise_deltas(head, states, targets, owner, 2, times=5, lr=0.1)
    assert fit.failed == [False, True]
    assert torch.count_nonzero(fit.delta[1]) == 0 and torch.count_nonzero(fit.delta[0]) > 0
    assert torch.isfinite(fit.delta).all()


def test_items_without_prompt_targets_keep_delta_zero():
    head, states, targets, owner = _toy()
    fit = optimise_deltas(head, states, targets, owner, 3, times=3, lr=0.1)  # item 2 has no positions
    assert fit.n_targets[2] == 0 and torch.count_nonzero(fit.delta[2]) == 0 and not fit.failed[2]
    empty = optimise_deltas(head, states[:0], targets[:0], owner[:0], 2, times=3, lr=0.1)
    assert torch.count_nonzero(empty.delta) == 0


# --- runs on the tiny fixtures --------------------------------------------------------------------------------

def _zero_steps() -> SlotParams:
    return SlotParams.model_construct(family="slot", times=0, learning_rate=0.1)  # δ stays 0 (off-grid on purpose)


@pytest.mark.parametrize("context", ["mc_context", "numeric_context"])
def test_delta_zero_reproduces_the_evaluator_on_theta0(context, request):
    ctx = request.getfixturevalue(context)
    reference = ctx.evaluate("validation", ctx.initial_adapter())
    out = run_slot(_zero_steps(), ctx, "validation")
    assert out.ok and out.result.n == reference.n and out.accuracy == pytest.approx(reference.accuracy)
    for mine, ref in zip(out.result.predictions, reference.predictions):
        assert mine.id == ref.id and mine.prediction == ref.prediction
        if ctx.spec.format == "multiple_choice":
            assert mine.scores == pytest.approx(ref.scores, abs=1e-4) and mine.scores_norm == pytest.approx(ref.scores_norm, abs=1e-4)
        else:
            assert mine.output == ref.output
    if ctx.spec.format == "multiple_choice":
        assert out.result.acc == reference.acc and out.result.acc_norm == reference.acc_norm


def test_slot_run_fits_different_deltas_lowers_loss_and_calls_the_backbone_once_per_batch(mc_context, monkeypatch):
    fits = []
    real = slot.optimise_deltas
    monkeypatch.setattr(slot, "optimise_deltas", lambda *a, **k: fits.append(real(*a, **k)) or fits[-1])
    calls = []
    backbone, _ = backbone_and_head(mc_context.loaded.model)
    handle = backbone.register_forward_hook(lambda *args: calls.append(1))
    try:
        out = run_slot(SlotParams(times=5, learning_rate=0.1), mc_context, "validation")
    finally:
        handle.remove()
    n = len(mc_context.task.validation)
    expected_batches = len(_item_batches([1] * n, mc_context.spec.batch_size))  # one packed row per item here
    assert len(calls) == len(fits) == expected_batches
    assert out.ok and out.artifact is None and out.result.n == n and out.tokens > 0 and out.seconds > 0
    deltas = torch.cat([f.delta for f in fits])  # (n, d)
    assert deltas.shape[0] == n and not torch.allclose(deltas[0], deltas[1])
    before = [l for f in fits for l in f.losses[0]]
    after = [l for f in fits for l in f.losses[-1]]
    assert sum(after) < sum(before) and sum(a < b for a, b in zip(after, before)) >= n // 2
    assert any("mean prompt CE" in line for line in out.log)


def test_prompt_targets_are_the_context_tokens_only(mc_context, monkeypatch):
    from degaml.evaluation import PromptBuilder
    from degaml.evaluation.loglikelihood import encode_pair

    seen = []
    real = slot.optimise_deltas

    def spy(head, states, targets, owner, n_items, *a, **k):
        seen.append((targets.tolist(), owner.tolist()))
        return real(head, states, targets, owner, n_items, *a, **k)

    monkeypatch.setattr(slot, "optimise_deltas", spy)
    run_slot(SlotParams(times=1, learning_rate=0.01), mc_context, "validation")
    builder = PromptBuilder(mc_context.spec, mc_context.task.train)
    contexts = {tuple(encode_pair(mc_context.loaded.tokenizer, *builder.choice_pairs(ex)[0])[0][1:])
                for ex in mc_context.task.validation}
    got = set()
    for targets, owner in seen:
        for item in sorted(set(owner)):
            got.add(tuple(t for t, o in zip(targets, owner) if o == item))
    assert got == contexts  # each item's loss covers exactly its own context tokens, never a choice


def test_base_model_is_unchanged_after_a_run(mc_context):
    model = mc_context.loaded.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run_slot(SlotParams(times=3, learning_rate=0.1), mc_context, "validation")
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not any("lora" in name for name, _ in model.named_modules())


def test_all_items_diverging_reverts_to_delta_zero_and_reports_failure(numeric_context):
    backbone, _ = backbone_and_head(numeric_context.loaded.model)
    handle = backbone.norm.register_forward_hook(lambda mod, args, out: out * float("nan"))
    try:
        out = run_slot(SlotParams(times=3, learning_rate=0.1), numeric_context, "validation")
    finally:
        handle.remove()
    assert not out.ok and out.error and "failed (NaN/inf → δ=0) 10" in " ".join(out.log)
    assert out.result is not None and out.result.n == 10 and not math.isnan(out.accuracy)


def test_generative_slot_run(numeric_context):
    with numeric_context.task.test.released("final scoring"):
        out = run_slot(SlotParams(times=3, learning_rate=0.05), numeric_context, "test")
    assert out.ok and out.split == "test" and out.result.n == 10 and out.result.metric == "exact_match"
    assert all(isinstance(p.output, str) for p in out.result.predictions)
