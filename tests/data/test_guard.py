"""The split-access guard itself: what it records, what it leaves alone, and that guarded data is the same data."""

from __future__ import annotations

import dataclasses

import pytest

from degaml.data import load_task_data
from degaml.data.example import Example
from degaml.data.guard import AccessLog, GuardedExample, guard_task_data, scoring
from degaml.data.seal import SealedSplit
from degaml.evaluation.prompts import PromptBuilder
from degaml.specs import spec_from_dict
from tests.conftest import mc_spec_dict, numeric_spec_dict


@pytest.fixture
def task(mc_file):
    return load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_train=5, num_test=10)))


def test_guarded_data_is_the_same_data(task):
    log = AccessLog()
    guarded = guard_task_data(task, log)
    fields = lambda ex: (ex.id, ex.question, ex.choices, ex.answer, ex.rationale, ex.meta)  # noqa: E731
    for split in ("validation", "test", "train", "support", "all"):
        assert [fields(ex) for ex in guarded.read(split, "compare")] == [fields(ex) for ex in task.read(split, "compare")]
    assert isinstance(guarded.test, SealedSplit) and isinstance(guarded.pool, SealedSplit)  # still sealed
    assert all(isinstance(ex, GuardedExample) for ex in guarded.validation + guarded.read("test", "check"))
    assert not any(isinstance(ex, GuardedExample) for ex in guarded.train + guarded.support)
    plain = task.validation + task.read("test", "check")
    assert not any(isinstance(ex, GuardedExample) for ex in plain)  # production data stays plain


def test_test_items_record_every_read_and_labels_record_everywhere(task):
    log = AccessLog()
    guarded = guard_task_data(task, log)
    _ = guarded.validation[0].question, guarded.validation[0].choices, len(guarded.test)
    assert log.accesses == []  # validation inputs are free; counting a split is not reading it
    with guarded.test.released("final scoring"):
        _ = guarded.test[0].question
    _ = guarded.validation[1].answer
    with scoring():
        _ = guarded.validation[2].answer
    _ = guarded.train[0].answer  # the train pool's labels are not guarded
    assert [(a.split, a.field, a.scoring) for a in log.accesses] == [
        ("test", "question", False), ("validation", "answer", False), ("validation", "answer", True)]
    assert log.test_reads() == log.accesses[:1]
    assert [a.item for a in log.label_reads(scoring=False)] == [task.validation[1].id]


def test_pool_items_outside_the_splits_guard_their_labels(task):
    log = AccessLog()
    guarded = guard_task_data(task, log)
    handed_out = {id(ex) for ex in guarded.validation + guarded.read("test", "check") + guarded.train}
    leftovers = [ex for ex in guarded.read("all", "check") if id(ex) not in handed_out]
    assert leftovers  # the support items' labelled originals
    _ = leftovers[0].answer
    assert [a.split for a in log.accesses] == ["pool"]


def test_marks_order_the_accesses(task):
    log = AccessLog()
    guarded = guard_task_data(task, log)
    with guarded.test.released("early"):
        _ = guarded.test[0].id
    log.mark("final")
    with guarded.test.released("final scoring"):
        _ = guarded.test[1].id
    assert [a.item for a in log.before("final")] == [task.read("test", "check")[0].id]


def test_unlabeled_copy_and_prompts_do_not_touch_labels(mc_file):
    spec = spec_from_dict(mc_spec_dict(mc_file, num_train=5))
    log = AccessLog()
    guarded = guard_task_data(load_task_data(spec), log)
    ex = guarded.validation[0]
    assert type(ex.unlabeled()) is Example and ex.unlabeled().answer is None
    PromptBuilder(spec).choice_pairs(ex)  # the default templates never use the answer
    assert log.accesses == []


def test_a_template_that_shows_the_label_is_caught(mc_file):
    spec = spec_from_dict(mc_spec_dict(mc_file, doc_to_text="Q: {{question}} (hint: {{answer}})\nA:"))
    log = AccessLog()
    guarded = guard_task_data(load_task_data(spec), log)
    text = PromptBuilder(spec).context(guarded.validation[0])
    assert f"(hint: {load_task_data(spec).validation[0].answer})" in text
    assert [(a.split, a.field, a.scoring) for a in log.accesses] == [("validation", "answer", False)]


def test_replace_keeps_the_guard(numeric_file):
    log = AccessLog()
    guarded = guard_task_data(load_task_data(spec_from_dict(numeric_spec_dict(numeric_file))), log)
    cut = dataclasses.replace(guarded, validation=guarded.validation[:3])  # what ReST^EM does
    _ = cut.validation[0].answer
    assert len(log.accesses) == 1
