"""`degaml reproduce heldout` on the tiny world: every row (calibration, demonstrations, T-Few-style training,
LoRA-library composition, best single source, the trained baselines, DeGAML) gets a cell scored on the same test
items with predicted and gold answers, the balanced-accuracy companion is built, and no row reads the test split
before its final scoring."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from degaml.comparison.reproduce import reproduce
from degaml.comparison.tables import HELDOUT_ROWS
from degaml.generator.pipeline import collect_all
from degaml.specs import load_meta_spec
from tests.baselines.helpers import write_world
from tests.strategies.test_library_mix import TINY_COLLECTION


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tiny_generator_dir, tiny_loaded):
    paths = write_world(tmp_path_factory.mktemp("heldout-world"), tiny_model_dir)
    meta = yaml.safe_load(paths["meta"].read_text()) | {"collection": TINY_COLLECTION}
    paths["meta"].write_text(yaml.safe_dump(meta))
    collect_all(load_meta_spec(paths["meta"]), ["target"], tiny_loaded)  # the LoRA library, the target left out
    shutil.copytree(tiny_generator_dir, paths["meta"].parent / "meta-out" / "generator-minus-target")
    return paths


@pytest.mark.slow
def test_every_row_of_the_heldout_table_is_scored_on_the_same_items(world, tmp_path):
    out = tmp_path / "out"
    table = reproduce("heldout", [world["target"]], "tiny", 1, out, world["meta"])
    assert table["failed"] == []
    assert list(table["rows"]) == HELDOUT_ROWS and all("target" in row for row in table["rows"].values())
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").rglob("*.json"))]
    assert len(cells) == len(HELDOUT_ROWS)
    ids = {tuple(c["predictions"]["ids"]) for c in cells}
    assert len(ids) == 1  # paired: one set of test items, in one order
    for cell in cells:
        p = cell["predictions"]
        assert len(p["predicted"]) == len(p["gold"]) == len(p["correct"]) == cell["test"]["n"]
        assert cell["test"]["answers"]["collapse_rate"] > 0
    by_method = {c["method"]: c for c in cells}
    assert "task_a" in json.dumps(by_method["library_mix"]["info"]) and "target" not in by_method["best_source"]["info"]["validation"]
    assert "compute" not in by_method["majority"]  # loads no model
    assert by_method["calibrate_batch"]["compute"]["dtype"] == "float32"  # what a model-reading cell ran in
    assert by_method["degaml"]["compute"]["dtype"] == "float32"  # the episode's own model load
    assert table["balanced"]["tasks"] == ["target"] and set(table["balanced"]["rows"]) == set(HELDOUT_ROWS)
    assert "Balanced accuracy" in (out / "heldout.md").read_text()
