"""Paired tests on the same items: McNemar's exact test (per task) and a seeded paired bootstrap over items
(averages over tasks, and a 95% CI of a difference) — of accuracy, or of balanced accuracy when the gold answers
are given (degaml.stats.answers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from degaml.stats.answers import balanced_accuracy


def mcnemar_tail(wins: int, losses: int) -> float:
    """One-sided exact McNemar: P(X ≥ wins), X ~ Binomial(wins + losses, 1/2); 1.0 when wins ≤ losses.
    (wins = items A gets right and B wrong, losses = the reverse.)"""
    n = wins + losses
    if wins <= losses:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


EXACT_SIGNFLIP_ITEMS = 16  # up to 2^16 sign patterns are enumerated; beyond, a seeded Monte Carlo
SIGNFLIP_DRAWS = 20_000


def signflip_tail(differences: Sequence[float], seed: int = 0) -> float:
    """One-sided paired sign-flip test of weighted per-item differences d_i = w_i (a_i − b_i) (only the items where
    A and B disagree matter): P(Σ s_i d_i ≥ Σ d_i) under independent random signs s_i = ±1; 1.0 when Σ d_i ≤ 0.
    Exact up to EXACT_SIGNFLIP_ITEMS discordant items, else (1 + hits) / (1 + draws) over seeded draws. With equal
    weights it is the exact one-sided McNemar test (mcnemar_tail)."""
    d = np.asarray([x for x in differences if x != 0.0], dtype=np.float64)
    observed = float(d.sum())
    if observed <= 0 or d.size == 0:
        return 1.0
    tolerance = 1e-9 * float(np.abs(d).sum())
    if d.size <= EXACT_SIGNFLIP_ITEMS:
        patterns = ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1  # (2^m, m)
        return float(np.mean(patterns @ np.abs(d) * 1.0 >= observed - tolerance))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(SIGNFLIP_DRAWS, d.size))  # (draws, m)
    hits = int(np.sum(signs @ np.abs(d) >= observed - tolerance))
    return (1 + hits) / (1 + SIGNFLIP_DRAWS)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value of paired correctness vectors (1.0 when they never disagree)."""
    if len(a) != len(b):
        raise ValueError(f"paired test on {len(a)} vs {len(b)} items")
    only_a = sum(bool(x) and not y for x, y in zip(a, b))
    only_b = sum(bool(y) and not x for x, y in zip(a, b))
    if only_a == only_b:
        return 1.0
    return min(1.0, 2 * mcnemar_tail(max(only_a, only_b), min(only_a, only_b)))


def _metric(correct: Sequence[bool], gold: Sequence[Any] | None) -> float:
    """Accuracy, or balanced accuracy over `gold`'s answers."""
    if gold is None:
        return float(np.mean(np.asarray(correct, dtype=float))) if len(correct) else 0.0
    return balanced_accuracy(correct, gold)


def _resampled(correct: Sequence[bool], gold: Sequence[Any] | None, idx: np.ndarray) -> np.ndarray:
    """The metric on each resample: idx (samples, n) item indices → (samples,)."""
    hits = np.asarray(correct, dtype=float)[idx]  # (S, n)
    if gold is None:
        return hits.mean(axis=1)
    codes = np.unique(np.asarray([str(g) for g in gold]), return_inverse=True)[1][idx]  # (S, n)
    recalls = []
    for c in range(int(codes.max()) + 1):
        mask = codes == c  # (S, n)
        count = mask.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(count > 0, (hits * mask).sum(axis=1) / count, np.nan))
    return np.nanmean(np.stack(recalls), axis=0)  # classes absent from a resample are skipped


def _check(tasks: Sequence[Sequence[bool]], gold: Sequence[Sequence[Any]] | None) -> None:
    if gold is not None and [len(t) for t in tasks] != [len(g) for g in gold]:
        raise ValueError("gold answers must match the items of every task")


def bootstrap_average(tasks: Sequence[Sequence[bool]], samples: int = 2000, seed: int = 0,
                      gold: Sequence[Sequence[Any]] | None = None) -> tuple[float, tuple[float, float]]:
    """Mean over tasks of the per-task metric (accuracy; balanced accuracy with `gold`), with a 95% percentile CI
    from resampling items within each task."""
    _check(tasks, gold)
    rng = np.random.default_rng(seed)
    point = float(np.mean([_metric(t, None if gold is None else gold[k]) for k, t in enumerate(tasks)]))
    draws = np.zeros(samples)
    for k, t in enumerate(tasks):
        draws += _resampled(t, None if gold is None else gold[k], rng.integers(0, len(t), size=(samples, len(t))))
    draws /= len(tasks)
    return point, (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def paired_bootstrap(a_tasks: Sequence[Sequence[bool]], b_tasks: Sequence[Sequence[bool]], samples: int = 2000,
                     seed: int = 0, gold: Sequence[Sequence[Any]] | None = None) -> dict[str, Any]:
    """Δ = mean-over-tasks metric of a minus b (accuracy; balanced accuracy with `gold`), its 95% CI and a
    two-sided p-value, resampling items per task (the same resampled items for both methods)."""
    _check(a_tasks, gold)
    _check(b_tasks, gold)
    rng = np.random.default_rng(seed)
    diffs = np.zeros(samples)
    point = 0.0
    for k, (a, b) in enumerate(zip(a_tasks, b_tasks, strict=True)):
        if len(a) != len(b):
            raise ValueError(f"paired test on {len(a)} vs {len(b)} items")
        g = None if gold is None else gold[k]
        idx = rng.integers(0, len(a), size=(samples, len(a)))
        if g is None:  # accuracy: resample the per-item differences (a tie stays exactly 0.0 in every resample)
            d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
            point += d.mean()
            diffs += d[idx].mean(axis=1)
        else:
            point += _metric(a, g) - _metric(b, g)
            diffs += _resampled(a, g, idx) - _resampled(b, g, idx)
    n = len(a_tasks)
    point, diffs = point / n, diffs / n
    p = 2 * min((np.sum(diffs <= 0) + 1) / (samples + 1), (np.sum(diffs >= 0) + 1) / (samples + 1))  # never exactly 0
    return {"delta": float(point), "ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))],
            "p": float(min(1.0, p))}
