"""Partition into support / validation / test / train: disjoint, seeded, sized as asked, labels hidden in support."""

from __future__ import annotations

import pytest

from degaml.data import load_task_data
from degaml.errors import DataError
from degaml.specs import spec_from_dict
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def ids(examples):
    return [e.id for e in examples]


def test_splits_are_disjoint_and_sized(mc_file):
    data = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_train=10)))
    parts = [set(ids(data.support)), set(ids(data.validation)), set(ids(data.read("test", "check"))), set(ids(data.train))]
    assert [len(p) for p in parts] == [5, 20, 20, 10]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not parts[i] & parts[j]


def test_support_is_unlabeled(mc_file):
    data = load_task_data(spec_from_dict(mc_spec_dict(mc_file)))
    assert all(e.answer is None and e.rationale is None for e in data.support)
    assert data.support_prompts() == [e.question for e in data.support]


def test_fewshot_examples_come_from_the_train_pool_or_the_labelled_support(mc_file):
    data = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_train=10)))
    assert data.fewshot_pool() == data.train
    protocol = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_train=10, fewshot_from="support")))
    assert ids(protocol.fewshot_pool()) == ids(protocol.support)
    assert all(e.answer is not None for e in protocol.fewshot_pool())  # demonstrations need their labels
    with pytest.raises(Exception, match="fewshot_from"):
        spec_from_dict(mc_spec_dict(mc_file, fewshot_from="test"))


def test_same_seed_same_splits_other_seed_different(mc_file):
    a = load_task_data(spec_from_dict(mc_spec_dict(mc_file)))
    b = load_task_data(spec_from_dict(mc_spec_dict(mc_file)))
    c = load_task_data(spec_from_dict(mc_spec_dict(mc_file, seed=99)))
    assert ids(a.validation) == ids(b.validation) and ids(a.read("test", "check")) == ids(b.read("test", "check"))
    assert ids(a.validation) != ids(c.validation)


def test_null_num_test_takes_the_rest_and_all_keeps_file_order(mc_file):
    data = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_test=None)))
    assert len(data.test) == 60 - 5 - 20
    assert ids(data.read("all", "check")) == [f"q{i}" for i in range(60)]


def test_growing_the_test_split_keeps_validation_fixed(mc_file):
    small = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_test=5)))
    large = load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_test=30)))
    assert ids(small.validation) == ids(large.validation) and ids(large.read("test", "check"))[:5] == ids(small.read("test", "check"))


def test_sizes_larger_than_the_data_are_an_error(mc_file):
    with pytest.raises(DataError, match="split sizes need"):
        load_task_data(spec_from_dict(mc_spec_dict(mc_file, num_validation=100)))


def test_train_dataset_excludes_items_of_the_evaluation_pool(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", mc_rows(50))
    train_rows = mc_rows(50)[:10] + [dict(r, id=f"t{r['id']}", question=r["question"] + " (train)") for r in mc_rows(30)]
    train = write_jsonl(tmp_path / "train.jsonl", train_rows)
    spec = spec_from_dict(mc_spec_dict(pool, train_dataset=[{"source": str(train)}]))
    data = load_task_data(spec)
    used = {e.question for e in data.support + data.validation + data.read("test", "check")}
    assert not used & {e.question for e in data.train}
    assert sum(e.id.startswith("t") for e in data.train) == 30
