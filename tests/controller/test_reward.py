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


def test_balanced_metric_does_not_reward_a_prior_shift():
    from degaml.stats import balanced_weights

    gold = ["A"] * 60 + ["B"] * 10
    ref = [True] * 40 + [False] * 20 + [True] * 8 + [False] * 2  # 40/60 of A, 8/10 of B
    shift = [True] * 60 + [False] * 10  # everything "A": 20 more of A right, all 8 of B lost
    weights = balanced_weights(gold)
    assert compare(shift, ref, "paired", 0.05).reward == 1  # accuracy 60/70 vs 48/70: 20 wins, 8 losses, p = 0.018
    balanced = compare(shift, ref, "paired", 0.05, weights)
    assert balanced.accuracy == pytest.approx(0.5) and balanced.reference == pytest.approx((40 / 60 + 8 / 10) / 2)
    assert balanced.reward == 0 and compare(shift, ref, "strict", 0.05, weights).reward == 0


def test_balanced_metric_rewards_reading_the_rare_answer():
    from degaml.stats import balanced_weights

    gold = ["A"] * 30 + ["B"] * 10
    ref = [True] * 30 + [False] * 10  # the prior: "A" everywhere
    reads = [True] * 28 + [False] * 2 + [True] * 8 + [False] * 2  # 2 of A lost, 8 of B won
    result = compare(reads, ref, "paired", 0.05, balanced_weights(gold))
    assert result.accuracy > result.reference and result.reward == 1 and result.p_value < 0.05


def test_weights_must_cover_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        compare([True, False], [True, True], "paired", 0.05, [1.0])
