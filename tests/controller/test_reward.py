"""Reward rules: strict (the paper's) and paired (one-sided exact McNemar on the same items)."""

from __future__ import annotations

import pytest

from degaml.controller.episode.reward import bits, compare, from_bits


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


def test_bits_round_trip():
    correct = [True, False] * 50
    assert from_bits(bits(correct)) == correct
