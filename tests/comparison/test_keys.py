"""Cells are keyed by the content of what they used: computed in one checkout, they are found from another one (other
absolute paths, no built artifacts) without loading a model; cells cached under the earlier, path-based key are
renamed to their content key by the migration (`degaml reproduce --rekey`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from degaml.comparison import cells as cells_module
from degaml.comparison.cells import CellRunner
from degaml.comparison.keys import portable_spec
from degaml.comparison.rekey import legacy_key, rekey
from degaml.comparison.reproduce import reproduce
from degaml.controller.episode import adapt as adapt_module
from degaml.specs import load_spec
from tests.baselines.helpers import write_world


def _checkout(root: Path, model_dir: Path) -> dict[str, Path]:
    """The tiny world as a checkout holds it: data next to the specs, named relative to them; artifacts under the
    current directory (runs/meta/<name>), not in the checkout."""
    paths = write_world(root, model_dir)
    for name in ("task_a", "task_b", "target"):
        spec = yaml.safe_load(paths[name].read_text())
        spec["dataset"] = [{"source": f"{name}.jsonl"}]
        paths[name].write_text(yaml.safe_dump(spec))
    meta = yaml.safe_load(paths["meta"].read_text())
    del meta["out_dir"]
    paths["meta"].write_text(yaml.safe_dump(meta))
    return paths


def _no_model(*_args, **_kwargs):
    raise AssertionError("a model was loaded")


def _names(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in (out / "cells").rglob("*.json"))


@pytest.mark.slow
def test_cells_computed_in_one_checkout_are_found_from_another(tmp_path, tiny_model_dir, tiny_generator_dir, monkeypatch):
    first = _checkout(tmp_path / "a" / "repo", tiny_model_dir)
    monkeypatch.chdir(first["meta"].parent)
    shutil.copytree(tiny_generator_dir, Path("runs/meta/tiny_meta/generator-minus-target"))
    computed = reproduce("table1", [first["target"]], "tiny", 1, tmp_path / "a" / "out", first["meta"])
    assert computed["failed"] == []

    second = tmp_path / "b" / "elsewhere" / "repo"  # another clone: specs and data, no artifacts, the cells copied in
    shutil.copytree(first["meta"].parent, second, ignore=shutil.ignore_patterns("runs"))
    shutil.copytree(tmp_path / "a" / "out" / "cells", tmp_path / "b" / "out" / "cells")
    monkeypatch.chdir(second)
    monkeypatch.setattr(cells_module, "load_llm", _no_model)
    monkeypatch.setattr(adapt_module, "load_llm", _no_model)
    again = reproduce("table1", [second / "target.yaml"], "tiny", 1, tmp_path / "b" / "out", second / "meta.yaml")
    assert again["failed"] == [] and again["rows"] == computed["rows"] and again["deltas"] == computed["deltas"]
    assert (tmp_path / "b" / "out" / "table1.md").read_text() == (tmp_path / "a" / "out" / "table1.md").read_text()
    assert _names(tmp_path / "b" / "out") == _names(tmp_path / "a" / "out")  # nothing recomputed under another key
    assert not (tmp_path / "b" / "out" / "work").exists() and not (second / "runs").exists()


def test_the_spec_part_of_a_key_names_no_place(tmp_path, tiny_model_dir):
    a = _checkout(tmp_path / "a", tiny_model_dir)
    b = write_world(tmp_path / "b" / "deeper", tiny_model_dir)  # absolute data paths, elsewhere
    assert portable_spec(load_spec(a["target"])) == portable_spec(load_spec(b["target"]))
    changed = load_spec(b["target"], ["num_validation=7"])
    assert portable_spec(changed) != portable_spec(load_spec(a["target"]))  # what decides a result still counts


def _as_legacy(path: Path, spec_path: Path, generator: str) -> Path:
    """Rewrite a content-keyed cell as the earlier code cached it: DeGAML's config was its run overrides (with the
    generator's absolute path), and the file was named by the earlier key."""
    record = json.loads(path.read_text())
    if record["method"] == "degaml":
        record["config"] = {"overrides": ["fewshot_from=support", "adapt.policy=random", "adapt.steps=1",
                                          f"generator={generator}"]}
    legacy = path.with_name(f"{record['method']}-s0-{legacy_key(record, load_spec(spec_path))}.json")
    legacy.write_text(json.dumps(record, indent=1))
    path.unlink()
    return legacy


@pytest.mark.slow
def test_the_migration_renames_path_keyed_cells_to_their_content_key(tmp_path, tiny_model_dir, tiny_generator_dir,
                                                                      monkeypatch):
    world = _checkout(tmp_path / "repo", tiny_model_dir)
    monkeypatch.chdir(world["meta"].parent)
    generator = (world["meta"].parent / "runs/meta/tiny_meta/generator-minus-target").resolve()
    shutil.copytree(tiny_generator_dir, generator)
    out = tmp_path / "out"
    first = reproduce("table2", [world["target"]], "tiny", 1, out, world["meta"])
    keyed = _names(out)
    legacy = [_as_legacy(p, world["target"], str(generator)) for p in sorted((out / "cells").rglob("*.json"))]
    assert not set(_names(out)) & set(keyed)
    decoy = legacy[0].with_name(legacy[0].name.split("-s0-")[0] + "-s0-000000000000.json")
    decoy.write_text(legacy[0].read_text())  # a name its recorded inputs do not give: left in place

    report = rekey(out, [world["target"]], "tiny", world["meta"])
    assert len(report.renamed) == 4 and [p for p, _ in report.skipped] == [decoy]
    decoy.unlink()
    assert _names(out) == keyed
    for path in (out / "cells").rglob("*.json"):
        assert path.stem.endswith(json.loads(path.read_text())["cell"])
    monkeypatch.setattr(cells_module, "load_llm", _no_model)
    monkeypatch.setattr(adapt_module, "load_llm", _no_model)
    again = reproduce("table2", [world["target"]], "tiny", 1, out, world["meta"])
    assert again["failed"] == [] and again["rows"] == first["rows"]
    assert rekey(out, [world["target"]], "tiny", world["meta"]).current  # a second migration changes nothing


def test_rekey_on_the_command_line_only_renames(tmp_path, tiny_model_dir, capsys):
    from degaml.cli import main

    world = _checkout(tmp_path / "repo", tiny_model_dir)
    out = tmp_path / "out"
    (out / "cells").mkdir(parents=True)
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "table2", "--tasks", str(world["target"]), "--meta", str(world["meta"]), "--profile", "tiny",
              "--out", str(out), "--rekey"])
    assert info.value.code == 0 and "0 cell(s) renamed" in capsys.readouterr().out
    assert [p.name for p in out.iterdir()] == ["cells"]  # no table written, no cell run


def test_only_the_rows_that_run_an_episode_key_the_adapt_section(tmp_path, tiny_model_dir):
    world = _checkout(tmp_path / "repo", tiny_model_dir)

    def key(method: str, overrides: list[str]) -> str:
        return CellRunner(tmp_path / "out", "tiny", world["meta"], overrides).plan(method, world["target"], 0).key

    for method in ("majority", "base", "generator", "calibrate_batch"):  # none reads the episode's settings
        assert key(method, ["adapt.budget_minutes=5", "adapt.reward=strict"]) == key(method, [])
    assert key("degaml", ["adapt.budget_minutes=5"]) != key("degaml", [])
    assert key("majority", ["num_validation=7"]) != key("majority", [])  # what decides its result still counts


def test_the_migration_renames_cells_keyed_by_the_earlier_content_scheme(tmp_path, tiny_model_dir):
    world = _checkout(tmp_path / "repo", tiny_model_dir)
    out = tmp_path / "out"
    runner = CellRunner(out, "tiny", world["meta"])
    current, earlier = runner.plan("majority", world["target"], 0), runner.plan("majority", world["target"], 0, scheme=1)
    assert current.key != earlier.key
    record = {"method": "majority", "task": "target", "seed": 0, "config": {}, "excluded": [], "cell": earlier.key}
    earlier.path.parent.mkdir(parents=True)
    earlier.path.write_text(json.dumps(record))
    kept = runner.plan("degaml", world["target"], 0)  # reads `adapt`: its key is the same in both schemes
    assert kept.key == runner.plan("degaml", world["target"], 0, scheme=1).key

    report = rekey(out, [world["target"]], "tiny", world["meta"])
    assert report.renamed == [(earlier.path, current.path)] and not earlier.path.exists()
    assert json.loads(current.path.read_text())["cell"] == current.key
