"""`calibrate`: correct the current adapter's answer prior at scoring time — no gradient, no new adapter.

For a multiple-choice item x with options y_1..y_K, s(y|x) is the spec metric's option score (summed log-prob for
`acc`, per-character for `acc_norm`) and ℓ(y|x) = log_softmax over the options of s. Each method subtracts an
estimate of the prior and predicts the argmax of the calibrated score c(y|x):

- contextual (Zhao et al. 2021): c = ℓ(y|x) − ℓ(y|x_cf), x_cf the item with its question replaced by a content-free
  input ("N/A"), averaged over the content-free inputs (one scoring per distinct option list: a fixed label set
  costs one item, per-item content options one per item);
- batch (Zhou et al. 2023): c = ℓ(y|x) − log p̄(y), p̄(pos) = mean over the scored split's items (with as many
  options) of softmax(s)(pos) — it reads the scored split's *inputs*, never its labels (transductive);
- support_bias: c = ℓ(y|x) + b(pos), b fitted on the labelled support items (maximum likelihood of their gold
  positions, L2-regularised) — the labelled budget every method may fit on;
- pmi (lm-evaluation-harness `acc_mutual_info`): c = log P(y | context) − log P(y | ∅), summed log-probs, the
  unconditional context being the end-of-text token (lm-eval's).

Positions, not option texts, carry the bias for content options (SciQ, ARC); for fixed label sets they coincide.
Scoring reads labels only inside the evaluator (`degaml.data.guard.scoring`), as every strategy does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import torch
from pydantic import Field

from degaml.data.example import Example
from degaml.errors import DataError
from degaml.evaluation.loglikelihood import score_continuations
from degaml.evaluation.prompts import PromptBuilder
from degaml.evaluation.result import EvalResult, Prediction, build_result, rescored_choice
from degaml.models.adapters import attached_adapter
from degaml.specs.model import TaskSpec
from degaml.strategies.base import Outcome, ParamsBase, ScoredSplit, StrategyContext, StrategyError, Timer

CONTENT_FREE = ("N/A", "", "[MASK]")
BIAS_L2 = 0.01  # of the support-fitted bias: 20 items must not pin it to ±∞


class CalibrateParams(ParamsBase):
    """Scoring-time correction of the answer prior of the current adapter (multiple-choice tasks)."""

    family: Literal["calibrate"] = Field("calibrate", description=(
        "Strategy family: correct the answer prior at scoring time (no training; multiple-choice tasks)."))
    method: Literal["contextual", "batch", "support_bias", "pmi"] = Field(description=(
        "contextual: divide by the scores of a content-free input; batch: by the mean option probability over the "
        "scored inputs; support_bias: add a per-position bias fitted on the labelled support; pmi: subtract the "
        "option's unconditional log-probability."))


def _option_scores(p: Prediction, metric: str) -> torch.Tensor:
    return torch.tensor(p.scores_norm if metric == "acc_norm" else p.scores, dtype=torch.float64)  # (K,)


def _log_probs(p: Prediction, metric: str) -> torch.Tensor:
    return torch.log_softmax(_option_scores(p, metric), dim=0)  # (K,)


def _renders(spec: TaskSpec, example: Example) -> bool:
    try:
        PromptBuilder(spec).choice_pairs(example)  # what scoring renders for it
    except DataError:
        return False
    return True


def _contextual(ctx: StrategyContext, adapter, split: ScoredSplit, scored: EvalResult) -> list[torch.Tensor]:
    examples = ctx.examples(split)
    free_texts = [t for t in CONTENT_FREE if examples and _renders(ctx.spec, Example("content-free", t, examples[0].choices))]
    if not free_texts:  # e.g. a template that splits the question into passage and question (BoolQ)
        raise StrategyError(f"calibrate (contextual): task '{ctx.spec.task}': its prompt template cannot render a "
                            f"content-free input ({', '.join(repr(t) for t in CONTENT_FREE)})")
    n = len(free_texts)
    items, owner, slot = [], {}, []
    for ex in examples:
        key = tuple(ex.choices)
        if key not in owner:
            owner[key] = len(items) // n
            items += [Example(f"content-free-{owner[key]}-{k}", text, key) for k, text in enumerate(free_texts)]
        slot.append(owner[key])
    free = ctx.evaluate(split, adapter, items, label="calibrate: content-free inputs").predictions
    metric = ctx.spec.metric
    prior = [torch.stack([_log_probs(p, metric) for p in free[k * n:(k + 1) * n]]).exp().mean(0).log()
             for k in range(len(free) // n)]
    return [_log_probs(p, metric) - prior[slot[i]] for i, p in enumerate(scored.predictions)]


def _batch(ctx: StrategyContext, scored: EvalResult) -> list[torch.Tensor]:
    metric = ctx.spec.metric
    by_k: dict[int, list[torch.Tensor]] = defaultdict(list)
    for p in scored.predictions:
        by_k[len(p.scores)].append(_log_probs(p, metric).exp())
    mean = {k: torch.stack(v).mean(0) for k, v in by_k.items()}  # (K,) per option count
    return [_log_probs(p, metric) - mean[len(p.scores)].log() for p in scored.predictions]


def fit_position_bias(log_probs: list[torch.Tensor], gold: list[int], l2: float = BIAS_L2) -> torch.Tensor:
    """b (K_max,) maximising Σ log softmax(ℓ_i + b[:K_i])[gold_i] − l2·|b|² (L-BFGS)."""
    k_max = max(len(lp) for lp in log_probs)
    bias = torch.zeros(k_max, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], max_iter=100, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        optimizer.zero_grad()
        nll = sum(-torch.log_softmax(lp + bias[: len(lp)], 0)[g] for lp, g in zip(log_probs, gold)) / len(gold)
        loss = nll + l2 * (bias**2).sum()
        loss.backward()
        return loss

    optimizer.step(loss_fn)
    return bias.detach()


def _support_bias(ctx: StrategyContext, adapter, scored: EvalResult) -> tuple[list[torch.Tensor], list[float]]:
    support = list(ctx.task.labelled_support)
    if not support or any(ex.answer is None for ex in support):
        raise StrategyError(f"calibrate: task '{ctx.spec.task}' has no labelled support items to fit a bias on")
    fitted = ctx.evaluate("validation", adapter, support, label="calibrate: labelled support").predictions
    metric = ctx.spec.metric
    bias = fit_position_bias([_log_probs(p, metric) for p in fitted], [int(p.gold) for p in fitted])
    if not torch.isfinite(bias).all():
        raise StrategyError("calibrate: the support-fitted bias is not finite")
    return [_log_probs(p, metric) + bias[: len(p.scores)] for p in scored.predictions], bias.tolist()


def _pmi(ctx: StrategyContext, adapter, split: ScoredSplit, scored: EvalResult) -> list[torch.Tensor]:
    builder = PromptBuilder(ctx.spec.model_copy(update={"num_fewshot": 0}))
    pairs, owner = [], []
    for i, ex in enumerate(ctx.examples(split)):
        for _, continuation in builder.choice_pairs(ex):
            pairs.append(("", continuation))
            owner.append(i)
    with attached_adapter(ctx.loaded.model, adapter) as model:
        uncond = score_continuations(model, ctx.loaded.tokenizer, pairs, ctx.spec.batch_size, ctx.spec.max_length)
    per_item: list[list[float]] = [[] for _ in scored.predictions]
    for i, s in zip(owner, uncond):
        per_item[i].append(s.logprob)
    return [torch.tensor(p.scores, dtype=torch.float64) - torch.tensor(u, dtype=torch.float64)
            for p, u in zip(scored.predictions, per_item)]


def run_calibrate(params: CalibrateParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Score the current adapter on `split`, subtract the method's prior estimate, predict the argmax."""
    if ctx.spec.format != "multiple_choice":
        raise StrategyError(f"calibrate: needs a multiple-choice task (task '{ctx.spec.task}' is {ctx.spec.format})")
    timer = Timer()
    adapter = ctx.initial_adapter()
    scored = ctx.evaluate(split, adapter, label="calibrate")
    log = [f"calibrate ({params.method}) of {adapter.name} on {split}: uncalibrated accuracy {scored.accuracy:.4f}"]
    if params.method == "contextual":
        calibrated = _contextual(ctx, adapter, split, scored)
    elif params.method == "batch":
        calibrated = _batch(ctx, scored)
    elif params.method == "support_bias":
        calibrated, bias = _support_bias(ctx, adapter, scored)
        log.append("support-fitted position bias " + ", ".join(f"{b:+.3f}" for b in bias))
    else:
        calibrated = _pmi(ctx, adapter, split, scored)
    if not all(torch.isfinite(c).all() for c in calibrated):
        raise StrategyError(f"calibrate ({params.method}): non-finite calibrated scores")
    predictions = [rescored_choice(p, c.tolist()) for p, c in zip(scored.predictions, calibrated)]
    result = build_result(ctx.spec, ctx.loaded.name, split, str(adapter), predictions, timer.seconds, scored.tokens)
    before = scored.answers.collapse_rate if scored.answers else None
    log.append(f"{split} accuracy {result.accuracy:.4f} (n={result.n}); collapse rate "
               f"{before if before is None else round(before, 3)} → {round(result.answers.collapse_rate, 3) if result.answers else None}")
    ctx.report("calibrate: done", 1.0)
    return Outcome("calibrate", params.model_dump(by_alias=True), split, ok=True, accuracy=result.accuracy,
                   result=result, artifact=None, seconds=timer.seconds, tokens=result.tokens, log=log)
