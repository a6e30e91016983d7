"""`tfew`: the T-Few losses equal their definition on full logits, training lowers them, a non-finite loss reverts,
generative tasks are refused, and no scored-split label is read outside the evaluator."""

from __future__ import annotations

import math

import pytest
import torch

from degaml.data.guard import AccessLog, guard_task_data
from degaml.evaluation.prompts import PromptBuilder
from degaml.models.adapters import attached_adapter
from degaml.strategies import tfew
from degaml.strategies.base import StrategyContext
from degaml.strategies.registry import run_strategy
from degaml.strategies.tfew import TFewParams, build_choice_batch, tfew_loss


def _reference_loss(model, batch) -> float:
    """The three losses from the full (P, T, V) logits, item by item."""
    logp = torch.log_softmax(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float(), -1)
    per_row = []
    for r in range(batch.input_ids.shape[0]):
        pos = [t for t in range(1, batch.labels.shape[1]) if batch.labels[r, t] != -100]
        per_row.append(torch.stack([logp[r, t - 1, batch.labels[r, t]] for t in pos]))
    gold = [row for row, g in zip(per_row, batch.gold) if g]
    wrong = [row for row, g in zip(per_row, batch.gold) if not g]
    l_lm = -torch.cat(gold).mean()
    l_ul = -torch.log1p(-torch.cat(wrong).exp()).mean()
    l_ln = []
    for i in range(int(batch.owner.max()) + 1):
        rows = [k for k in range(len(per_row)) if batch.owner[k] == i]
        scores = torch.stack([per_row[k].mean() for k in rows])
        target = [k for k in rows if batch.gold[k]][0]
        l_ln.append(-torch.log_softmax(scores, 0)[rows.index(target)])
    return float(l_lm + l_ul + torch.stack(l_ln).mean())


def test_the_loss_is_the_t_few_definition(mc_context):
    items = list(mc_context.task.labelled_support[:3])
    builder = PromptBuilder(mc_context.spec)
    batch = build_choice_batch(mc_context.loaded.tokenizer, builder, items, mc_context.spec.max_length)
    assert batch.input_ids.shape[0] == sum(len(ex.choices) for ex in items) and int(batch.gold.sum()) == 3
    with torch.no_grad():
        got = float(tfew_loss(mc_context.loaded.model, batch, torch.device("cpu")))
        assert got == pytest.approx(_reference_loss(mc_context.loaded.model, batch), rel=1e-4)


@pytest.mark.slow
def test_training_lowers_the_loss_and_reads_no_scored_label(mc_context):
    log = AccessLog()
    ctx = StrategyContext(mc_context.loaded, mc_context.spec, guard_task_data(mc_context.task, log), mc_context.sampler,
                          mc_context.work_dir, seed=0)
    out = run_strategy(TFewParams(steps=25, learning_rate=1e-3, batch_size=4), ctx, "validation")
    assert out.ok and out.artifact is not None and (out.artifact / "adapter_model.safetensors").is_file()
    support = list(mc_context.task.labelled_support)
    batch = build_choice_batch(mc_context.loaded.tokenizer, PromptBuilder(mc_context.spec), support, mc_context.spec.max_length)

    def loss_with(adapter) -> float:
        with attached_adapter(mc_context.loaded.model, adapter) as model, torch.no_grad():
            return float(tfew_loss(model, batch, torch.device("cpu")))

    assert loss_with(out.artifact) < loss_with(mc_context.initial_adapter())  # on the whole labelled support
    assert not log.test_reads() and not log.label_reads(scoring=False)


def test_a_non_finite_loss_reverts_to_the_starting_adapter(mc_context, monkeypatch):
    monkeypatch.setattr(tfew, "tfew_loss", lambda model, batch, device: torch.tensor(math.nan, requires_grad=True))
    out = run_strategy(TFewParams(steps=10, learning_rate=1e-3, batch_size=2), mc_context, "validation")
    assert not out.ok and out.artifact is None and "non-finite loss" in out.error and out.result is not None


def test_a_generative_task_is_refused(numeric_context):
    out = run_strategy(TFewParams(steps=10, learning_rate=1e-3, batch_size=2), numeric_context, "validation")
    assert not out.ok and "multiple-choice" in out.error
