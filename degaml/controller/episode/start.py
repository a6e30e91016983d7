"""The episode's starting configuration when the generator is residual: θ₀ = θ_union + Δ, or θ_union itself.

Both are scored on validation and compared by the paired rule: the start is θ_union unless θ₀ is better with
evidence (one-sided exact McNemar on the per-item validation correctness, p < the spec's `adapt.alpha`). On
held-out SciQ, OpenBookQA and CommonsenseQA the multi-task LoRA beat the direct generator's θ₀ by 2.4 points pooled
(docs/findings/generator.md), so θ₀ must earn its place: an episode never starts (hence never ends, the chain being accepted only over its start) below θ_union
without evidence. A direct generator has no θ_union: θ₀ is the start, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from degaml.evaluation import EvalResult
from degaml.stats.paired import mcnemar_tail
from degaml.strategies.base import StrategyContext


def theta0_wins(theta0: list[bool], union: list[bool], alpha: float) -> bool:
    """Whether θ₀ beats θ_union on validation with evidence (one-sided exact McNemar, p < alpha)."""
    wins = sum(a and not b for a, b in zip(theta0, union, strict=True))
    losses = sum(b and not a for a, b in zip(theta0, union, strict=True))
    return mcnemar_tail(wins, losses) < alpha


def choose_start(ctx: StrategyContext, theta0: Path, result: EvalResult, alpha: float,
                 progress: Callable[[str, float], None] | None = None) -> tuple[Path, EvalResult]:
    """(start adapter, its validation result): θ₀ with `result`, or θ_union when the generator is residual and θ₀
    does not beat it with evidence."""
    union = ctx.sampler.union_adapter() if ctx.sampler is not None else None
    if union is None:
        return theta0, result
    scored = replace(ctx, progress=progress).evaluate("validation", union, label="θ_union baseline")
    a = [bool(p.correct) for p in result.predictions]
    b = [bool(p.correct) for p in scored.predictions]
    return (theta0, result) if theta0_wins(a, b, alpha) else (union, scored)
