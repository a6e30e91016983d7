"""Every baseline runs on the tiny model under the protocol; the test split is untouched until final scoring."""

from __future__ import annotations

import json

import pytest

from degaml.baselines.runner import METHODS, RunContext, fit_method, make_config, run_baseline
from degaml.comparison.protocol import ProtocolError, ProtocolTask
from degaml.data import load_task_data
from degaml.specs import load_spec
from tests.baselines.helpers import write_world


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir):
    return write_world(tmp_path_factory.mktemp("world"), tiny_model_dir)


def _ptask(world) -> ProtocolTask:
    return ProtocolTask.from_task(load_task_data(load_spec(world["target"])))


def test_protocol_task_guards_test_and_labels_support(world):
    ptask = _ptask(world)
    assert len(ptask.support) == 5 and all(ex.answer is not None for ex in ptask.support)
    with pytest.raises(ProtocolError):
        _ = ptask.test
    assert ptask.test_reads == 0


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_fits_without_the_test_split_then_reads_it_once(name, world, tiny_loaded, tiny_generator_dir, tmp_path):
    ptask = _ptask(world)
    config = make_config(name, "tiny", [f"meta={world['meta']}"] if name in ("union_lora", "maml", "abmll") else [])
    ctx = RunContext(tiny_loaded, tmp_path, world["target"], generator=str(tiny_generator_dir))
    fitted = fit_method(name, ptask, config, ctx)  # any test access would raise ProtocolError
    assert ptask.test_reads == 0 and fitted.adapters
    record = run_baseline(name, ptask, config, ctx)
    assert ptask.test_reads == 1  # the one final scoring; none while fitting
    assert record["labelled_items"] == 5 and record["test"]["n"] == 10 and record["validation"]["n"] == 8
    assert len(record["predictions"]["correct"]) == 10
    json.dumps(record)


@pytest.mark.parametrize("name", ["union_lora", "maml", "abmll"])
def test_meta_trained_artifacts_leave_the_target_out(name, world, tiny_loaded, tmp_path):
    (world["target"].parent / "target.jsonl").rename(world["target"].parent / "target.moved")  # unreadable target
    try:
        from degaml.baselines import abmll, maml, union_lora

        build = {"union_lora": union_lora.build_union, "maml": maml.build_init, "abmll": abmll.build_prior}[name]
        config = make_config(name, "tiny", [f"meta={world['meta']}"])
        art = build(tiny_loaded, config, ["target"])
    finally:
        (world["target"].parent / "target.moved").rename(world["target"].parent / "target.jsonl")
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["tasks"] == ["task_a", "task_b"] and manifest["excluded"] == ["target"]
    assert "minus-target" in art.name
