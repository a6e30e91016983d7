"""`majority`: the support's most common answer, scored as a constant on every item (no model)."""

from __future__ import annotations

import pytest

from degaml.baselines.majority import majority_answer
from degaml.protocol import score_split
from degaml.data import Example
from degaml.errors import DegamlError
from degaml.specs.model import TaskSpec
from tests.conftest import mc_spec_dict, numeric_spec_dict


def _mc(i: int, answer: int) -> Example:
    return Example(f"q{i}", f"question {i}", ("a", "b", "c"), answer)


def test_the_most_common_support_answer_wins_and_ties_go_to_the_first_in_order():
    assert majority_answer([_mc(0, 2), _mc(1, 2), _mc(2, 0)]) == 2
    assert majority_answer([_mc(0, 1), _mc(1, 0)]) == 0
    assert majority_answer([Example("g", "q", answer="7"), Example("h", "q", answer="7"), Example("i", "q", answer="1")]) == "7"


def test_no_labelled_support_is_an_error_naming_the_field():
    with pytest.raises(DegamlError, match="num_support"):
        majority_answer([Example("u", "q", ("a", "b"), None)])


def test_a_constant_choice_is_right_exactly_on_its_items(tmp_path):
    spec = TaskSpec.model_validate(mc_spec_dict(tmp_path / "x.jsonl"))
    items = [_mc(0, 1), _mc(1, 0), _mc(2, 1), _mc(3, 2)]
    score = score_split(None, spec, items, "test", [], (), constant=1)  # no model is loaded or read
    assert score.correct == [True, False, True, False] and score.accuracy == 0.5 and score.ids == ["q0", "q1", "q2", "q3"]


def test_a_constant_string_is_checked_like_a_generated_answer(tmp_path):
    spec = TaskSpec.model_validate(numeric_spec_dict(tmp_path / "x.jsonl"))
    items = [Example("a", "q", answer="1,000"), Example("b", "q", answer="12")]
    assert score_split(None, spec, items, "test", [], (), constant="1000").correct == [True, False]
