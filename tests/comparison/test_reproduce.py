"""`degaml reproduce table1|table2` on the tiny model with the tiny profile: files, Δ rows with p-values, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from degaml.comparison.reproduce import reproduce
from degaml.controller.store.trajectory_store import TrajectoryStore
from tests.baselines.helpers import write_world


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tiny_generator_dir):
    paths = write_world(tmp_path_factory.mktemp("repro-world"), tiny_model_dir)
    # the leave-one-out generator of `target` (trained on other data than the target's)
    shutil.copytree(tiny_generator_dir, paths["meta"].parent / "meta-out" / "generator-minus-target")
    return paths


@pytest.mark.parametrize("name,rows", [("table2", 4), ("table1", 6)])
@pytest.mark.slow
def test_reproduce_writes_the_table_files_and_resumes(name, rows, world, tmp_path):
    out = tmp_path / "out"
    table = reproduce(name, [world["target"]], "tiny", 1, out, world["meta"])
    assert table["failed"] == []
    for ext in ("md", "json", "png"):
        assert (out / f"{name}.{ext}").stat().st_size > 0
    data = json.loads((out / f"{name}.json").read_text())
    assert len(data["rows"]) == rows and all("target" in r and "avg" in r for r in data["rows"].values())
    for delta in data["deltas"]:
        assert delta["target"]["test"] == "McNemar exact" and 0 <= delta["target"]["p"] <= 1
        assert delta["avg"]["test"] == "paired bootstrap"
    md = (out / f"{name}.md").read_text()
    assert "Δ" in md and "p=" in md
    cells = sorted((out / "cells").rglob("*.json"))
    assert len(cells) == rows
    for cell in map(lambda c: json.loads(c.read_text()), cells):  # every row is paired on the same test items
        assert len(cell["predictions"]["correct"]) == cell["test"]["n"] == len(cell["predictions"]["ids"])
        if cell["method"] == "degaml":  # from the episode's own test read (any predictor), not a re-scoring
            final = [e for e in TrajectoryStore.open(Path(cell["info"]["run_dir"])).events() if e.kind == "final"][-1]
            assert cell["predictions"]["correct"] == [c == "1" for c in final.test.correct]
            assert cell["test"]["accuracy"] == final.test.accuracy and "rescored_test_accuracy" not in cell["info"]
            run = json.loads((Path(cell["info"]["run_dir"]) / "run.json").read_text())
            assert run["spec"]["fewshot_from"] == "support"  # the protocol's budget: no train-pool demonstrations
    victim, kept = cells[0], cells[1:]
    stamps = {c: c.stat().st_mtime_ns for c in kept}
    victim.unlink()  # as if killed before this cell finished
    again = reproduce(name, [world["target"]], "tiny", 1, out, world["meta"])
    assert victim.is_file() and all(c.stat().st_mtime_ns == stamps[c] for c in kept)
    assert again["rows"].keys() == table["rows"].keys()


def test_failed_cells_are_reported_not_cached(world, tmp_path):
    table = reproduce("table2", [world["target"]], "tiny", 1, tmp_path / "out", world["meta"], ["model=/no/such/model"])
    assert {f["method"] for f in table["failed"]} == {"base", "generator", "degaml"}  # the rows that need the model
    cached = list((tmp_path / "out").rglob("cells/**/*.json"))  # the support-majority answer needs none
    assert [json.loads(c.read_text())["method"] for c in cached] == ["majority"]
    assert "—" in (tmp_path / "out" / "table2.md").read_text()


def test_the_degaml_cell_key_follows_the_policy_adapter(tmp_path):
    from degaml.comparison.keys import policy_sha256

    dirs = []
    for i in range(2):
        d = tmp_path / f"policy-{i}"
        d.mkdir()
        (d / "adapter_config.json").write_text("{}")
        (d / "adapter_model.safetensors").write_bytes(bytes([i]) * 16)
        dirs.append(str(d))
    assert policy_sha256(dirs[0]) != policy_sha256(dirs[1])  # a retrained policy is a new cell, never a cache hit
    assert policy_sha256("random") is None and policy_sha256("base") is None


@pytest.mark.slow
def test_cached_generator_cells_load_without_the_generator(tmp_path, tiny_model_dir, tiny_generator_dir):
    paths = write_world(tmp_path / "world", tiny_model_dir)
    generator = paths["meta"].parent / "meta-out" / "generator-minus-target"
    shutil.copytree(tiny_generator_dir, generator)
    out = tmp_path / "out"
    first = reproduce("table2", [paths["target"]], "tiny", 1, out, paths["meta"])
    shutil.rmtree(generator)  # artifacts are not versioned: a new machine has the cells, not the generator
    again = reproduce("table2", [paths["target"]], "tiny", 1, out, paths["meta"])
    assert again["failed"] == [] and again["rows"] == first["rows"]
    fresh = reproduce("table2", [paths["target"]], "tiny", 1, tmp_path / "fresh", paths["meta"])
    assert {f["method"] for f in fresh["failed"]} == {"generator", "degaml"}  # never computed without it
    assert all("no leave-one-out generator" in f["error"] for f in fresh["failed"])


def test_the_plot_accepts_an_interval_a_hair_off_its_point_estimate(tmp_path):
    from degaml.comparison.tables import render_png

    # gsm8k's base cell at 0/100 once had a lower bound of 3.5e-18 > 0: matplotlib refuses negative whiskers
    table = {"title": "t", "tasks": ["gsm8k"],
             "rows": {"base": {"gsm8k": {"accuracy": 0.0, "ci95": [3.5e-18, 0.037]},
                               "avg": {"accuracy": 0.02, "ci95": [0.0201, 0.05]}}}}
    render_png(table, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 0


def test_a_cached_cell_without_gold_answers_gets_them_by_item_id_and_nothing_else_changes(world, tmp_path):
    from degaml.comparison.cells import fill_gold

    out = tmp_path / "out"
    reproduce("table2", [world["target"]], "tiny", 1, out, world["meta"], rows=["majority"])  # needs no model
    (path,) = (out / "cells").rglob("majority-*.json")
    fresh = json.loads(path.read_text())
    old = json.loads(path.read_text())
    del old["predictions"]["gold"]  # as cells were cached before records carried gold answers
    path.write_text(json.dumps(old))
    table = reproduce("table2", [world["target"]], "tiny", 1, out, world["meta"], rows=["majority"])
    filled = json.loads(path.read_text())
    assert filled["predictions"]["gold"] == fresh["predictions"]["gold"] and "gold_filled" in filled
    assert {k: v for k, v in filled.items() if k != "gold_filled"} == fresh  # correctness and the rest untouched
    assert table["rows"]["majority"]["target"]["accuracy"] == fresh["test"]["accuracy"]
    from degaml.comparison.cells import CellRunner

    task = CellRunner(out, "tiny", world["meta"]).plan("majority", world["target"], 0).task
    foreign = json.loads(json.dumps(old))
    foreign["predictions"]["ids"][0] = "not-an-item-of-this-task"
    assert fill_gold(foreign, task) is False and "gold" not in foreign["predictions"]  # never a partial guess
