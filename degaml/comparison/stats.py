"""Paired tests on the same test items: McNemar's exact test (per task) and a seeded paired bootstrap (averages
over tasks, and a 95% CI of a difference)."""

from __future__ import annotations

import math

import numpy as np


def mcnemar_tail(wins: int, losses: int) -> float:
    """One-sided exact McNemar: P(X ≥ wins), X ~ Binomial(wins + losses, 1/2); 1.0 when wins ≤ losses.
    (wins = items A gets right and B wrong, losses = the reverse; the only implementation of the test.)"""
    n = wins + losses
    if wins <= losses:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def mcnemar_exact(a: list[bool], b: list[bool]) -> float:
    """Two-sided exact McNemar p-value of paired correctness vectors (1.0 when they never disagree)."""
    if len(a) != len(b):
        raise ValueError(f"paired test on {len(a)} vs {len(b)} items")
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    if only_a == only_b:
        return 1.0
    return min(1.0, 2 * mcnemar_tail(max(only_a, only_b), min(only_a, only_b)))


def bootstrap_average(tasks: list[list[bool]], samples: int = 2000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Mean over tasks of per-task accuracy, with a 95% percentile CI from resampling items within each task."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(t, dtype=float) for t in tasks]
    point = float(np.mean([a.mean() for a in arrays]))
    draws = np.zeros(samples)
    for a in arrays:
        draws += a[rng.integers(0, len(a), size=(samples, len(a)))].mean(axis=1)
    draws /= len(arrays)
    return point, (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def paired_bootstrap(a_tasks: list[list[bool]], b_tasks: list[list[bool]], samples: int = 2000, seed: int = 0) -> dict:
    """Δ = mean-over-tasks accuracy of a minus b, its 95% CI and a two-sided p-value, resampling items per task
    (the same resampled items for both methods)."""
    rng = np.random.default_rng(seed)
    diffs = np.zeros(samples)
    point = 0.0
    for a, b in zip(a_tasks, b_tasks):
        d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        point += d.mean()
        diffs += d[rng.integers(0, len(d), size=(samples, len(d)))].mean(axis=1)
    n = len(a_tasks)
    point, diffs = point / n, diffs / n
    p = 2 * min((np.sum(diffs <= 0) + 1) / (samples + 1), (np.sum(diffs >= 0) + 1) / (samples + 1))  # never exactly 0
    return {"delta": float(point), "ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))], "p": float(min(1.0, p))}
