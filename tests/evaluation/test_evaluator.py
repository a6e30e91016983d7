"""End-to-end scoring on the tiny model: result fields, acc vs acc_norm, generation, and adapters."""

from __future__ import annotations

import pytest
import torch

from degaml.data import load_task_data
from degaml.evaluation import evaluate
from degaml.specs import spec_from_dict
from tests.conftest import mc_spec_dict, numeric_spec_dict


@pytest.fixture
def mc_task(mc_file, tiny_model_dir):
    spec = spec_from_dict(mc_spec_dict(mc_file, model=str(tiny_model_dir)))
    return spec, load_task_data(spec)


def test_multiple_choice_result_is_consistent(tiny_loaded, mc_task):
    spec, data = mc_task
    advanced = []
    result = evaluate(tiny_loaded, spec, data.validation, "validation", progress=advanced.append)
    assert result.n == 20 == len(result.predictions)
    assert sum(advanced) == pytest.approx(20)
    assert result.accuracy == result.acc == sum(p.correct for p in result.predictions) / 20
    assert result.ci95[0] <= result.accuracy <= result.ci95[1]
    for pred, ex in zip(result.predictions, data.validation):
        assert pred.id == ex.id and pred.gold == ex.answer and len(pred.scores) == len(ex.choices)
        assert pred.prediction == max(range(3), key=pred.scores.__getitem__)
        assert pred.scores_norm == pytest.approx([s / len(c) for s, c in zip(pred.scores, ex.choices)])
    assert result.tokens > 0 and result.examples_per_second > 0


def test_acc_norm_metric_picks_normalised_choice(tiny_loaded, mc_file, tiny_model_dir):
    spec = spec_from_dict(mc_spec_dict(mc_file, model=str(tiny_model_dir), metric="acc_norm"))
    data = load_task_data(spec)
    result = evaluate(tiny_loaded, spec, data.validation, "validation")
    assert result.accuracy == result.acc_norm
    for pred in result.predictions:
        assert pred.prediction == max(range(3), key=pred.scores_norm.__getitem__)


def test_batch_size_does_not_change_scores(tiny_loaded, mc_task):
    spec, data = mc_task
    one = evaluate(tiny_loaded, spec.model_copy(update={"batch_size": 1}), data.validation[:6], "validation")
    many = evaluate(tiny_loaded, spec.model_copy(update={"batch_size": 64}), data.validation[:6], "validation")
    for a, b in zip(one.predictions, many.predictions):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)


def test_generative_scoring_extracts_and_compares(tiny_loaded, numeric_file, tiny_model_dir):
    spec = spec_from_dict(numeric_spec_dict(numeric_file, model=str(tiny_model_dir)))
    data = load_task_data(spec)
    result = evaluate(tiny_loaded, spec, data.validation, "validation")
    assert result.n == 10 and result.metric == "exact_match"
    for pred in result.predictions:
        assert isinstance(pred.output, str) and "\n" not in pred.output
        assert pred.correct == (pred.prediction is not None and float(pred.prediction.replace(",", "").replace("$", "").rstrip(".") or "nan") == float(pred.gold))


def test_empty_example_list(tiny_loaded, mc_task):
    spec, _ = mc_task
    result = evaluate(tiny_loaded, spec, [], "validation")
    assert result.n == 0 and result.accuracy == 0.0


def test_adapter_changes_scores_and_base_is_restored(tiny_loaded, mc_task, tmp_path):
    from peft import LoraConfig, get_peft_model

    from degaml.models import load_llm

    spec, data = mc_task
    items = data.validation[:5]
    before = evaluate(tiny_loaded, spec, items, "validation")
    # save a LoRA with non-zero B so it changes the model
    fresh = load_llm(str(spec.model), device="cpu", dtype="float32")
    peft_model = get_peft_model(fresh.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(tmp_path / "adapter")
    with_adapter = evaluate(tiny_loaded, spec, items, "validation", adapter=tmp_path / "adapter")
    after = evaluate(tiny_loaded, spec, items, "validation")
    assert with_adapter.adapter == str(tmp_path / "adapter")
    assert any(a != pytest.approx(b, abs=1e-4) for p, q in zip(before.predictions, with_adapter.predictions) for a, b in zip(p.scores, q.scores))
    for p, q in zip(before.predictions, after.predictions):
        assert p.scores == pytest.approx(q.scores, abs=1e-6)
    assert not any("lora" in n for n, _ in tiny_loaded.model.named_modules())
