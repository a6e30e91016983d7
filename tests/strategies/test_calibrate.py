"""`calibrate`: each method scores every item of the split, removes what it should remove (a position prior), reads
no label outside the evaluator and no test item, and fails cleanly where it cannot apply."""

from __future__ import annotations

import math

import pytest
import torch

from degaml.data.guard import AccessLog, guard_task_data
from degaml.evaluation.result import Prediction
from degaml.strategies import calibrate
from degaml.strategies.base import StrategyContext
from degaml.strategies.calibrate import CalibrateParams, fit_position_bias
from degaml.strategies.registry import run_strategy

METHODS = ["contextual", "batch", "support_bias", "pmi"]


def _guarded(ctx, log):
    return StrategyContext(ctx.loaded, ctx.spec, guard_task_data(ctx.task, log), ctx.sampler, ctx.work_dir, seed=0)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_scores_the_split_without_peeking(mc_context, method):
    log = AccessLog()
    out = run_strategy(CalibrateParams(method=method), _guarded(mc_context, log), "validation")
    assert out.ok and out.artifact is None and out.result.n == len(mc_context.task.validation)
    assert [p.id for p in out.result.predictions] == [ex.id for ex in mc_context.task.validation]
    for p in out.result.predictions:
        assert p.prediction == max(range(len(p.scores)), key=p.scores.__getitem__) and p.correct == (p.prediction == p.gold)
    assert out.result.answers is not None and 0 < out.result.answers.collapse_rate <= 1
    assert not log.test_reads() and not log.label_reads(scoring=False)


def test_batch_calibration_removes_a_position_prior():
    # two items whose scores carry the same +3 on position 0: batch calibration removes it, the argmax follows content
    preds = [Prediction("a", 0, 1, False, [3.0 - 1.0, -0.5, -2.0], None), Prediction("b", 0, 2, False, [3.0 - 2.0, -2.0, -0.4], None)]

    class Ctx:
        class spec:
            metric = "acc"

    class Scored:
        predictions = preds

    calibrated = calibrate._batch(Ctx, Scored)
    assert [int(torch.argmax(c)) for c in calibrated] == [1, 2]


def test_the_support_bias_learns_the_gold_position_and_stays_finite():
    uniform = [torch.log_softmax(torch.zeros(3, dtype=torch.float64), 0)] * 20
    bias = fit_position_bias(uniform, [1] * 15 + [0] * 5)
    assert int(torch.argmax(bias)) == 1 and bias[1] > bias[0] > bias[2]
    assert torch.isfinite(fit_position_bias(uniform, [2] * 20)).all()  # a one-sided support: bounded by the L2 term


def test_a_generative_task_is_refused_as_a_failed_step(numeric_context):
    out = run_strategy(CalibrateParams(method="batch"), numeric_context, "validation")
    assert not out.ok and "multiple-choice" in out.error


def test_non_finite_calibrated_scores_are_a_failed_step_never_a_score(mc_context, monkeypatch):
    monkeypatch.setattr(calibrate, "_batch", lambda ctx, scored: [torch.full((len(p.scores),), math.nan) for p in scored.predictions])
    out = run_strategy(CalibrateParams(method="batch"), mc_context, "validation")
    assert not out.ok and out.accuracy is None and "non-finite" in out.error


def test_params_are_a_closed_grid():
    with pytest.raises(ValueError):
        CalibrateParams(method="temperature")


def test_a_template_that_cannot_hold_a_content_free_input_is_a_failed_step_not_a_crash(
        tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, tiny_model_dir):
    from tests.conftest import make_context, mc_rows, mc_spec_dict, write_jsonl

    rows = [dict(r, question=f"passage {i}\n\n{r['question']}") for i, r in enumerate(mc_rows(60))]
    spec = mc_spec_dict(write_jsonl(tmp_path / "p.jsonl", rows), model=str(tiny_model_dir),  # BoolQ's layout
                        doc_to_text="{{ question.rsplit('\\n\\n', 1)[0] }}\nQ: {{ question.rsplit('\\n\\n', 1)[1] }}\nA:")
    ctx = make_context(tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, spec)
    out = run_strategy(CalibrateParams(method="contextual"), ctx, "validation")
    assert not out.ok and out.accuracy is None and "content-free" in out.error
    assert run_strategy(CalibrateParams(method="batch"), ctx, "validation").ok  # the other methods still apply
