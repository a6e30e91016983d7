"""Every baseline runs on the tiny model under the protocol; the test split is untouched until final scoring."""

from __future__ import annotations

import json

import pytest
import yaml

from degaml.baselines.method import RunContext
from degaml.baselines.registry import METHODS, config_class, make_config
from degaml.baselines.runner import fit_method, run_baseline
from degaml.protocol import ProtocolError, ProtocolTask
from degaml.data import load_task_data
from degaml.data.guard import AccessLog, guard_task_data
from degaml.specs import load_spec
from degaml.generator.pipeline import collect_all
from degaml.specs import load_meta_spec
from tests.baselines.helpers import write_world
from tests.strategies.test_library_mix import TINY_COLLECTION


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tiny_loaded):
    paths = write_world(tmp_path_factory.mktemp("world"), tiny_model_dir)
    meta = yaml.safe_load(paths["meta"].read_text()) | {"collection": TINY_COLLECTION}
    paths["meta"].write_text(yaml.safe_dump(meta))
    collect_all(load_meta_spec(paths["meta"]), ["target"], tiny_loaded)  # the LoRA library of library_mix / best_source
    return paths


def _ptask(world) -> ProtocolTask:
    return ProtocolTask.from_task(load_task_data(load_spec(world["target"])))


def test_protocol_task_guards_test_and_labels_support(world):
    ptask = _ptask(world)
    assert len(ptask.support) == 5 and all(ex.answer is not None for ex in ptask.support)
    with pytest.raises(ProtocolError):
        _ = ptask.test
    assert ptask.test_reads == 0


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.slow
def test_every_method_fits_without_the_test_split_then_reads_it_once(name, world, tiny_loaded, tiny_generator_dir, tmp_path):
    log = AccessLog()  # the guard records every read of the test items the ProtocolTask holds
    ptask = ProtocolTask.from_task(guard_task_data(load_task_data(load_spec(world["target"])), log))
    config = make_config(name, "tiny", [f"meta={world['meta']}"] if "meta" in config_class(name).model_fields else [])
    ctx = RunContext(tiny_loaded, tmp_path, world["target"], generator=str(tiny_generator_dir))
    log.mark("fit")  # (building the view matched support ids over the whole pool)
    fitted = fit_method(name, ptask, config, ctx)  # any test access would raise ProtocolError
    assert ptask.test_reads == 0 and (fitted.adapters or fitted.constant is not None or fitted.scorer is not None)
    assert [a for a in log.test_reads() if a.index > log.marks["fit"]] == []
    log.mark("final scoring")
    record = run_baseline(name, ptask, config, ctx)
    assert ptask.test_reads == 1  # the one final scoring; none while fitting
    final = [a for a in log.test_reads() if a.index > log.marks["final scoring"]]
    assert all(a.scoring for a in final if a.is_label)  # test labels: read only by the evaluator
    assert record["labelled_items"] == 5 and record["test"]["n"] == 10 and record["validation"]["n"] == 8
    assert len(record["predictions"]["correct"]) == 10
    json.dumps(record)


@pytest.mark.parametrize("name", ["union_lora", "maml", "abmll"])
@pytest.mark.slow
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


def test_a_shipped_artifact_is_used_only_for_exactly_its_inputs(world, tiny_loaded, tmp_path, monkeypatch):
    import shutil

    from degaml.baselines import artifacts, union_lora
    from degaml.baselines.artifacts import load_meta

    from degaml.generator import meta_artifacts

    monkeypatch.setattr(meta_artifacts, "PRETRAINED", tmp_path / "pretrained")
    config = make_config("union_lora", "tiny", [f"meta={world['meta']}", "seed=7"])
    built = union_lora.build_union(tiny_loaded, config, ["target"])
    meta = load_meta(world["meta"])
    assert built.parent == meta.output_dir() / "baselines"
    shipped = tmp_path / "pretrained" / meta.name / built.name  # what `degaml build baselines` copies
    shutil.copytree(built, shipped)
    shutil.rmtree(built)
    assert union_lora.build_union(tiny_loaded, config, ["target"]) == shipped  # reused, nothing trained or written
    assert not built.exists()
    # The meta path written another way names the same inputs; another seed or exclusion does not.
    relative = make_config("union_lora", "tiny", [f"meta={world['meta'].parent}/./{world['meta'].name}", "seed=7"])
    assert artifacts.artifact_dir(meta, "union_lora", ["target"], relative.training_key()) == shipped
    other = make_config("union_lora", "tiny", [f"meta={world['meta']}", "seed=8"])
    assert artifacts.artifact_dir(meta, "union_lora", ["target"], other.training_key()).parent == meta.output_dir() / "baselines"
    assert artifacts.artifact_dir(meta, "union_lora", ["task_a"], config.training_key()).parent == meta.output_dir() / "baselines"
