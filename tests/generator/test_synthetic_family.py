"""A synthetic task family where the right LoRA is a known function of the prompts: each task's checkpoints are a
fixed linear map of its prompts' mean sentence embedding (plus small per-checkpoint noise). There the generator has
something to learn, so on held-out prompt batches × held-out checkpoints it must beat the prompt-blind mean of the
training checkpoints by a wide margin — a regression in training, tokenization or sharding cannot hide behind it."""

from __future__ import annotations

import pytest
import torch

from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import generate_state_dict
from degaml.generator.train import TaskTrajectory, train_generator
from degaml.specs.meta import CollectionRecipe, GeneratorRecipe

pytestmark = pytest.mark.slow  # every test reads the generator a module fixture trains

TOPICS = ["volcanoes and lava", "football and goals", "baking bread and cakes", "stock markets and shares"]
RANK, WIDTH, LAYERS = 2, 8, 2
COLLECT = CollectionRecipe(phase1_steps=1, phase1_lr=1e-3, phase2_steps=0, phase2_lr=1e-4, batch_size=1, max_length=8,
                           rank=RANK, alpha=4, target_modules=["q_proj"])
RECIPE = GeneratorRecipe(num_prompts=2, prompt_tokens=8, chunk=4, hidden_dims=[(4, 8, 16)], position_dim=8, steps=200,
                         lr=1e-2, weight_decay=0.0, batch_size=16, pairs_per_task=200, held_out_fraction=0.2)


def lora_keys() -> list[tuple[str, tuple[int, int]]]:
    base = "base_model.model.model.layers.{}.self_attn.q_proj.lora_{}.weight"
    return [(base.format(i, f), (RANK, WIDTH) if f == "A" else (WIDTH, RANK)) for i in range(LAYERS) for f in "AB"]


def family(encoder) -> list[TaskTrajectory]:
    """Tasks whose checkpoints = W · mean prompt embedding (+ 2% noise): a known function of the prompts."""
    g = torch.Generator().manual_seed(0)
    keys = lora_keys()
    n_params = sum(a * b for _, (a, b) in keys)
    out = []
    for topic in TOPICS:
        prompts = [f"A question about {topic}, number {i}?" for i in range(12)]
        pooled = encoder.encode(prompts, convert_to_tensor=True, show_progress_bar=False).float().cpu().mean(0)
        if not out:
            w = torch.randn(n_params, pooled.shape[0], generator=g)
        flat = w @ pooled
        checkpoints = []
        for _ in range(10):
            noisy = flat + 0.02 * flat.std() * torch.randn(n_params, generator=g)
            parts, start = {}, 0
            for key, shape in keys:
                parts[key] = noisy[start : start + shape[0] * shape[1]].view(shape).clone()
                start += shape[0] * shape[1]
            checkpoints.append(parts)
        out.append(TaskTrajectory(topic.split()[0], checkpoints, prompts))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder):
    embedder = PromptEmbedder(tiny_encoder, RECIPE.num_prompts, RECIPE.prompt_tokens)
    out = tmp_path_factory.mktemp("syn")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a busy machine
    try:
        return train_generator(family(tiny_encoder), RECIPE, COLLECT, embedder, "default", "synthetic", out), out
    finally:
        torch.set_num_threads(threads)


def test_generator_beats_the_prompt_blind_mean_when_the_lora_depends_on_the_prompts(trained):
    m = trained[0].config.meta["metrics"]
    assert m["held_out_pairs"] == len(TOPICS) * 8 * 2  # 20% of 40 batches × 20% of 10 checkpoints per task
    assert m["held_out_mse"] < 0.5 * m["prompt_blind_mean_mse"], m
    # the task's own mean is the floor here (targets vary only by noise); retrieval finds each task
    assert m["own_task_mean_mse"] < m["held_out_mse"]
    assert m["retrieval_hit_rate"] == 1.0 and m["retrieval_mse"] == pytest.approx(m["own_task_mean_mse"])
    assert set(m["per_task"]) == {t.split()[0] for t in TOPICS}


def test_generated_lora_is_nearest_its_own_tasks_lora_in_parameter_space(trained, tiny_encoder):
    """Through detokenization: the adapter generated from a task's prompts is closest to that task's LoRA."""
    bundle, _ = trained
    embedder = PromptEmbedder(tiny_encoder, RECIPE.num_prompts, RECIPE.prompt_tokens)
    tasks = family(tiny_encoder)
    truth = torch.stack([torch.cat([v.flatten() for v in t.checkpoints[0].values()]) for t in tasks])  # (K, P)
    for k, task in enumerate(tasks):
        state = generate_state_dict(bundle, embedder, task.prompts[:RECIPE.num_prompts])
        flat = torch.cat([state[key].flatten() for key in task.checkpoints[0]])
        assert int((truth - flat).norm(dim=1).argmin()) == k


def test_training_shards_are_removed_once_the_bundle_is_written(trained):
    _, out = trained
    assert (out / "generator.json").is_file() and not (out / "shards").exists()
