"""LoRA checkpoint collection on the tiny model: answer-only loss, one trajectory file, resume after a kill."""

from __future__ import annotations

import json

import pytest
import torch

from degaml.data import load_task_data
from degaml.generator.collect import TRAJECTORY_FILE, batch_indices, build_batch, collect_task, load_trajectory
from degaml.models import load_llm
from degaml.specs import spec_from_dict
from degaml.specs.meta import CollectionRecipe
from tests.conftest import mc_spec_dict

RECIPE = CollectionRecipe(phase1_steps=4, phase1_lr=1e-2, phase2_steps=2, phase2_lr=1e-3, batch_size=4, max_length=32,
                          rank=2, alpha=4, eval_checkpoints=2, eval_items=5)


@pytest.fixture
def task(mc_file, tiny_model_dir):
    return load_task_data(spec_from_dict(mc_spec_dict(mc_file, model=str(tiny_model_dir), num_train=12, num_test=5)))


def test_build_batch_masks_everything_but_the_answer(tiny_loaded):
    batch = build_batch(tiny_loaded.tokenizer, [("Question: x\nAnswer:", " four"), ("yes", " no true")], 64)
    for row in range(2):
        labelled = batch.labels[row][batch.labels[row] != -100]
        assert 0 < len(labelled) < int(batch.attention_mask[row].sum())
    assert (batch.labels[batch.attention_mask == 0] == -100).all()
    long = build_batch(tiny_loaded.tokenizer, [("word " * 100, " four")], 8)
    assert long.input_ids.shape[1] == 8 and (long.labels[0, -1] != -100)


def test_batch_indices_are_a_pure_function_of_step():
    assert batch_indices(10, 4, 7, 0) == batch_indices(10, 4, 7, 0)
    epoch = [i for step in range(2) for i in batch_indices(10, 4, step, 0)]
    assert len(set(epoch)) == 8


@pytest.mark.slow
def test_collection_writes_one_trajectory_and_restores_the_base(task, tiny_model_dir, tmp_path):
    loaded = load_llm(str(tiny_model_dir), device="cpu")
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    manifest = collect_task(loaded, task, RECIPE, tmp_path)
    checkpoints = load_trajectory(tmp_path / TRAJECTORY_FILE)
    assert len(checkpoints) == 6 == manifest["checkpoints"] and len(manifest["losses"]) == 6
    assert all("lora_A" in k or "lora_B" in k for k in checkpoints[0])
    assert not torch.equal(checkpoints[0][next(k for k in checkpoints[0] if "lora_B" in k)], checkpoints[-1][next(k for k in checkpoints[0] if "lora_B" in k)])
    assert [e["step"] for e in manifest["validation"]] == [0, 3, 6]
    assert json.loads((tmp_path / "manifest.json").read_text())["task"] == "toy_mc"
    after = loaded.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_killed_collection_resumes_to_the_same_trajectory(task, tiny_model_dir, tmp_path):
    loaded = load_llm(str(tiny_model_dir), device="cpu")
    collect_task(loaded, task, RECIPE, tmp_path / "straight")

    def kill_at_step_5(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect_task(loaded, task, RECIPE, tmp_path / "killed", save_every=2, progress=kill_at_step_5)
    assert (tmp_path / "killed" / "trajectory.partial.safetensors").is_file()
    assert not (tmp_path / "killed" / TRAJECTORY_FILE).exists()
    collect_task(loaded, task, RECIPE, tmp_path / "killed", save_every=2)
    straight = load_trajectory(tmp_path / "straight" / TRAJECTORY_FILE)
    resumed = load_trajectory(tmp_path / "killed" / TRAJECTORY_FILE)
    assert len(resumed) == len(straight)
    for a, b in zip(straight, resumed):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)
