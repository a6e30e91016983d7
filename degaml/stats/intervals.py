"""Confidence intervals of an accuracy, and the noise floor of a scored split.

The noise floor says how large a difference on a split must be before it means anything: the half-width of the
accuracy's 95% Wilson interval, and the smallest gain the paired rule (one-sided exact McNemar at `alpha`) could
accept — every discordant item in the candidate's favour: b = ⌈log2(1/alpha)⌉, c = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

Z_95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact at the ends: centre - half is ±1 ulp off there
    high = 1.0 if correct == n else min(1.0, centre + half)
    return low, high


class NoiseFloor(BaseModel):
    """How large a difference on a split must be before it means anything."""

    model_config = ConfigDict(extra="forbid")
    n: int
    ci_half_width: float  # of the accuracy's 95% Wilson interval
    min_significant_gain: float  # smallest gain the paired rule can accept (all discordant items in favour)
    alpha: float


def noise_floor(correct: Sequence[bool], alpha: float) -> NoiseFloor:
    """The noise floor of a split scored with per-item correctness `correct`, for a paired test at `alpha`."""
    n = len(correct)
    lo, hi = wilson_interval(sum(correct), n)
    need = math.ceil(math.log2(1 / alpha)) if alpha < 1 else 1
    return NoiseFloor(n=n, ci_half_width=(hi - lo) / 2, min_significant_gain=need / max(1, n), alpha=alpha)
