"""Prompt rendering: lm-eval layout, per-choice contexts (WinoGrande), deterministic few-shot without leakage."""

from __future__ import annotations

import pytest

from degaml.data import Example
from degaml.errors import DataError
from degaml.evaluation import PromptBuilder
from degaml.specs import spec_from_dict
from tests.conftest import mc_spec_dict, numeric_spec_dict

EX = Example("a", "Which is red?", ("Mars", "Venus"), 0)


def test_arc_style_pairs(mc_file):
    builder = PromptBuilder(spec_from_dict(mc_spec_dict(mc_file)))
    assert builder.choice_pairs(EX) == [("Question: Which is red?\nAnswer:", " Mars"), ("Question: Which is red?\nAnswer:", " Venus")]
    assert not builder.choice_in_context


def test_winogrande_partial_scoring_puts_choice_in_context(mc_file):
    spec = spec_from_dict(mc_spec_dict(
        mc_file, doc_to_text="{{ question.split('_', 1)[0] }}{{ choice }}", doc_to_target="{{ question.split('_', 1)[1].strip() }}"
    ))
    ex = Example("w", "Sarah beat Maria so _ won the prize.", ("Sarah", "Maria"), 0)
    builder = PromptBuilder(spec)
    assert builder.choice_in_context
    assert builder.choice_pairs(ex) == [("Sarah beat Maria so Sarah", " won the prize."), ("Sarah beat Maria so Maria", " won the prize.")]


def test_fewshot_is_deterministic_and_never_the_item_itself(numeric_file):
    spec = spec_from_dict(numeric_spec_dict(numeric_file, num_fewshot=2, fewshot_target="{{rationale}} #### {{answer}}"))
    pool = [Example(f"t{i}", f"What is {i}?", answer=str(i), rationale=f"r{i}") for i in range(6)]
    target = Example("t3", "What is 3?", answer="3")
    builder = PromptBuilder(spec, pool)
    shots = builder.fewshot_examples(target)
    assert len(shots) == 2 and all(s.question != target.question for s in shots)
    assert builder.fewshot_examples(target) == shots
    context = builder.context(target)
    assert context.endswith("Question: What is 3?\nAnswer:") and context.count("####") == 2


def test_fewshot_without_enough_train_items_is_an_error(numeric_file):
    spec = spec_from_dict(numeric_spec_dict(numeric_file, num_fewshot=3))
    with pytest.raises(DataError, match="num_fewshot"):
        PromptBuilder(spec, [])


def test_undefined_template_variable_names_the_item(mc_file):
    builder = PromptBuilder(spec_from_dict(mc_spec_dict(mc_file, doc_to_text="{{ passage }}")))
    with pytest.raises(DataError, match="item a"):
        builder.choice_pairs(EX)
