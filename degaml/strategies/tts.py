"""Test-time scaling (paper App. F.1, Figure 5): K adapters from K different prompt batches, combined per question.

Pool of unlabeled prompts = support prompts + the questions (inputs only) of the split being scored (the paper
samples batches "from the test split of unseen dataset"), de-duplicated. Batch k is `sampler.draw(pool,
seed + k)`; a draw whose prompt multiset equals an earlier batch's is rejected and the next seed tried (upstream
re-shuffled ONE batch, giving near-identical adapters). Each batch gives an adapter θ_k = G(batch_k); the split
is scored with each (`ctx.evaluate`), and the K predictions of every question are combined by one rule of
`tts_combine` (max_confidence, majority_vote, sum_logprobs). Routers (avg_sim_score / avg_prompt_embed, Euclidean
distance on sentence embeddings) pick one adapter per question from the embeddings alone, so they route first and
score each question with its routed adapter only (1/K of the scoring; the evaluator scores items independently,
so the predictions are those of scoring everything with every adapter and keeping the routed one).

Multiple choice: the scores s_k are the evaluator's per-choice summed log-probs (acc) or per-character log-probs
(acc_norm), whichever `spec.metric` picks with; both metrics are combined so the result's acc and acc_norm are
each the ensemble's under that metric. Generative: answers are compared by canonical key; confidences are mean
token log-probs of each adapter's generated text under that adapter (teacher-forced, `evaluation.confidence`);
sum_logprobs sums, over adapters, the mean token log-prob of every distinct generated candidate (a K×K scoring).

Prediction-time method: no artifact; cost = seconds and tokens of the scorings (+ confidence scoring).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from degaml.evaluation.confidence import candidate_confidences
from degaml.evaluation.result import EvalResult, Prediction, build_result, ensemble_choice
from degaml.evaluation.prompts import PromptBuilder
from degaml.generator.sampler import AdapterSampler
from degaml.models.adapters import attached_adapter
from degaml.strategies.base import ParamsBase, Outcome, ScoredSplit, StrategyContext, StrategyError, Timer
from degaml.strategies.tts_combine import (answer_key, pick_majority, pick_max_confidence, pick_sum_logprobs,
                                           route_avg_prompt_embed, route_avg_sim_score, softmax_confidence)

TTSMethod = Literal["max_confidence", "majority_vote", "sum_logprobs", "avg_sim_score", "avg_prompt_embed"]
ROUTERS = ("avg_sim_score", "avg_prompt_embed")
MAX_REDRAWS = 100  # extra seeds tried to find a batch different from the earlier ones


class TTSParams(ParamsBase):
    """Test-time scaling: adapters from several prompt batches, combined by an ensemble rule or a router."""

    family: Literal["tts"] = Field("tts", description="test-time scaling over several generated adapters")
    num_prompt_batches: Literal[2, 3, 4, 5] = Field(
        description="how many different prompt batches (hence adapters) to sample from the unlabeled task inputs")
    method: TTSMethod = Field(
        description="ensemble: max_confidence (most confident adapter per question), majority_vote (most common "
                    "answer, ties by summed confidence), sum_logprobs (sum of per-answer log-probs); router: "
                    "avg_sim_score (batch whose prompts are on average nearest the question, Euclidean) or "
                    "avg_prompt_embed (batch whose mean prompt embedding is nearest the question)")


def unlabeled_pool(ctx: StrategyContext, split: ScoredSplit) -> list[str]:
    """Generator inputs of the support items + the split's items (no labels), first occurrence kept."""
    return list(dict.fromkeys([*ctx.generator_prompts(), *ctx.generator_prompts(split)]))


def draw_distinct_batches(sampler: AdapterSampler, pool: Sequence[str], k: int, seed: int) -> list[tuple[int, list[str]]]:
    """K (seed, batch) pairs whose prompt multisets differ (or, when the pool cannot give that, whose orders differ)."""
    if len(set(pool)) < 2:
        raise StrategyError(f"tts needs at least 2 distinct unlabeled prompts to draw different batches (have {len(set(pool))})")
    out: list[tuple[int, list[str]]] = []
    seen_sets: set[tuple[str, ...]] = set()
    seen_orders: set[tuple[str, ...]] = set()
    s = seed
    while len(out) < k:
        if s - seed >= k + MAX_REDRAWS:
            raise StrategyError(f"could not draw {k} different prompt batches from {len(pool)} prompts")
        batch = sampler.draw(pool, seed=s)
        as_set, as_order = tuple(sorted(batch)), tuple(batch)
        # a prompt set differing from all earlier ones; when the pool is ≤ N every batch holds the whole pool → order
        fresh = as_set not in seen_sets if len(set(pool)) > sampler.num_prompts else as_order not in seen_orders
        if fresh:
            out.append((s, batch))
            seen_sets.add(as_set)
            seen_orders.add(as_order)
        s += 1
    return out


def _combine_choice(method: str, preds: Sequence[Prediction], metric: str) -> Prediction:
    """One multiple-choice question's combined prediction under `metric` ("acc" or "acc_norm") by an ensemble rule."""
    if method == "sum_logprobs":
        return ensemble_choice(preds, metric)
    rows = [p.scores_norm if metric == "acc_norm" else p.scores for p in preds]  # K × (choices,)
    picks = [softmax_confidence(r) for r in rows]
    answers, confs = [a for a, _ in picks], [c for _, c in picks]
    kept = preds[(pick_max_confidence if method == "max_confidence" else pick_majority)(answers, confs)]
    return ensemble_choice([kept], metric)  # the kept adapter's own prediction under `metric`


def _generated_pick(method: str, preds: Sequence[Prediction], fmt: str, confs: Sequence[float],
                    cross: Sequence[Sequence[float]] | None, candidates: Sequence[str]) -> int:
    """Index of the adapter whose generated answer the ensemble keeps for one question."""
    if method == "sum_logprobs":
        if not candidates or cross is None:
            return 0
        best, _ = pick_sum_logprobs(cross)
        return next(k for k, p in enumerate(preds) if (p.output or "") == candidates[best])
    keys = [answer_key(p.prediction, fmt) for p in preds]
    return (pick_max_confidence if method == "max_confidence" else pick_majority)(keys, confs)


def _generative_confidences(ctx: StrategyContext, method: str, adapters: Sequence[Path], runs: Sequence[EvalResult],
                            contexts: Sequence[str], candidates: Sequence[Sequence[str]], tokens: list[int]) -> list[list[list[float]]]:
    """conf[k][i][j]: mean token log-prob of candidate j of question i under adapter k (own output only unless sum)."""
    spec, loaded = ctx.spec, ctx.loaded
    out = []
    for k, adapter in enumerate(adapters):
        cands = candidates if method == "sum_logprobs" else [[p.output or ""] for p in runs[k].predictions]
        with attached_adapter(loaded.model, adapter) as model:
            out.append(candidate_confidences(model, loaded.tokenizer, contexts, cands, spec.batch_size, spec.max_length,
                                             lambda rows, n: tokens.__setitem__(0, tokens[0] + n)))
    return out


def _route(ctx: StrategyContext, method: str, examples: Sequence, batches: Sequence[tuple[int, list[str]]]) -> list[int]:
    """Per question, the index of the prompt batch a router picks (from sentence embeddings only: no scoring)."""
    if not examples:
        return []
    from degaml.evaluation.prompts import generator_inputs

    questions = ctx.sampler.sentence_embeddings(generator_inputs(ctx.spec, examples))  # (n, C): what the generator reads
    embs = [ctx.sampler.sentence_embeddings(batch) for _, batch in batches]  # K × (N, C)
    return (route_avg_sim_score if method == "avg_sim_score" else route_avg_prompt_embed)(questions, embs)


def _score_routed(ctx: StrategyContext, split: ScoredSplit, examples: Sequence, batches: Sequence[tuple[int, list[str]]],
                  routes: Sequence[int], log: list[str]) -> tuple[list[Prediction], int]:
    """Score every question with its routed adapter only (adapter k scores the questions routed to k).

    The evaluator's prompts and scores are per item (few-shot draws are seeded by item id), so this equals scoring
    every question with all K adapters and keeping the routed one, at 1/K of the cost."""
    predictions: list[Prediction | None] = [None] * len(examples)
    tokens = 0
    for k, (seed, batch) in enumerate(batches):
        mine = [i for i, r in enumerate(routes) if r == k]
        if not mine:
            log.append(f"adapter {k + 1}: batch seed {seed}, no question routed to it (not generated)")
            continue
        ctx.report(f"tts: adapter {k + 1}/{len(batches)}", (k + 1) / (len(batches) + 1))
        adapter = ctx.sampler.adapter_for(batch)
        run = ctx.evaluate(split, adapter, [examples[i] for i in mine])
        for i, pred in zip(mine, run.predictions):
            predictions[i] = pred
        tokens += run.tokens
        log.append(f"adapter {k + 1}: batch seed {seed}, {adapter}, {len(mine)} routed questions, accuracy on them "
                   f"{run.accuracy:.4f}")
    return [p for p in predictions if p is not None], tokens


def run_tts(params: TTSParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Score `split` with K adapters from K different prompt batches and combine their predictions per question."""
    timer = Timer()
    spec, sampler = ctx.spec, ctx.sampler
    examples = list(ctx.examples(split))
    n, k_total = len(examples), params.num_prompt_batches
    pool = unlabeled_pool(ctx, split)
    batches = draw_distinct_batches(sampler, pool, k_total, ctx.seed)
    log = [f"tts: {k_total} prompt batches of {sampler.num_prompts} from a pool of {len(pool)} unlabeled prompts "
           f"(support + {split} inputs), method {params.method}"]
    if params.method in ROUTERS:  # route first, then score each question with its routed adapter only
        ctx.report("tts: routing", 0.0)
        routes = _route(ctx, params.method, examples, batches)
        log.append("routed questions per adapter: " + ", ".join(str(routes.count(k)) for k in range(k_total)))
        routed, tokens_total = _score_routed(ctx, split, examples, batches, routes, log)
        if spec.format == "multiple_choice":
            return _outcome(params, ctx, split, *_both_metrics(spec.metric, lambda m: [ensemble_choice([p], m) for p in routed]),
                            timer, tokens_total, None, log)
        return _outcome(params, ctx, split, routed, None, None, timer, tokens_total, None, log)
    adapters, runs = [], []
    for k, (seed, batch) in enumerate(batches):
        ctx.report(f"tts: adapter {k + 1}/{k_total}", k / (k_total + 1))
        adapters.append(sampler.adapter_for(batch))
        runs.append(ctx.evaluate(split, adapters[-1]))
        log.append(f"adapter {k + 1}: batch seed {seed}, {adapters[-1]}, own accuracy {runs[-1].accuracy:.4f}")
    tokens = [sum(r.tokens for r in runs)]
    per_q = [[r.predictions[i] for r in runs] for i in range(n)]  # n × K
    acc = acc_norm = None
    if spec.format == "multiple_choice":
        predictions, acc, acc_norm = _both_metrics(spec.metric, lambda m: [_combine_choice(params.method, q, m) for q in per_q])
    else:
        ctx.report("tts: scoring confidences", k_total / (k_total + 1))
        builder = PromptBuilder(spec, ctx.task.fewshot_pool())
        contexts = [builder.context(ex) for ex in examples]
        candidates = [list(dict.fromkeys(p.output for p in preds if p.output)) for preds in per_q]
        conf = _generative_confidences(ctx, params.method, adapters, runs, contexts, candidates, tokens)
        picks = []
        for i in range(n):
            cross = [conf[k][i] for k in range(k_total)]  # K × candidates (own output only unless sum_logprobs)
            own = [row[0] for row in cross] if params.method != "sum_logprobs" else []
            picks.append(_generated_pick(params.method, per_q[i], spec.format, own, cross, candidates[i]))
        predictions = [per_q[i][k] for i, k in enumerate(picks)]
    own_acc = [r.accuracy for r in runs]
    return _outcome(params, ctx, split, predictions, acc, acc_norm, timer, tokens[0], own_acc, log)


def _both_metrics(metric: str, combine: Callable[[str], list[Prediction]]) -> tuple[list[Prediction], float, float]:
    """Multiple choice: (the predictions under the spec's metric, ensemble acc, ensemble acc_norm)."""
    both = {m: combine(m) for m in ("acc", "acc_norm")}
    n = max(1, len(both["acc"]))
    return both[metric], sum(p.correct for p in both["acc"]) / n, sum(p.correct for p in both["acc_norm"]) / n


def _outcome(params: TTSParams, ctx: StrategyContext, split: ScoredSplit, predictions: list[Prediction], acc: float | None,
             acc_norm: float | None, timer: Timer, tokens: int, own: list[float] | None, log: list[str]) -> Outcome:
    result = build_result(ctx.spec, ctx.loaded.name, split, None, predictions, timer.seconds, tokens, acc, acc_norm)
    singles = f"; single adapters mean {sum(own) / len(own):.4f}, best {max(own):.4f}" if own else ""
    log.append(f"combined {split} accuracy {result.accuracy:.4f} (n={result.n}){singles}")
    ctx.report("tts: done", 1.0)
    return Outcome("tts", params.model_dump(by_alias=True), split, ok=True, accuracy=result.accuracy, result=result,
                   artifact=None, seconds=timer.seconds, tokens=tokens, log=log)
