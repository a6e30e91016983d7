"""benchmarks/studies/cell_answer_breakdown.py: accuracy per gold answer and the support-majority reference."""

from types import SimpleNamespace

import pytest

from tests.benchmarks.helpers import load_script

breakdown_script = load_script("studies/cell_answer_breakdown")


def test_gold_label_is_text_for_a_fixed_label_set_and_a_position_otherwise():
    item = SimpleNamespace(choices=["no", "yes"], answer=1)
    assert breakdown_script.gold_label(item, by_position=False) == "yes"
    assert breakdown_script.gold_label(item, by_position=True) == "choice 1"
    assert breakdown_script.gold_label(SimpleNamespace(choices=None, answer=12), by_position=False) == "12"


def test_a_method_answering_the_support_majority_everywhere_ties_the_constant():
    gold = {"a": "yes", "b": "yes", "c": "no", "d": "yes"}
    always_yes = {"method": "m", "test": {"accuracy": 0.75},
                  "predictions": {"ids": list(gold), "correct": [True, True, False, True]}}
    row = breakdown_script.breakdown(always_yes, gold, {i: g == "yes" for i, g in gold.items()})
    assert row["by_gold_answer"]["yes"]["accuracy"] == 1.0 and row["by_gold_answer"]["no"]["accuracy"] == 0.0
    assert row["vs_support_majority"] == {"delta": 0.0, "mcnemar_p": 1.0}
    flipped = breakdown_script.breakdown(always_yes, gold, {i: g == "no" for i, g in gold.items()})
    assert flipped["vs_support_majority"]["delta"] == pytest.approx(0.5)


def test_a_cell_of_another_split_is_refused():
    cell = {"method": "m", "test": {"accuracy": 1.0}, "predictions": {"ids": ["zz"], "correct": [True]}}
    with pytest.raises(SystemExit, match="not in the spec's test split"):
        breakdown_script.breakdown(cell, {"a": "yes"}, {"a": True})
