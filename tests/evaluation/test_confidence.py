"""Teacher-forced confidence of generated answers and the EvalResult builder used by strategies."""

from __future__ import annotations

import math

import pytest
import torch

from degaml.data.example import Example
from degaml.evaluation.confidence import candidate_confidences
from degaml.evaluation.result import Prediction
from degaml.evaluation.loglikelihood import encode_pair
from degaml.evaluation.result import build_result, choice_prediction
from degaml.specs import spec_from_dict
from tests.conftest import mc_rows, mc_spec_dict, numeric_rows, numeric_spec_dict, write_jsonl


def test_confidence_is_the_mean_token_logprob(tiny_loaded):
    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    contexts = ["What is 2 plus 2?", "Question: What is two plus two?\nAnswer:"]
    candidates = [[" 4", " four five", ""], [" four"]]
    conf = candidate_confidences(model, tok, contexts, candidates, batch_size=2, max_length=64)
    assert conf[0][2] == -math.inf and len(conf[1]) == 1
    for context, cands, row in zip(contexts, candidates, conf):
        for cand, value in zip(cands, row):
            if not cand:
                continue
            ctx, cont = encode_pair(tok, context, cand)
            with torch.no_grad():
                logprobs = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0], -1)
            manual = sum(logprobs[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont)) / len(cont)
            assert value == pytest.approx(manual, abs=1e-4)


def test_confidence_input_checks(tiny_loaded):
    with pytest.raises(ValueError):
        candidate_confidences(tiny_loaded.model, tiny_loaded.tokenizer, ["a"], [], 1, 16)
    assert candidate_confidences(tiny_loaded.model, tiny_loaded.tokenizer, ["a"], [[""]], 1, 16) == [[-math.inf]]


def test_build_result_matches_the_evaluator_definitions(tmp_path):
    spec = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "x.jsonl", mc_rows(60)), metric="acc_norm"))
    examples = [Example("a", "q", ("x", "yy"), 1), Example("b", "q", ("x", "yy"), 0)]
    preds = [choice_prediction(examples[0], [-1.0, -1.5], [1, 2], "acc_norm"),  # raw → 0, norm → 1 (right)
             choice_prediction(examples[1], [-1.0, -3.0], [1, 2], "acc_norm")]  # both → 0 (right)
    result = build_result(spec, "tiny", "test", None, preds, seconds=2.0, tokens=10)
    assert result.accuracy == 1.0 and result.acc == 0.5 and result.acc_norm == 1.0 and result.metric == "acc_norm"
    assert result.n == 2 and result.tokens_per_second == 5.0 and result.ci95[1] == 1.0
    numeric = spec_from_dict(numeric_spec_dict(write_jsonl(tmp_path / "y.jsonl", numeric_rows(40))))
    gen = build_result(numeric, "tiny", "test", None, [Prediction("a", "4", "4", True)], 0.0, 0)
    assert gen.acc == 1.0 and gen.acc_norm is None and gen.metric == "exact_match"
    empty = build_result(numeric, "tiny", "test", None, [], 0.0, 0)
    assert empty.n == 0 and empty.accuracy == 0.0 and empty.ci95 == (0.0, 1.0)
