"""Paired tests: exact McNemar against scipy, the paired bootstrap of accuracy and of balanced accuracy, and the
noise floor of a split."""

from __future__ import annotations

import math

import pytest

from degaml.stats import bootstrap_average, mcnemar_exact, mcnemar_tail, noise_floor, paired_bootstrap


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


def test_paired_bootstrap_of_identical_methods_is_no_difference():
    assert mcnemar_exact([True] * 10, [True] * 10) == 1.0
    assert mcnemar_exact([True] * 10, [False] * 10) < 0.01
    result = paired_bootstrap([[True, False] * 10], [[True, False] * 10])
    assert result["delta"] == 0 and result["p"] == 1.0


def test_a_prior_shift_gains_accuracy_but_not_balanced_accuracy():
    # 30 "yes" items, 10 "no" items; a reads nothing and says "yes" everywhere, b reads half of each class
    gold = ["yes"] * 30 + ["no"] * 10
    constant = [True] * 30 + [False] * 10
    reader = [True] * 15 + [False] * 15 + [True] * 5 + [False] * 5
    acc = paired_bootstrap([constant], [reader], seed=1)
    bal = paired_bootstrap([constant], [reader], seed=1, gold=[gold])
    assert acc["delta"] == pytest.approx(0.25) and acc["p"] < 0.05
    assert bal["delta"] == pytest.approx(0.0) and bal["p"] > 0.5
    point, (lo, hi) = bootstrap_average([constant], gold=[gold])
    assert point == pytest.approx(0.5) and lo <= 0.5 <= hi


def test_bootstrap_is_seeded_and_checks_shapes():
    a, b = [[True, False, True, True] * 5], [[False, False, True, False] * 5]
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    with pytest.raises(ValueError, match="items"):
        paired_bootstrap([[True]], [[True, False]])
    with pytest.raises(ValueError, match="gold"):
        bootstrap_average(a, gold=[["x"]])


def test_noise_floor():
    floor = noise_floor([True, False] * 50, 0.05)
    assert floor.n == 100 and floor.min_significant_gain == pytest.approx(5 / 100)
    assert 0.09 < floor.ci_half_width < 0.1


def test_signflip_with_equal_weights_is_the_exact_mcnemar_tail():
    from degaml.stats import mcnemar_tail, signflip_tail

    for wins, losses in [(7, 2), (5, 0), (3, 3), (2, 6), (9, 4)]:
        assert signflip_tail([1.0] * wins + [-1.0] * losses + [0.0] * 5) == pytest.approx(mcnemar_tail(wins, losses))
    assert signflip_tail([1.0] * 20 + [-1.0] * 8) == pytest.approx(mcnemar_tail(20, 8), abs=0.004)  # seeded draws
    assert signflip_tail([1.0] * 20 + [-1.0] * 8) == signflip_tail([1.0] * 20 + [-1.0] * 8)  # deterministic


def test_signflip_weighs_the_items():
    from degaml.stats import signflip_tail

    assert signflip_tail([3.0, -1.0, -1.0]) == pytest.approx(0.5)  # the heavy win dominates: signs of 3 decide
    assert signflip_tail([-3.0, 1.0, 1.0]) == 1.0  # not better: no evidence
