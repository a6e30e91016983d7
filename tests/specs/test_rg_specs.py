"""The reasoning-gym family specs (specs/rg) and the broad meta-training distribution built on them.

Every family spec validates and loads on a small size; each resolves (through `include: _base.yaml`) to exactly the
spec recorded in fixtures/rg_resolved.json from the flat files they replaced; the held-out families never reach
meta-training.
"""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from degaml.data import load_task_data
from degaml.errors import DegamlError, SpecError
from degaml.evaluation import PromptBuilder
from degaml.generator.pipeline import included_tasks
from degaml.specs import load_meta_spec, load_spec

REPO = Path(__file__).resolve().parents[2]
RG_SPECS = sorted((REPO / "specs" / "rg").glob("[!_]*.yaml"))  # _base.yaml is what they include, not a task
RG_BASE = REPO / "specs" / "rg" / "_base.yaml"
RESOLVED = json.loads((Path(__file__).parent / "fixtures" / "rg_resolved.json").read_text())
BROAD = REPO / "specs" / "meta" / "broad.yaml"
HELD_OUT = ["gcd", "word_sorting", "syllogism", "binary_alternation"]  # specs/rg stems; also atop broad.yaml and in docs


@pytest.mark.parametrize("path", RG_SPECS, ids=lambda p: p.stem)
def test_rg_spec_loads_small_and_every_prompt_renders(path):
    spec = load_spec(path)
    assert spec.task == f"rg_{path.stem}" and spec.format == "exact_match"
    assert spec.generation.max_new_tokens <= 32  # cheap to score
    small = spec.model_copy(update={"num_support": 4, "num_validation": 8, "num_test": 8})
    sized = [s.model_copy(update={"size": 120}) for s in spec.dataset]
    data = load_task_data(small.model_copy(update={"dataset": sized, "train_dataset": [s.model_copy(update={"size": 60}) for s in spec.train_dataset]}))
    assert len(data.validation) == 8 and data.train
    assert not {e.question for e in data.train} & {e.question for e in data.read("all", "check")}
    builder = PromptBuilder(small, data.train)
    for example in data.validation:
        assert builder.context(example).strip() and example.answer


def test_the_recorded_specs_are_exactly_the_shipped_families():
    assert sorted(RESOLVED) == [p.stem for p in RG_SPECS] and len(RG_SPECS) == 29


@pytest.mark.parametrize("path", RG_SPECS, ids=lambda p: p.stem)
def test_rg_spec_resolves_to_the_recorded_spec_and_keeps_its_header(path):
    assert load_spec(path).model_dump(mode="json") == RESOLVED[path.stem]
    lines = path.read_text().splitlines()
    assert "include: _base.yaml" in lines
    assert any(line.startswith("# Run:") and f"degaml eval specs/rg/{path.name}" in line for line in lines[:4])


def test_the_base_is_not_a_task():
    with pytest.raises(SpecError, match="task: Field required"):
        load_spec(RG_BASE)


@pytest.mark.slow
def test_rg_specs_are_full_sized_for_their_splits():
    for path in RG_SPECS:
        data = load_task_data(load_spec(path))
        assert len(data.validation) == 200 and len(data.test) == 300 and len(data.train) >= 100, path.stem


def test_broad_has_the_in_domain_tasks_and_at_least_20_families_minus_the_held_out():
    meta = load_meta_spec(BROAD)
    stems = [p.stem for p in meta.task_paths()]
    assert stems[-6:] == ["arc_challenge", "arc_easy", "hellaswag", "boolq", "piqa", "winogrande"]
    families = [p for p in meta.task_paths() if p.stem.startswith("rg_") or p.parent.name == "rg"]
    assert len(set(families)) == len(families)
    assert len(families) >= 20
    for name in HELD_OUT:
        assert (REPO / "specs" / "rg" / f"{name}.yaml").is_file()
        assert name not in stems and f"rg_{name}" not in stems
    assert f"held out: {', '.join('rg_' + h for h in HELD_OUT)}" in BROAD.read_text()
    tasks = [spec.task for _, spec in included_tasks(meta, [])]
    assert not [t for t in tasks if any(t.startswith(f"rg_{name}") for name in HELD_OUT)]
    assert len(tasks) > len(stems)  # several seeded draws per family


def test_exclude_works_for_a_family_and_refuses_held_out_ones():
    meta = load_meta_spec(BROAD)
    family = next(p.stem for p in meta.task_paths() if p.parent.name == "rg")
    kept = [spec.task for _, spec in included_tasks(meta, [family])]
    assert kept and not [t for t in kept if t == f"rg_{family}" or t.startswith(f"rg_{family}-draw")]
    with pytest.raises(DegamlError, match="not a task of this meta spec"):
        included_tasks(meta, [HELD_OUT[0]])


def test_the_held_out_evaluation_spec_lists_exactly_the_held_out_families():
    held = load_meta_spec(REPO / "specs" / "heldout" / "rg_families.yaml")
    assert sorted(p.stem for p in held.task_paths()) == sorted(HELD_OUT)
    broad = {spec.task for _, spec in included_tasks(load_meta_spec(BROAD), [])}
    assert not {spec.task for _, spec in included_tasks(held, [])} & broad
