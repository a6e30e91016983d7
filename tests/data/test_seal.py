"""The runtime test-split guard: a sealed split counts but does not read until released, and keeps its state through
the places task data travels (dataclasses.replace, pickling to a worker, the protocol's view)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from degaml.data import load_task_data
from degaml.data.seal import ProtocolError, SealedSplit, sealed
from degaml.protocol import ProtocolTask, labelled_support
from degaml.specs import spec_from_dict
from tests.conftest import mc_spec_dict


@pytest.fixture
def task(mc_file):
    return load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_train=5, num_test=10)))


def test_loaded_task_data_has_its_test_split_and_pool_sealed(task):
    assert isinstance(task.test, SealedSplit) and isinstance(task.pool, SealedSplit)
    assert len(task.test) == 10 and task.test and len(task.pool) > len(task.test)  # counting is free
    for read in (lambda s: s[0], lambda s: s[:2], list, lambda s: s + (), lambda s: () + s, lambda s: s[0] in s):
        for split in (task.test, task.pool):
            with pytest.raises(ProtocolError, match="read only by the final scoring"):
                read(split)
    assert task.test.reads == 0 and task.test.releases == []
    assert list(task.validation) and list(task.train) and list(task.support)  # the other splits are plain


def test_a_release_opens_the_seal_for_its_block_only_and_is_recorded(task):
    with task.test.released("final scoring") as items:
        assert isinstance(items, tuple) and len(items) == 10
        assert task.test[0] is items[0]
        with task.test.released("nested"):
            assert list(task.test) == list(items)
    with pytest.raises(ProtocolError):
        _ = task.test[0]
    assert task.test.releases == ["final scoring", "nested"] and task.test.reads == 2  # a release is one read


def test_a_release_is_closed_again_when_its_block_raises(task):
    with pytest.raises(ValueError), task.test.released("final scoring"):
        raise ValueError("scoring failed")
    assert not task.test.is_released


def test_read_releases_for_one_named_read_and_plain_splits_pass_through(task):
    items = task.read("test", "degaml eval --split test")
    assert len(items) == 10 and not task.test.is_released and task.test.releases == ["degaml eval --split test"]
    assert task.read("validation", "unused") == task.validation and task.validation  # not sealed: no release recorded
    assert len(task.read("all", "everything")) == len(task.pool)


def test_the_seal_travels_with_replace_and_pickle(task):
    moved = dataclasses.replace(task, train=())
    assert moved.test is task.test  # the same seal: releasing one releases the other's view
    clone = pickle.loads(pickle.dumps(task))
    assert isinstance(clone.test, SealedSplit) and len(clone.test) == 10
    with pytest.raises(ProtocolError):
        _ = clone.test[0]
    with clone.test.released("worker's final scoring") as items:
        with task.test.released("parent"):
            assert [ex.id for ex in items] == [ex.id for ex in task.test]


def test_hand_built_task_data_is_sealed_and_the_protocol_finds_the_support_labels(task):
    with task.pool.released("build") as pool, task.test.released("build") as test:
        built = type(task)(task.spec, task.source, pool, task.support, task.validation, test, task.train)
    assert isinstance(built.test, SealedSplit) and not built.test.is_released and built.labelled_support == ()
    found = labelled_support(built)
    assert [ex.answer for ex in found] == [ex.answer for ex in task.labelled_support] and found[0].answer is not None
    assert built.pool.releases == ["labelled support from the pool"] and built.test.releases == []
    assert sealed("test", "t", built.test) is built.test


def test_the_protocol_view_shares_the_task_data_seal(task):
    ptask = ProtocolTask.from_task(task)
    with pytest.raises(ProtocolError):
        _ = ptask.test
    with ptask.released_test("final scoring") as items:
        assert len(items) == len(ptask.test) == 10
    assert task.test.releases == ["final scoring"] and ptask.test_reads == 1
