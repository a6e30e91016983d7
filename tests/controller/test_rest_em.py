"""ReST^EM on the tiny model: E-step records and the outcome cache, M-step SFT with TRL, the whole loop + manifest."""

from __future__ import annotations

import json

import pytest
import yaml
from peft import PeftModel

from degaml.controller.episode.outcome_cache import OutcomeCache, cache_key
from degaml.controller.policy.model import Policy
from degaml.controller.policy.rest_em import baseline_accuracy, rollout_task, sft_policy, task_context, train_policy
from degaml.generator.sampler import AdapterSampler
from degaml.models import load_llm
from degaml.specs import load_meta_spec, load_spec, spec_from_dict
from degaml.specs.meta import PolicyRecipe
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

RECIPE = PolicyRecipe(iterations=1, steps_per_episode=1, samples_per_state=2, validation_items=8, epochs=1, lr=1e-3,
                      batch_size=2, max_length=768, lora_rank=2, lora_alpha=4)


@pytest.fixture
def toy(tmp_path, tiny_loaded, tiny_model_dir, tiny_generator_dir, tiny_encoder):
    spec = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir)))
    sampler = AdapterSampler.load(tiny_generator_dir, tmp_path / "adapters", encoder=tiny_encoder)
    ctx = task_context(tiny_loaded, spec, sampler, RECIPE, tmp_path / "work")
    return ctx, OutcomeCache(tmp_path / "outcomes")


@pytest.mark.slow
def test_rollout_records_and_cache_reuse(toy, tiny_loaded):
    ctx, cache = toy
    assert len(ctx.task.validation) == RECIPE.validation_items
    records = rollout_task(ctx, Policy(tiny_loaded, None), RECIPE, cache, "gen", seed=0, log=lambda _: None)
    assert 1 <= len(records) <= RECIPE.samples_per_state
    for r in records:
        assert r["prompt"][0]["role"] == "system" and r["completion"][0]["role"] == "assistant"
        if r["reward"] == 1:  # the spec's rule (paired by default): above the current configuration, significantly
            assert r["accuracy"] > r["baseline"] and r["p_value"] < 0.05
    executed = len(cache)
    again = rollout_task(ctx, Policy(tiny_loaded, None), RECIPE, cache, "gen", seed=0, log=lambda _: None)
    assert again == records and len(cache) == executed  # seeded sampling replays; every outcome came from the cache


@pytest.mark.slow
def test_exploration_samples_uniformly_random_actions_and_says_so(toy, tiny_loaded):
    from degaml.strategies.registry import Action

    ctx, cache = toy
    explore = RECIPE.model_copy(update={"exploration": 1.0, "samples_per_state": 3})
    records = rollout_task(ctx, Policy(tiny_loaded, None), explore, cache, "gen", seed=0, log=lambda _: None)
    assert records and all(r["sampler"] == "random" for r in records)
    for r in records:  # the completion is a valid action in the policy's own canonical JSON
        action = json.loads(r["completion"][0]["content"])
        assert Action.model_validate(action).model_dump(mode="json", by_alias=True) == action
    assert len({r["completion"][0]["content"] for r in records}) == len(records)  # tried actions are not repeated
    again = rollout_task(ctx, Policy(tiny_loaded, None), explore, cache, "gen", seed=0, log=lambda _: None)
    assert again == records  # seeded: a resumed E-step replays the same exploration
    plain = rollout_task(ctx, Policy(tiny_loaded, None), RECIPE, cache, "gen", seed=0, log=lambda _: None)
    assert all(r["sampler"] == "policy" for r in plain)


def test_cache_keys_separate_what_outcomes_depend_on(toy):
    ctx, _ = toy
    action = {"strategy": {"family": "lora_mix", "lambda": 0.5}}
    base = cache_key(ctx.spec, "g", action, "validation", 8)
    assert base == cache_key(ctx.spec, "g", json.loads(json.dumps(action)), "validation", 8)
    assert len({base, cache_key(ctx.spec, "g2", action, "validation", 8), cache_key(ctx.spec, "g", action, "test", 8),
                cache_key(ctx.spec, "g", action, "validation", 9),
                cache_key(ctx.spec, "g", {"strategy": {"family": "lora_mix", "lambda": 1.0}}, "validation", 8)}) == 5


@pytest.mark.slow
def test_sft_policy_writes_a_peft_adapter(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    records = [{"prompt": [{"role": "system", "content": "pick"}, {"role": "user", "content": f"task {i}"}],
                "completion": [{"role": "assistant", "content": '{"strategy":{"family":"lora_mix","lambda":0.5}}'}]}
               for i in range(4)]
    metrics = sft_policy(str(tiny_model_dir), "cpu", records, RECIPE.model_copy(update={"epochs": 3}), tmp_path / "policy")
    assert metrics["examples"] == 4 and metrics["steps"] == 6 and metrics["last_loss"] < metrics["first_loss"]
    assert (tmp_path / "policy" / "adapter_model.safetensors").is_file()
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(tmp_path / "policy"))


def zero_theta0(spec, meta, out, tiny_model_dir, tiny_generator_dir) -> None:
    """Cache a θ₀ validation configuration with every item wrong for `spec` under run directory `out`."""
    from degaml.io import file_sha256

    ctx = task_context(load_llm(str(tiny_model_dir), device="cpu"), spec, AdapterSampler.load(tiny_generator_dir, out / "adapters"),
                       meta.policy, out / "work" / spec.task)
    gen_id = file_sha256(tiny_generator_dir / "generator.safetensors")[:16]
    n_val = len(ctx.task.validation)
    OutcomeCache(out / "outcomes").put(cache_key(spec, gen_id, {"baseline": True, "per_item": True}, "validation", n_val),
                                       {"adapter": str(ctx.initial_adapter()), "accuracy": 0.0, "correct": "0" * n_val})


@pytest.mark.slow
def test_train_policy_end_to_end(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    task = tmp_path / "toy.yaml"
    task.write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir), adapt={"reward": "strict"})))
    meta_file = tmp_path / "meta.yaml"
    meta_file.write_text(yaml.safe_dump({"version": 1, "name": "toy", "tasks": ["toy.yaml"], "model": str(tiny_model_dir),
                                         "device": "cpu", "policy": RECIPE.model_dump() | {"max_length": 4096}}))
    meta = load_meta_spec(meta_file)
    spec = load_spec(task, [f"model={tiny_model_dir}", "device=cpu"])
    out = tmp_path / "policy-run"
    zero_theta0(spec, meta, out, tiny_model_dir, tiny_generator_dir)  # any action scoring above 0 earns reward 1 (strict)
    manifest = train_policy(meta, [spec], tiny_generator_dir, out, log=lambda _: None, command="degaml policy train meta.yaml")
    it = manifest["iterations"][0]
    assert it["samples"] >= 1 and it["accepted"] >= 1 and it["reward_rate"] == it["accepted"] / it["samples"]
    assert it["sft"]["examples"] == it["accepted"]
    saved = json.loads((out / "policy" / "manifest.json").read_text())
    assert saved["command"] == "degaml policy train meta.yaml" and len(saved["adapter_sha256"]) == 64
    assert (out / "policy" / "adapter_config.json").is_file()
    again = train_policy(meta, [spec], tiny_generator_dir, out, log=lambda _: None)  # resumes: nothing re-run
    assert again["iterations"][0]["accepted"] == it["accepted"]


@pytest.mark.slow
def test_sharded_e_step_splits_tasks_and_the_unsharded_run_only_does_the_m_step(tmp_path, tiny_model_dir, tiny_generator_dir):
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    for name in ("a", "b", "c"):
        (specs_dir / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir), task=name,
                                                                             adapt={"reward": "strict"})))
    meta_file = specs_dir / "meta.yaml"
    meta_file.write_text(yaml.safe_dump({"version": 1, "name": "toy", "tasks": ["a.yaml", "b.yaml", "c.yaml"],
                                         "model": str(tiny_model_dir), "device": "cpu",
                                         "policy": RECIPE.model_dump() | {"max_length": 4096}}))
    meta = load_meta_spec(meta_file)
    specs = [load_spec(specs_dir / f"{n}.yaml", [f"model={tiny_model_dir}", "device=cpu"]) for n in ("a", "b", "c")]
    out = tmp_path / "run"
    for spec in specs:  # θ₀ gets every item wrong: an action scoring above 0 earns reward 1, so the M-step has data
        zero_theta0(spec, meta, out, tiny_model_dir, tiny_generator_dir)
    first = train_policy(meta, specs, tiny_generator_dir, out, log=lambda _: None, shard=(1, 2))
    assert first == {"shard": [1, 2], "iteration": 1, "rolled_out": ["a", "c"], "missing": ["b"]}
    assert not (out / "policy").exists() and not (out / "iter-1" / "policy").exists()
    second = train_policy(meta, specs, tiny_generator_dir, out, log=lambda _: None, shard=(2, 2))
    assert second["rolled_out"] == ["b"] and second["missing"] == []
    done = {p.name: p.stat().st_mtime_ns for p in (out / "iter-1").glob("rollouts-*.jsonl")}
    assert sorted(done) == ["rollouts-a.jsonl", "rollouts-b.jsonl", "rollouts-c.jsonl"]
    logs: list[str] = []
    manifest = train_policy(meta, specs, tiny_generator_dir, out, log=logs.append)
    assert manifest["iterations"][0]["samples"] >= 3 and manifest["iterations"][0]["accepted"] >= 1
    assert (out / "policy" / "adapter_config.json").is_file()
    assert not any(" ep0 " in line for line in logs)  # no task was rolled out again
    assert {p.name: p.stat().st_mtime_ns for p in (out / "iter-1").glob("rollouts-*.jsonl")} == done


def test_baseline_is_cached(toy):
    ctx, cache = toy
    first = baseline_accuracy(ctx, cache, "g")
    assert len(cache) == 1 and baseline_accuracy(ctx, cache, "g") == first


def test_sft_refuses_records_longer_than_max_length(tmp_path, tiny_model_dir):
    from degaml.errors import DegamlError

    records = [{"prompt": [{"role": "user", "content": "x " * 400}], "completion": [{"role": "assistant", "content": "{}"}]}]
    with pytest.raises(DegamlError, match="policy.max_length"):
        sft_policy(str(tiny_model_dir), "cpu", records, RECIPE.model_copy(update={"max_length": 64}), tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_estep_reward_rule_comes_from_the_recipe_where_set(tmp_path):
    from degaml.controller.policy.estep import estep_adapt

    mc = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(30))))
    numeric = mc.model_copy(update={"format": "numeric"})
    own = estep_adapt(mc, RECIPE)  # "spec": each task's own rule, `auto` resolved
    assert (own.metric, own.alpha, own.reward) == ("balanced_acc", mc.adapt.alpha, mc.adapt.reward)
    assert estep_adapt(numeric, RECIPE).metric == "acc"
    rule = RECIPE.model_copy(update={"metric": "balanced_acc", "alpha": 0.1})
    assert (estep_adapt(mc, rule).metric, estep_adapt(mc, rule).alpha) == ("balanced_acc", 0.1)
    assert (estep_adapt(numeric, rule).metric, estep_adapt(numeric, rule).alpha) == ("acc", 0.1)  # free-form answers
    assert estep_adapt(mc, RECIPE.model_copy(update={"metric": "acc"})).metric == "acc"


def test_exploration_of_later_iterations():
    from degaml.controller.policy.estep import iteration_exploration

    assert [iteration_exploration(RECIPE, k) for k in (1, 2, 3)] == [0.0, 0.0, 0.0]
    decaying = RECIPE.model_copy(update={"exploration": 1.0, "exploration_later": 0.25})
    assert [iteration_exploration(decaying, k) for k in (1, 2, 3)] == [1.0, 0.25, 0.25]
    with pytest.raises(ValueError, match="exploration_later"):
        PolicyRecipe(exploration_later=1.5)
