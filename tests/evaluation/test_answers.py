"""Answer extraction and matching per format."""

from __future__ import annotations

import pytest

from degaml.data import Example
from degaml.evaluation.answers import apply_filter, extract_math_answer, is_correct, last_boxed, normalize_math
from degaml.specs import AnswerFilter


@pytest.mark.parametrize(
    "text,expected",
    [
        ("She pays 5 + 13 = 18 dollars.", "18"),
        ("Total: $1,600.", "$1,600."),
        ("no digits here", None),
        ("answer is -3 then 7", "7"),
        ("#### 42", "42"),
    ],
)
def test_numeric_flexible_extract_takes_last_number(text, expected):
    assert apply_filter(text, AnswerFilter(), "numeric") == expected


def test_strict_regex_and_first_match():
    strict = AnswerFilter(regex=r"#### (\-?[0-9\.\,]+)", select=0)
    assert apply_filter("steps 3 #### 12 more 9 #### 4", strict, "numeric") == "12"
    assert apply_filter("no marker 12", strict, "numeric") is None


@pytest.mark.parametrize(
    "pred,gold,ok",
    [("18", "18", True), ("$1,600.", "1600", True), ("18.0", "18", True), ("17", "18", False), ("x", "18", False), (None, "1", False)],
)
def test_numeric_equality(pred, gold, ok):
    assert is_correct(pred, Example("i", "q", answer=gold), "numeric") is ok


def test_boxed_extraction_handles_nesting():
    assert last_boxed(r"first \boxed{1} then \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert last_boxed("none") is None
    assert extract_math_answer("so $x = 5$ and finally $7$") == "7"


@pytest.mark.parametrize(
    "a,b",
    [
        (r"\dfrac{1}{2}", r"\frac12"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
        ("0.5", r"\frac{1}{2}"),
        (r"90^\circ", "90"),
        (r"x = 4", "4"),
        (r"\text{(C)}", "(C)"),
        ("5.00", "5"),
    ],
)
def test_math_normalisation_equates_equivalent_forms(a, b):
    assert normalize_math(a) == normalize_math(b)


def test_math_normalisation_keeps_different_answers_apart():
    assert normalize_math(r"\frac{1}{3}") != normalize_math(r"\frac{1}{2}")
    assert not is_correct("3", Example("i", "q", answer="4"), "math")


def test_exact_match_takes_first_nonempty_line():
    assert apply_filter("\n  elttit \nmore", AnswerFilter(), "exact_match") == "elttit"
    assert is_correct("elttit", Example("i", "q", answer="elttit"), "exact_match")


def test_reasoning_gym_items_use_their_verifier():
    calls = []

    def scorer(answer, entry):
        calls.append((answer, entry))
        return 1.0 if answer == "ok" else 0.0

    ex = Example("i", "q", answer="ok", meta={"scorer": scorer, "reasoning_gym": {"e": 1}})
    assert is_correct("ok", ex, "exact_match") and not is_correct("no", ex, "exact_match")
    assert calls[0] == ("ok", {"e": 1})
