"""Rewards of an adaptation step: is the candidate configuration better than the current one on validation?

Two rules (`adapt.reward`):
- `strict` — the paper's rule: reward 1 iff the candidate's validation accuracy is strictly above the current one's.
- `paired` — reward 1 iff the candidate is better on the *same items* by an exact one-sided McNemar test:
      b = items the candidate gets right and the current configuration wrong, c = the reverse,
      p = P(X ≥ b), X ~ Binomial(b + c, 1/2);   reward 1 iff b > c and p < alpha.
  A few-point difference on 40–200 items is inside the noise; this rule only keeps what would hold up.

The metric is `adapt.metric`: accuracy, or balanced accuracy (each item weighted by 1 / its gold answer's share,
degaml.stats.balanced_weights), whose paired test is the one-sided sign-flip test of the weighted per-item
differences (degaml.stats.signflip_tail; with equal weights it is the McNemar test above). A candidate that only
moves the answer prior (more items of the common answer right, as many of the rare ones wrong) gains accuracy but
no balanced accuracy.

The run also records the validation split's noise floor (degaml.stats.noise_floor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from degaml.stats import mcnemar_tail, signflip_tail

RewardRule = Literal["strict", "paired"]
RewardMetric = Literal["acc", "balanced_acc"]


class Comparison(BaseModel):
    """A candidate against the current configuration on the same validation items."""

    model_config = ConfigDict(extra="forbid")
    accuracy: float  # candidate (the metric compared: accuracy or balanced accuracy)
    reference: float  # current configuration
    wins: int  # b: candidate right, reference wrong
    losses: int  # c: candidate wrong, reference right
    p_value: float  # one-sided exact McNemar, or sign-flip for balanced accuracy (1.0 when not better)
    reward: int


def compare(candidate: Sequence[bool], reference: Sequence[bool], rule: RewardRule, alpha: float,
            weights: Sequence[float] | None = None) -> Comparison:
    """Reward of `candidate` over `reference` (per-item correctness on the same items, same order); `weights`
    (degaml.stats.balanced_weights of the items' gold answers) makes the metric balanced accuracy."""
    if len(candidate) != len(reference) or (weights is not None and len(weights) != len(candidate)):
        raise ValueError(f"paired comparison needs the same items: {len(candidate)} vs {len(reference)}")
    n = max(1, len(candidate))
    w = list(weights) if weights is not None else [1.0] * len(candidate)
    wins = sum(c and not r for c, r in zip(candidate, reference))
    losses = sum(r and not c for c, r in zip(candidate, reference))
    acc = sum(wi for wi, c in zip(w, candidate) if c) / n
    ref = sum(wi for wi, r in zip(w, reference) if r) / n
    if weights is None:
        p = mcnemar_tail(wins, losses)
    else:
        p = signflip_tail([wi * (int(c) - int(r)) for wi, c, r in zip(w, candidate, reference)])
    better = acc > ref if rule == "strict" else (acc > ref and p < alpha)
    return Comparison(accuracy=acc, reference=ref, wins=wins, losses=losses, p_value=p, reward=int(better))


def bits(correct: Sequence[bool]) -> str:
    """Per-item correctness as a compact '0'/'1' string (stored in events so rewards can be recomputed)."""
    return "".join("1" if c else "0" for c in correct)


def from_bits(text: str) -> list[bool]:
    return [c == "1" for c in text]
