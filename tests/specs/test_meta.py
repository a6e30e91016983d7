"""Meta-training specs: profiles fill recipe defaults, explicit keys win, bad specs are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from degaml.errors import SpecError
from degaml.specs import load_meta_spec
from degaml.specs.meta import PROFILES

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, data) -> Path:
    (tmp_path / "t.yaml").write_text("version: 1\n")
    path = tmp_path / "meta.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def base(**extra):
    return {"version": 1, "name": "m", "tasks": ["t.yaml"], "collection": {}, "generator": {}, **extra}


def test_shipped_meta_spec_lists_the_six_in_domain_tasks():
    meta = load_meta_spec(REPO / "specs" / "meta" / "in_domain.yaml")
    assert [p.stem for p in meta.task_paths()] == ["arc_challenge", "arc_easy", "hellaswag", "boolq", "piqa", "winogrande"]
    assert meta.collection.phase1_steps == PROFILES["cpu"]["collection"]["phase1_steps"]


def test_paper_profile_is_the_papers_recipe(tmp_path):
    meta = load_meta_spec(write(tmp_path, base(profile="paper")))
    c = meta.collection
    assert (c.phase1_steps, c.phase1_lr, c.phase2_steps, c.phase2_lr, c.batch_size, c.max_samples, c.rank) == (75, 1e-4, 50, 1e-5, 32, 5000, 8)
    assert meta.generator.num_prompts == 128


def test_explicit_keys_and_overrides_beat_the_profile(tmp_path):
    path = write(tmp_path, base(collection={"batch_size": 3}))
    meta = load_meta_spec(path, ["collection.phase1_steps=7"])
    assert meta.collection.batch_size == 3 and meta.collection.phase1_steps == 7


@pytest.mark.parametrize(
    "data,needle",
    [
        (base(profile="tpu"), "profile"),
        (base(tasks=[]), "tasks"),
        (base(tasks=["missing.yaml"]), "task spec not found"),
        (base(collection={"rank": 0}), "collection.rank"),
        (base(generator={"hidden_dims": [[1, 2]]}), "generator.hidden_dims"),
        (base(collection={"unknown": 1}), "collection.unknown: unknown key"),
    ],
)
def test_bad_meta_specs(tmp_path, data, needle):
    with pytest.raises(SpecError) as info:
        load_meta_spec(write(tmp_path, data))
    assert needle in str(info.value) and "\n" not in str(info.value)


def rg_spec(task: str) -> dict:
    source = {"source": "reasoning_gym:chain_sum", "size": 60, "options": {"min_terms": 2, "max_terms": 2, "max_digits": 2}}
    return {"version": 1, "task": task, "format": "exact_match", "dataset": [source], "train_dataset": [source],
            "num_support": 5, "num_validation": 10, "num_test": 10, "seed": 7}


def test_draws_give_distinct_seeded_task_instances(tmp_path):
    from degaml.data import load_task_data
    from degaml.generator.pipeline import collection_dir, included_tasks
    from degaml.specs.meta import DRAW_SEED_STRIDE

    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(rg_spec(name)))
    meta = load_meta_spec(write(tmp_path, base(tasks=["a.yaml", {"spec": "b.yaml", "draws": 1}], draws=3)))
    specs = [spec for _, spec in included_tasks(meta, [])]
    assert [s.task for s in specs] == ["a", "a-draw1", "a-draw2", "b"]
    assert [s.seed for s in specs] == [7, 7 + DRAW_SEED_STRIDE, 7 + 2 * DRAW_SEED_STRIDE, 7]
    assert len({collection_dir(meta, s.task) for s in specs}) == 4  # each draw collects its own trajectory
    first, second = (load_task_data(s) for s in specs[:2])
    assert [e.question for e in first.validation] != [e.question for e in second.validation]
    assert [e.question for e in first.train] != [e.question for e in second.train]
    assert [p.stem for p, _ in included_tasks(meta, ["a"])] == ["b"]  # --exclude drops every draw of a spec


def test_a_task_entry_needs_a_valid_draw_count(tmp_path):
    with pytest.raises(SpecError) as info:
        load_meta_spec(write(tmp_path, base(tasks=[{"spec": "t.yaml", "draws": 0}])))
    assert "draws" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SpecError) as info:
        load_meta_spec(write(tmp_path, base(tasks=[{"spec": "missing.yaml", "draws": 2}])))
    assert 'task spec not found (got "missing.yaml")' in str(info.value)


def test_load_trajectories_reads_collected_draws_and_skips_missing_only_when_asked(tmp_path):
    import torch
    from safetensors.torch import save_file

    from degaml.errors import DegamlError
    from degaml.generator.pipeline import collection_dir, load_trajectories
    from degaml.generator.collect import TRAJECTORY_FILE

    (tmp_path / "a.yaml").write_text(yaml.safe_dump(rg_spec("a")))
    meta = load_meta_spec(write(tmp_path, base(tasks=["a.yaml"], draws=2, out_dir=str(tmp_path / "out"))))
    path = collection_dir(meta, "a") / TRAJECTORY_FILE
    path.parent.mkdir(parents=True)
    save_file({"w": torch.zeros(3, 2)}, str(path))  # draw 0 collected (3 checkpoints), draw 1 not
    with pytest.raises(DegamlError) as info:
        load_trajectories(meta, [])
    assert "a-draw1" in str(info.value)
    (only,) = load_trajectories(meta, [], skip_missing=True)
    assert only.task == "a" and len(only.checkpoints) == 3 and only.prompts
