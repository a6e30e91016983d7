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
