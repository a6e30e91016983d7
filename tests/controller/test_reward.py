"""Reward rules: strict (the paper's) and paired (one-sided exact McNemar on the same items), and the noise floor."""

from __future__ import annotations

import math

import pytest

from degaml.comparison.stats import mcnemar_exact, mcnemar_tail
from degaml.controller.reward import bits, compare, from_bits, noise_floor


def test_mcnemar_is_the_exact_binomial_tail():
    assert mcnemar_tail(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_tail(6, 1) == pytest.approx(sum(math.comb(7, k) for k in (6, 7)) / 2**7)
    assert mcnemar_tail(3, 3) == 1.0 and mcnemar_tail(0, 4) == 1.0


def test_two_sided_mcnemar_matches_scipy():
    from scipy.stats import binomtest

    for only_a, only_b in [(5, 0), (6, 1), (2, 9), (10, 10), (17, 8)]:
        a = [True] * only_a + [False] * only_b + [True] * 3
        b = [False] * only_a + [True] * only_b + [True] * 3
        expected = 1.0 if only_a == only_b else binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
        assert mcnemar_exact(a, b) == pytest.approx(expected)


def test_strict_rewards_any_gain_paired_only_a_significant_one():
    ref = [True] * 20 + [False] * 20
    small = list(ref)
    small[20] = small[21] = True  # +2 items: 2 wins, 0 losses (p = 0.25)
    assert compare(small, ref, "strict", 0.05).reward == 1
    paired = compare(small, ref, "paired", 0.05)
    assert paired.reward == 0 and paired.wins == 2 and paired.losses == 0 and paired.p_value == pytest.approx(0.25)
    big = list(ref)
    for i in range(20, 27):
        big[i] = True  # +7 items, all in favour: p = 1/128
    assert compare(big, ref, "paired", 0.05).reward == 1


def test_paired_sees_churn_that_accuracy_hides():
    ref = [True] * 10 + [False] * 10
    churn = [False] * 4 + [True] * 6 + [True] * 5 + [False] * 5  # 5 wins, 4 losses: +1 item overall
    result = compare(churn, ref, "paired", 0.05)
    assert result.accuracy > result.reference and result.reward == 0 and result.p_value > 0.3
    assert compare(churn, ref, "strict", 0.05).reward == 1


def test_comparison_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        compare([True], [True, False], "paired", 0.05)


def test_noise_floor_and_bits_round_trip():
    correct = [True, False] * 50
    floor = noise_floor(correct, 0.05)
    assert floor.n == 100 and floor.min_significant_gain == pytest.approx(5 / 100)
    assert 0.09 < floor.ci_half_width < 0.1
    assert from_bits(bits(correct)) == correct
