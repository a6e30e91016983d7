"""Answer metrics: balanced accuracy, macro-F1, per-answer recall and collapse rate — a constant answer cannot
score above chance on them."""

from __future__ import annotations

import pytest

from degaml.stats import answer_metrics, balanced_accuracy


def test_a_constant_answer_collapses_and_scores_chance():
    gold = [0] * 15 + [1] * 5
    predicted = [0] * 20
    m = answer_metrics(predicted, gold, [p == g for p, g in zip(predicted, gold)])
    assert m.collapse_rate == 1.0 and m.most_common == "0"
    assert m.balanced_accuracy == pytest.approx(0.5) and m.per_answer_recall == {"0": 1.0, "1": 0.0}
    assert m.macro_f1 == pytest.approx((2 * 0.75 / 1.75 + 0) / 2)


def test_a_perfect_reader_scores_one_everywhere():
    gold = ["Yes", "No", "No", "Yes", "No", "Yes"]
    m = answer_metrics(gold, gold, [True] * 6)
    assert m.balanced_accuracy == m.macro_f1 == 1.0 and m.collapse_rate == pytest.approx(0.5)


def test_a_correct_item_counts_as_its_gold_answer():
    # a generative "3.0" that the task accepts for "3" is the answer "3"
    m = answer_metrics(["3.0", "4", "4", "3"], ["3", "4", "4", "3"], [True, True, True, True])
    assert m.per_answer_recall == {"3": 1.0, "4": 1.0} and m.macro_f1 == 1.0


def test_open_answers_get_no_class_metrics():
    gold = [str(k) for k in range(30)]
    m = answer_metrics(gold, gold, [True] * 30)
    assert m.balanced_accuracy is None and m.macro_f1 is None and m.per_answer_recall is None
    assert m.collapse_rate == pytest.approx(1 / 30) and m.classes == 30


def test_lengths_must_match():
    with pytest.raises(ValueError, match="equal lengths"):
        answer_metrics([0], [0, 1], [True])
    assert balanced_accuracy([], []) == 0.0
