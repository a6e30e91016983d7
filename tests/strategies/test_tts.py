"""Test-time scaling: params grid, distinct batches, the pure combination rules, and runs on the tiny fixtures."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from degaml.evaluation.result import Prediction, ensemble_choice
from degaml.strategies.base import StrategyError
from degaml.strategies.tts import (TTSParams, _combine_choice, _generated_pick, draw_distinct_batches,
                                   run_tts, unlabeled_pool)
from degaml.strategies.tts_combine import (answer_key, pick_majority, pick_max_confidence, pick_sum_logprobs,
                                           route_avg_prompt_embed, route_avg_sim_score, softmax_confidence)

METHODS = ["max_confidence", "majority_vote", "sum_logprobs", "avg_sim_score", "avg_prompt_embed"]


# --- params ------------------------------------------------------------------------------------------------------

def test_params_accept_the_grid_and_reject_the_rest():
    p = TTSParams(num_prompt_batches=3, method="sum_logprobs")
    assert p.family == "tts" and p.model_dump() == {"family": "tts", "num_prompt_batches": 3, "method": "sum_logprobs"}
    for bad in ({"num_prompt_batches": 6, "method": "majority_vote"}, {"num_prompt_batches": 1, "method": "majority_vote"},
                {"num_prompt_batches": 3, "method": "vote"}, {"num_prompt_batches": 3, "method": "majority_vote", "k": 1},
                {"num_prompt_batches": 3, "method": "majority_vote", "family": "slot"}):
        with pytest.raises(ValidationError):
            TTSParams(**bad)


def test_json_schema_lists_the_grids_with_descriptions():
    props = TTSParams.model_json_schema()["properties"]
    assert props["num_prompt_batches"]["enum"] == [2, 3, 4, 5]
    assert props["method"]["enum"] == METHODS
    assert all(props[name].get("description") for name in ("family", "num_prompt_batches", "method"))


# --- pure combination rules ---------------------------------------------------------------------------------------

def test_softmax_confidence_is_the_probability_of_the_argmax():
    best, prob = softmax_confidence([math.log(0.2), math.log(0.5), math.log(0.3)])
    assert best == 1 and prob == pytest.approx(0.5)


def test_max_confidence_ignores_adapters_without_an_answer():
    assert pick_max_confidence([0, 2, 1], [0.4, 0.9, 0.6]) == 1
    assert pick_max_confidence([None, "7", "8"], [5.0, -1.0, -2.0]) == 1  # None never wins, even if "confident"
    assert pick_max_confidence([None, None], [0.0, 1.0]) == 0
    assert pick_max_confidence([1, 2], [0.5, 0.5]) == 0  # ties: first adapter


def test_majority_vote_breaks_ties_by_summed_confidence_deterministically():
    assert pick_majority([2, 1, 2], [0.4, 0.99, 0.5]) == 2  # 2 votes beat one confident vote; best voter of "2"
    tie = ["a", "b", "b", "a"]
    assert pick_majority(tie, [0.6, 0.3, 0.4, 0.2]) == 0  # 2-2 tie; a: 0.8 > b: 0.7 → most confident "a" voter
    assert pick_majority(tie, [0.3, 0.5, 0.4, 0.2]) == 1  # b: 0.9 > a: 0.5 → most confident "b" voter
    assert pick_majority(["x", "y"], [0.5, 0.5]) == 0  # full tie → first appearance
    assert pick_majority([None, None, "z"], [1.0, 1.0, 0.1]) == 2
    for _ in range(3):  # no dependence on dict/Counter ordering
        assert pick_majority(tie, [0.6, 0.3, 0.4, 0.2]) == 0


def test_sum_logprobs_can_overrule_the_majority():
    scores = [[-0.1, -3.0], [-0.9, -0.6], [-0.9, -0.6]]  # majority picks choice 1, the sum picks choice 0
    best, total = pick_sum_logprobs(scores)
    assert best == 0 and total == pytest.approx([-1.9, -4.2])
    assert pick_majority([1 if s[1] > s[0] else 0 for s in scores], [0.6, 0.6, 0.6]) in (1, 2)
    with pytest.raises(ValueError):
        pick_sum_logprobs([])


def test_routers_use_euclidean_distance_not_cosine():
    q = torch.tensor([[1.0, 0.0]])
    far_same_direction = torch.tensor([[10.0, 0.0], [9.0, 0.1]])  # cosine ≈ 1, distance ≈ 8.5
    near_other_direction = torch.tensor([[0.6, 0.6], [0.7, 0.4]])  # cosine ≈ 0.8, distance ≈ 0.6
    batches = [far_same_direction, near_other_direction]
    cosine_choice = max(range(2), key=lambda k: torch.nn.functional.cosine_similarity(q, batches[k]).mean().item())
    assert cosine_choice == 0
    assert route_avg_sim_score(q, batches) == [1] and route_avg_prompt_embed(q, batches) == [1]


def test_the_two_routers_differ_mean_of_distances_vs_distance_to_mean():
    q = torch.tensor([[0.0, 0.0]])
    spread = torch.tensor([[-3.0, 0.0], [3.0, 0.0]])  # mean embedding exactly at q, but each prompt 3 away
    tight = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # every prompt 1 away
    assert route_avg_sim_score(q, [spread, tight]) == [1]
    assert route_avg_prompt_embed(q, [spread, tight]) == [0]


def test_answer_keys_compare_numbers_by_value():
    assert answer_key("1,000.", "numeric") == answer_key("$1000", "numeric") == answer_key("1000.0", "numeric")
    assert answer_key("\\frac12", "math") == answer_key("\\dfrac{1}{2}", "math")
    assert answer_key(None, "numeric") is None and answer_key("  ", "exact_match") is None


def _pred(scores, gold=0, output=None, answer=None):
    norm = [s / 2 for s in scores]
    return Prediction("q", answer if answer is not None else max(range(len(scores)), key=scores.__getitem__), gold,
                      False, list(scores), norm, output)


@pytest.mark.parametrize("method", METHODS)
def test_combining_identical_adapters_equals_one_adapter(method):
    single = _pred([-2.0, -0.5, -1.0], gold=1)
    for metric in ("acc", "acc_norm"):
        combined = ensemble_choice([single], metric) if method.startswith("avg") else _combine_choice(method, [single] * 3, metric)
        assert combined.prediction == 1 and combined.correct
    gen = Prediction("n", "4", "4", True, output=" 4")
    assert _generated_pick(method, [gen] * 3, "numeric", [-0.3] * 3, [[-0.3]] * 3, [" 4"]) in (0, 1, 2)


def test_choice_combination_uses_the_metric_scores():
    a = Prediction("q", 0, 1, False, [-1.0, -1.2], [-1.0 / 2, -1.2 / 8])  # raw prefers 0, norm prefers 1
    assert _combine_choice("max_confidence", [a, a], "acc").prediction == 0
    assert _combine_choice("max_confidence", [a, a], "acc_norm").prediction == 1
    summed = _combine_choice("sum_logprobs", [a, a], "acc")
    assert summed.scores == pytest.approx([-2.0, -2.4]) and summed.scores_norm == pytest.approx([-1.0, -0.3])


def test_generated_sum_logprobs_keeps_the_best_summed_candidate():
    preds = [Prediction("n", "4", "4", True, output=" 4"), Prediction("n", "5", "4", False, output=" 5"),
             Prediction("n", "5", "4", False, output=" 5")]
    cross = [[-0.1, -2.0], [-0.5, -0.6], [-0.5, -0.6]]  # candidates [" 4", " 5"]: sums -1.1 vs -3.2
    assert _generated_pick("sum_logprobs", preds, "numeric", [], cross, [" 4", " 5"]) == 0
    assert _generated_pick("majority_vote", preds, "numeric", [-0.1, -0.6, -0.7], None, []) == 1


# --- batches and runs on the tiny fixtures ------------------------------------------------------------------------

def test_batches_differ_and_come_from_support_plus_split_inputs(mc_context):
    pool = unlabeled_pool(mc_context, "validation")
    assert set(pool) == set(mc_context.support_prompts()) | set(mc_context.unlabeled_inputs("validation"))
    batches = draw_distinct_batches(mc_context.sampler, pool, 5, seed=0)
    assert [s for s, _ in batches][0] == 0 and len({tuple(sorted(b)) for _, b in batches}) == 5
    assert all(len(b) == mc_context.sampler.num_prompts and set(b) <= set(pool) for _, b in batches)


def test_small_pools_still_give_different_batches_or_fail_clearly(mc_context):
    sampler = mc_context.sampler  # N = 4 prompts per batch
    batches = draw_distinct_batches(sampler, ["a", "b", "c"], 3, seed=0)  # pool ≤ N: same set, different orders
    assert len({tuple(b) for _, b in batches}) == 3
    with pytest.raises(StrategyError, match="at least 2 distinct"):
        draw_distinct_batches(sampler, ["only one"], 2, seed=0)


@pytest.mark.parametrize("method", ["max_confidence", "majority_vote", "sum_logprobs"])
def test_run_tts_on_multiple_choice(mc_context, method):
    seen = []
    mc_context.progress = lambda what, frac: seen.append(frac)
    out = run_tts(TTSParams(num_prompt_batches=2, method=method), mc_context, "validation")
    assert out.ok and out.family == "tts" and out.artifact is None and out.split == "validation"
    singles = [mc_context.evaluate("validation", mc_context.sampler.adapter_for(b))
               for _, b in draw_distinct_batches(mc_context.sampler, unlabeled_pool(mc_context, "validation"), 2, 0)]
    result = out.result
    assert result.n == 20 and out.accuracy == result.accuracy == sum(p.correct for p in result.predictions) / 20
    assert result.tokens == out.tokens == sum(s.tokens for s in singles)
    assert result.ci95[0] <= result.accuracy <= result.ci95[1]
    for i, pred in enumerate(result.predictions):
        expected = _combine_choice(method, [s.predictions[i] for s in singles], "acc")
        assert (pred.prediction, pred.scores) == (expected.prediction, expected.scores)
    assert sum("own accuracy" in line for line in out.log) == 2 and "adapter-" in " ".join(out.log)
    assert seen and seen[-1] == 1.0


def _routes(ctx, method: str, k: int) -> tuple[list, list[int]]:
    sampler = ctx.sampler
    batches = draw_distinct_batches(sampler, unlabeled_pool(ctx, "validation"), k, 0)
    questions = sampler.sentence_embeddings(ctx.unlabeled_inputs("validation"))
    rule = route_avg_sim_score if method == "avg_sim_score" else route_avg_prompt_embed
    return batches, rule(questions, [sampler.sentence_embeddings(b) for _, b in batches])


@pytest.mark.parametrize("method", ["avg_sim_score", "avg_prompt_embed"])
@pytest.mark.slow
def test_router_scores_each_question_with_its_routed_adapter_only(mc_context, method):
    """Equal to the former path (score every question with all K adapters, keep the routed one's prediction)."""
    out = run_tts(TTSParams(num_prompt_batches=3, method=method), mc_context, "validation")
    batches, routes = _routes(mc_context, method, 3)
    assert f"routed questions per adapter: {', '.join(str(routes.count(k)) for k in range(3))}" in out.log
    singles = [mc_context.evaluate("validation", mc_context.sampler.adapter_for(b)) for _, b in batches]  # former path
    former = {m: [ensemble_choice([singles[k].predictions[i]], m) for i, k in enumerate(routes)] for m in ("acc", "acc_norm")}
    for pred, old in zip(out.result.predictions, former[mc_context.spec.metric]):
        assert (pred.id, pred.prediction, pred.correct) == (old.id, old.prediction, old.correct)
        assert pred.scores == pytest.approx(old.scores, abs=1e-5) and pred.scores_norm == pytest.approx(old.scores_norm, abs=1e-5)
    assert out.result.acc == sum(p.correct for p in former["acc"]) / 20
    assert out.result.acc_norm == sum(p.correct for p in former["acc_norm"]) / 20
    assert out.tokens < sum(s.tokens for s in singles)  # each question scored once, not K times


@pytest.mark.parametrize("method", ["avg_sim_score", "avg_prompt_embed"])
@pytest.mark.slow
def test_generative_router_keeps_the_routed_adapters_answer(numeric_context, method):
    out = run_tts(TTSParams(num_prompt_batches=3, method=method), numeric_context, "validation")
    batches, routes = _routes(numeric_context, method, 3)
    singles = [numeric_context.evaluate("validation", numeric_context.sampler.adapter_for(b)) for _, b in batches]
    former = [singles[k].predictions[i] for i, k in enumerate(routes)]
    assert [(p.id, p.prediction, p.output, p.correct) for p in out.result.predictions] == \
           [(p.id, p.prediction, p.output, p.correct) for p in former]
    assert out.accuracy == sum(p.correct for p in former) / len(former)


@pytest.mark.parametrize("method", ["majority_vote", "sum_logprobs"])
@pytest.mark.slow
def test_generative_voting_on_numeric(numeric_context, method):
    out = run_tts(TTSParams(num_prompt_batches=3, method=method), numeric_context, "validation")
    assert out.ok and out.result.n == 10 and out.result.metric == "exact_match" and out.result.acc_norm is None
    singles = [numeric_context.evaluate("validation", numeric_context.sampler.adapter_for(b))
               for _, b in draw_distinct_batches(numeric_context.sampler, unlabeled_pool(numeric_context, "validation"), 3, 0)]
    assert out.tokens > sum(s.tokens for s in singles)  # + the teacher-forced confidence scoring
    for i, pred in enumerate(out.result.predictions):
        options = [s.predictions[i] for s in singles]
        assert pred in options  # the ensemble keeps one adapter's generated answer
        if method == "majority_vote":
            keys = [answer_key(p.prediction, "numeric") for p in options if p.prediction is not None]
            if keys:
                assert keys.count(answer_key(pred.prediction, "numeric")) == max(keys.count(k) for k in keys)
