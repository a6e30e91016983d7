"""Rewards of an adaptation step: is the candidate configuration better than the current one on validation?

Two rules (`adapt.reward`):
- `strict` — the paper's rule: reward 1 iff the candidate's validation accuracy is strictly above the current one's.
- `paired` — reward 1 iff the candidate is better on the *same items* by an exact one-sided McNemar test:
      b = items the candidate gets right and the current configuration wrong, c = the reverse,
      p = P(X ≥ b), X ~ Binomial(b + c, 1/2);   reward 1 iff b > c and p < alpha.
  A few-point difference on 40–200 items is inside the noise; this rule only keeps what would hold up.

The run also records the validation split's noise floor (degaml.stats.noise_floor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from degaml.stats import mcnemar_tail

RewardRule = Literal["strict", "paired"]


class Comparison(BaseModel):
    """A candidate against the current configuration on the same validation items."""

    model_config = ConfigDict(extra="forbid")
    accuracy: float  # candidate
    reference: float  # current configuration
    wins: int  # b: candidate right, reference wrong
    losses: int  # c: candidate wrong, reference right
    p_value: float  # one-sided exact McNemar (1.0 when b ≤ c)
    reward: int


def compare(candidate: Sequence[bool], reference: Sequence[bool], rule: RewardRule, alpha: float) -> Comparison:
    """Reward of `candidate` over `reference` (per-item correctness on the same items, same order)."""
    if len(candidate) != len(reference):
        raise ValueError(f"paired comparison needs the same items: {len(candidate)} vs {len(reference)}")
    n = max(1, len(candidate))
    wins = sum(c and not r for c, r in zip(candidate, reference))
    losses = sum(r and not c for c, r in zip(candidate, reference))
    acc, ref = sum(candidate) / n, sum(reference) / n
    p = mcnemar_tail(wins, losses)
    better = acc > ref if rule == "strict" else (wins > losses and p < alpha)
    return Comparison(accuracy=acc, reference=ref, wins=wins, losses=losses, p_value=p, reward=int(better))


def bits(correct: Sequence[bool]) -> str:
    """Per-item correctness as a compact '0'/'1' string (stored in events so rewards can be recomputed)."""
    return "".join("1" if c else "0" for c in correct)


def from_bits(text: str) -> list[bool]:
    return [c == "1" for c in text]
