"""Residual generation (θ₀ = θ_union + G(prompts)) on the tiny model: θ_union is the union_lora baseline's artifact,
excluded tasks never reach it, a zero residual returns θ_union bit for bit, and the adapter loads in PEFT."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from degaml.errors import ModelLoadError
from degaml.generator.artifact import UNION_FILE, GeneratorBundle
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import compose, generate_state_dict, write_peft_adapter
from degaml.generator.residual import collect_residual, load_residual, residual_collection_dir, union_path
from degaml.generator.train import train_generator
from degaml.specs import load_meta_spec
from degaml.specs.meta import GeneratorRecipe
from tests.baselines.helpers import write_world
from tests.strategies.test_library_mix import TINY_COLLECTION

TINY_GENERATOR = {"num_prompts": 4, "prompt_tokens": 8, "chunk": 16, "hidden_dims": [(8, 8, 24)], "steps": 6, "lr": 1e-3,
                  "batch_size": 4, "pairs_per_task": 20, "position_dim": 8, "mode": "residual",
                  "union": {"steps": 3, "lr": 1e-2, "batch_size": 4, "max_length": 32}}  # = union_lora's `tiny` profile


@pytest.fixture(scope="module")
def residual(tmp_path_factory, tiny_model_dir, tiny_loaded, tiny_encoder):
    paths = write_world(tmp_path_factory.mktemp("residual-world"), tiny_model_dir)
    raw = yaml.safe_load(paths["meta"].read_text()) | {"collection": TINY_COLLECTION, "generator": TINY_GENERATOR}
    paths["meta"].write_text(yaml.safe_dump(raw))
    meta = load_meta_spec(paths["meta"])
    target_data = paths["target"].parent / "target.jsonl"
    target_data.rename(target_data.with_suffix(".moved"))  # the excluded task's data cannot be read at all
    try:
        collect_residual(meta, ["target"], tiny_loaded)
        trajectories, union, name = load_residual(meta, ["target"])
    finally:
        target_data.with_suffix(".moved").rename(target_data)
    recipe = GeneratorRecipe(**TINY_GENERATOR)
    embedder = PromptEmbedder(tiny_encoder, recipe.num_prompts, recipe.prompt_tokens)
    out = tmp_path_factory.mktemp("residual-generator") / "generator"
    train_generator(trajectories, recipe, meta.collection, embedder, "default", str(tiny_model_dir), out,
                    union=union, union_artifact=name)
    return paths, meta, trajectories, union, embedder, out


def test_excluded_tasks_never_reach_the_multi_task_lora(residual):
    _, meta, trajectories, _, _, _ = residual
    manifest = json.loads((union_path(meta, ["target"]) / "manifest.json").read_text())
    assert manifest["tasks"] == ["task_a", "task_b"] and manifest["excluded"] == ["target"]
    assert [t.task for t in trajectories] == ["task_a", "task_b"]
    assert not residual_collection_dir(meta, ["target"], "target").exists()
    assert union_path(meta, ["target"]) != union_path(meta, [])  # the full-meta θ_union is another artifact


def test_the_union_lora_baseline_reuses_the_generators_union(residual, tiny_loaded):
    from degaml.baselines import union_lora
    from degaml.baselines.registry import make_config

    paths, meta, *_ = residual
    built = union_path(meta, ["target"])
    stamp = (built / "state.safetensors").stat().st_mtime_ns
    config = make_config("union_lora", "tiny", [f"meta={paths['meta']}"])
    assert union_lora.build_union(tiny_loaded, config, ["target"]) == built  # one implementation, one artifact
    assert (built / "state.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained


def test_residual_checkpoints_start_from_the_union(residual):
    _, _, trajectories, union, _, _ = residual
    first, last = trajectories[0].checkpoints[0], trajectories[0].checkpoints[-1]
    size = sum(float(v.norm()) for v in union.values())
    assert sum(float(v.norm()) for v in first.values()) < 0.5 * size  # Δ after one step is small next to θ_union
    assert any(float(v.abs().max()) > 0 for v in last.values())  # …but the task moved it


def test_a_zero_residual_is_the_union_bit_for_bit_and_loads_in_peft(residual, tiny_model_dir, tmp_path):
    from peft import PeftModel, get_peft_model_state_dict

    from degaml.models import load_llm

    *_, union, embedder, out = residual
    bundle = GeneratorBundle.load(out)
    assert bundle.config.mode == "residual" and set(bundle.union) == set(union)
    prompts = ["a question", "another one", "a third", "the fourth"]
    trained = generate_state_dict(bundle, embedder, prompts)
    assert any(not torch.equal(trained[k], union[k]) for k in union)  # the trained residual is not zero
    with torch.no_grad():
        for p in bundle.model.parameters():
            p.zero_()
    state = generate_state_dict(bundle, embedder, prompts)
    assert all(torch.equal(state[k].view(torch.int32), union[k].float().view(torch.int32)) for k in union)
    adapter = write_peft_adapter(state, bundle, tmp_path / "adapter")
    peft_model = PeftModel.from_pretrained(load_llm(str(tiny_model_dir), device="cpu").model, str(adapter))
    loaded = get_peft_model_state_dict(peft_model)
    assert set(loaded) == set(union) and all(torch.equal(loaded[k], union[k]) for k in union)


def test_a_residual_generator_without_its_union_does_not_load(residual, tmp_path):
    import shutil

    *_, out = residual
    copy = tmp_path / "gen"
    shutil.copytree(out, copy)
    state = {k: v + 1 for k, v in GeneratorBundle.load(copy).union.items()}
    from safetensors.torch import save_file

    save_file(state, str(copy / UNION_FILE))
    with pytest.raises(ModelLoadError, match="sha256"):
        GeneratorBundle.load(copy)
    (copy / UNION_FILE).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        GeneratorBundle.load(copy)


def test_compose_requires_the_same_keys():
    a = {"x.lora_A.weight": torch.ones(2, 3)}
    with pytest.raises(ValueError):
        compose(a, {"y.lora_A.weight": torch.zeros(2, 3)})
    assert torch.equal(compose(a, {"x.lora_A.weight": torch.full((2, 3), 0.5)})["x.lora_A.weight"], torch.full((2, 3), 1.5))


def test_theta0_must_beat_the_union_with_evidence():
    from degaml.controller.episode.start import theta0_wins

    assert theta0_wins([True] * 12 + [False] * 8, [False] * 12 + [False] * 8, 0.05)  # 12 wins, no loss
    assert not theta0_wins([True] * 3 + [False] * 17, [False] * 20, 0.05)  # 3 wins: no evidence
    assert not theta0_wins([False] * 12 + [True] * 8, [True] * 12 + [True] * 8, 0.05)  # θ_union better


def test_a_residual_episode_starts_from_the_union_unless_theta0_wins(residual, tiny_loaded, tiny_encoder, tiny_generator_dir, tmp_path):
    from degaml.controller.episode.start import choose_start
    from degaml.data import load_task_data
    from degaml.generator.sampler import AdapterSampler
    from degaml.specs import load_spec
    from degaml.strategies.base import StrategyContext

    paths, *_, out = residual
    spec = load_spec(paths["target"])
    task = load_task_data(spec)
    for generator, residual_mode in ((out, True), (tiny_generator_dir, False)):
        sampler = AdapterSampler.load(generator, tmp_path / generator.name, encoder=tiny_encoder)
        ctx = StrategyContext(tiny_loaded, spec, task, sampler, tmp_path / "work", seed=0)
        theta0 = ctx.initial_adapter()
        result = ctx.evaluate("validation", theta0)
        start, scored = choose_start(ctx, theta0, result, alpha=0.05)
        if residual_mode:  # 8 validation items cannot show θ₀ better: the start is θ_union, scored
            assert start == sampler.union_adapter() and start != theta0 and scored.n == len(task.validation)
            assert choose_start(ctx, theta0, result, alpha=1.01)[0] == theta0  # with any evidence enough, θ₀ is kept
        else:
            assert (start, scored) == (theta0, result) and sampler.union_adapter() is None
