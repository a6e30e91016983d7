"""ReST^EM (Singh et al. 2024) for the adaptation policy: `degaml policy train META_SPEC --out DIR`.

    π₀ = base model (no policy adapter)
    for k in 1..K:
        E-step: on every meta-training task (never the task being adapted: use --exclude), roll out π_{k−1}
                through the same rollout path as `degaml adapt` (controller.rollout: cumulative configurations,
                the spec's reward rule): episodes of T states; at each state sample several actions (temperature
                > 0), try each from the current configuration on validation (transitions cached by task/generator/
                configuration/action; failures never cached); the first valid sample moves the episode on.
        M-step: fine-tune a FRESH LoRA on the base model with TRL's SFTTrainer on the reward-1
                (prompt, completion) pairs of this E-step (loss on the completion = the action JSON only) → π_k.

Sharded E-step (`--shard K/N`, one process per core): shard K rolls out only the tasks i with i mod N = K−1 of the
first iteration whose rollouts are incomplete, and stops there; the M-step is run by the unsharded command, which
finds every task's records on disk. Shards of one run share its outcome cache (one atomic file per entry).

Resumable: each task's rollout records are written atomically when the task is done, executed strategies live in the
outcome cache (and sampling is seeded, so a restarted task replays the same actions and hits the cache), and each
iteration's policy adapter is written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.controller.store.export import action_text
from degaml.controller.episode.outcome_cache import OutcomeCache, cache_key
from degaml.controller.policy.model import Policy, canonical
from degaml.controller.episode.episode import history_item, observe
from degaml.controller.episode.rollout import Configuration, Rollout, Transition
from degaml.controller.episode.state import HistoryItem, render_messages
from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.generator.sampler import AdapterSampler
from degaml.io import atomic_directory, file_sha256, write_json, write_text_atomic
from degaml.models import LoadedModel, load_llm
from degaml.specs.meta import MetaSpec, PolicyRecipe
from degaml.specs.model import AdaptConfig, TaskSpec
from degaml.strategies.base import StrategyContext

Log = Callable[[str], None]


def task_context(loaded: LoadedModel, spec: TaskSpec, sampler: AdapterSampler, recipe: PolicyRecipe, work: Path) -> StrategyContext:
    """A strategy context whose validation split is cut to the recipe's `validation_items` (rollout speed)."""
    task = load_task_data(spec, on_skip=lambda _: None)
    if recipe.validation_items is not None:
        task = dataclasses.replace(task, validation=task.validation[: recipe.validation_items])
    return StrategyContext(loaded, spec, task, sampler, work, seed=spec.seed)


def transition(rollout: Rollout, action: dict[str, Any], config: Configuration, step: int, cache: OutcomeCache,
               generator: str) -> Transition:
    """The transition of `action` from `config` on validation: from the cache, or by running the strategy.

    Failed or reverted outcomes are not cached (a later iteration retries them), nor are transitions whose adapter
    directory has disappeared since."""
    ctx = rollout.ctx
    key = cache_key(ctx.spec, generator, {"from": config.actions, "action": action, "rule": rollout.reward_rule,
                                          "alpha": rollout.alpha}, "validation", len(ctx.task.validation))
    found = cache.get(key)
    if found is not None:
        t = Transition.from_dict(found)
        if t.candidate is not None and Path(t.candidate.adapter).exists():
            return t
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    t = rollout.step(action, config, step, ctx.work_dir / f"t-{digest}")
    if t.candidate is not None:
        cache.put(key, t.to_dict())
    return t


def baseline_configuration(rollout: Rollout, cache: OutcomeCache, generator: str) -> Configuration:
    """θ₀'s configuration on validation (accuracy and per-item correctness), cached."""
    ctx = rollout.ctx
    key = cache_key(ctx.spec, generator, {"baseline": True, "per_item": True}, "validation", len(ctx.task.validation))
    found = cache.get(key)
    if found is None:
        adapter = ctx.initial_adapter()
        found = rollout.initial(adapter, ctx.evaluate("validation", adapter)).model_dump()
        cache.put(key, found)
    return Configuration.model_validate(found)


def baseline_accuracy(ctx: StrategyContext, cache: OutcomeCache, generator: str) -> float:
    return baseline_configuration(Rollout(ctx), cache, generator).accuracy


def rollout_task(ctx: StrategyContext, policy: Policy, recipe: PolicyRecipe, cache: OutcomeCache, generator: str,
                 seed: int, log: Log, adapt: AdaptConfig | None = None) -> list[dict[str, Any]]:
    """E-step on one task: episodes through the same rollout path as `degaml adapt`; every sample is a record.

    At each state several actions are sampled (temperature > 0; with probability `recipe.exploration` a sample is a
    uniformly random action instead, recorded with `sampler: random`); each is tried from the current configuration and
    recorded with its reward; the first valid new sample is the one the episode takes (kept iff its reward is 1)."""
    from degaml.controller.policy.reference import RandomPolicy
    from degaml.strategies.registry import action_json_schema

    adapt = adapt or ctx.spec.adapt
    explorer = RandomPolicy(salt=ctx.spec.task)
    schema = action_json_schema()
    rollout = Rollout(ctx, adapt.reward, adapt.alpha, metric=adapt.metric)
    theta0 = baseline_configuration(rollout, cache, generator)
    sampling = AdaptConfig(temperature=recipe.temperature, retries=2, max_new_tokens=96)
    n_val = len(ctx.task.validation)
    records = []
    for episode in range(recipe.episodes_per_task):
        history: list[HistoryItem] = []
        config = theta0
        for t in range(recipe.steps_per_episode):
            state = observe(rollout, config, theta0.accuracy, n_val, t, recipe.steps_per_episode, history, adapt.examples_in_state)
            messages = render_messages(state, schema)
            tried = {canonical(a) for a in config.actions} | {canonical(h.action) for h in history if h.action}
            taken: Transition | None = None
            for k in range(recipe.samples_per_state):
                sample_seed = seed + 7919 * episode + 131 * t + k
                explore = random.Random(f"explore:{ctx.spec.task}:{sample_seed}").random() < recipe.exploration
                d = (explorer if explore else policy).decide(messages, sampling, seed=sample_seed, tried=tried)
                if d.action is not None and canonical(d.action) in tried:
                    continue  # a repeat within this state or episode adds no new information
                tr = transition(rollout, d.action, config, t, cache, generator) if d.action is not None else None
                reward = tr.reward if tr is not None else 0
                accuracy = tr.accuracy if tr is not None else None
                log(f"{ctx.spec.task} ep{episode} t{t} k{k}: {action_text(d.action, d.raw)[:90]} → "
                    f"{'failed' if accuracy is None else f'{accuracy:.3f}'} (current {config.accuracy:.3f}) reward {reward}")
                records.append({"prompt": messages, "completion": [{"role": "assistant", "content": action_text(d.action, d.raw)}],
                                "sampler": "random" if explore else "policy", "reward": reward, "accuracy": accuracy, "baseline": config.accuracy, "theta0": theta0.accuracy,
                                "p_value": tr.comparison.p_value if tr is not None and tr.comparison else None,
                                "task": ctx.spec.task, "family": (d.action or {}).get("strategy", {}).get("family"),
                                "episode": episode, "step": t})
                if d.action is not None:
                    tried.add(canonical(d.action))
                    taken = taken or tr
            if taken is not None:
                history.append(history_item(t, taken, theta0.accuracy))
                if taken.reward == 1 and taken.candidate is not None:
                    config = taken.candidate
    return records


def sft_policy(model_name: str, device: str, records: list[dict[str, Any]], recipe: PolicyRecipe, out_dir: Path) -> dict[str, Any]:
    """M-step: a fresh LoRA on a fresh copy of the base model, SFT on (prompt, completion) with TRL; loss on completions."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    loaded = load_llm(model_name, device, "float32")
    tok = loaded.tokenizer
    def n_tokens(record: dict[str, Any]) -> int:
        chat = record["prompt"] + record["completion"]
        return len(tok.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"])

    fits = [r for r in records if n_tokens(r) <= recipe.max_length]
    if not fits:
        raise DegamlError(f"policy.max_length: all {len(records)} accepted records are longer than {recipe.max_length} tokens")
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in fits])
    with atomic_directory(out_dir) as tmp:
        args = SFTConfig(
            output_dir=str(tmp / "trainer"), num_train_epochs=recipe.epochs, per_device_train_batch_size=recipe.batch_size,
            learning_rate=recipe.lr, lr_scheduler_type="cosine", logging_steps=1, save_strategy="no",
            report_to="none", use_cpu=loaded.device.type == "cpu", bf16=False, fp16=False, gradient_checkpointing=False,
            max_length=recipe.max_length, seed=recipe.seed, completion_only_loss=True, disable_tqdm=True,
        )
        lora = LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                          target_modules=list(recipe.target_modules), task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=loaded.model, args=args, train_dataset=data, processing_class=loaded.tokenizer, peft_config=lora)
        result = trainer.train()
        trainer.model.save_pretrained(str(tmp))
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        metrics = {"examples": len(fits), "too_long": len(records) - len(fits), "train_loss": result.training_loss, "first_loss": losses[0] if losses else None,
                   "last_loss": losses[-1] if losses else None, "steps": trainer.state.global_step}
        write_json(tmp / "sft_metrics.json", metrics, indent=2)
    return metrics


def train_policy(meta: MetaSpec, specs: list[TaskSpec], generator_dir: Path, out_dir: Path, iterations: int | None = None,
                 log: Log = print, command: str = "", shard: tuple[int, int] | None = None) -> dict[str, Any]:
    """Run ReST^EM; writes `out_dir/iter-k/{rollouts-<task>.jsonl, policy/}` and `out_dir/policy` + manifest.

    With `shard=(K, N)` only this shard's share of one E-step is run (see the module docstring); the return value is
    then `{"shard": [K, N], "iteration": k, "rolled_out": [...], "missing": [...]}` and no policy is written."""
    recipe = meta.policy
    n_iter = iterations or recipe.iterations
    if not (generator_dir / "generator.json").is_file():
        raise DegamlError(f"generator: '{generator_dir}' is not a generator directory; run `degaml generator train` first")
    dtype = specs[0].dtype if specs else "auto"  # the dtype `degaml adapt` scores these tasks in: one rollout path
    loaded = load_llm(meta.model, meta.device, dtype)
    sampler = AdapterSampler.load(generator_dir, out_dir / "adapters")
    cache = OutcomeCache(out_dir / "outcomes")
    generator_id = file_sha256(generator_dir / "generator.safetensors")[:16]
    contexts = [task_context(loaded, s, sampler, recipe, out_dir / "work" / s.task) for s in specs]
    policy_dir: Path | None = None
    history = []
    for k in range(1, n_iter + 1):
        start = time.perf_counter()
        it_dir = out_dir / f"iter-{k}"
        it_dir.mkdir(parents=True, exist_ok=True)
        policy = Policy(loaded, policy_dir)
        records, rolled, missing = [], [], []
        for i, ctx in enumerate(contexts):
            path = it_dir / f"rollouts-{ctx.spec.task}.jsonl"
            if not path.is_file():
                if shard is not None and i % shard[1] != shard[0] - 1:
                    missing.append(ctx.spec.task)  # another shard's task
                    continue
                rows = rollout_task(ctx, policy, recipe, cache, generator_id, seed=recipe.seed + 100_003 * k, log=log)
                write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
                rolled.append(ctx.spec.task)
            records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        accepted = [r for r in records if r["reward"] == 1]
        m_step_due = bool(accepted) and not (it_dir / "policy" / "adapter_config.json").is_file()
        if shard is not None and (missing or rolled or m_step_due):
            log(f"shard {shard[0]}/{shard[1]}: iteration {k} E-step share done ({len(rolled)} tasks rolled out; "
                f"{len(missing)} left to other shards); run without --shard for the M-step")
            return {"shard": list(shard), "iteration": k, "rolled_out": rolled, "missing": missing}
        rate = len(accepted) / max(1, len(records))
        per_task = {c.spec.task: sum(r["reward"] for r in records if r["task"] == c.spec.task) for c in contexts}
        log(f"iteration {k}: reward rate {rate:.3f} ({len(accepted)}/{len(records)}); accepted per task {per_task}")
        failed = sum(1 for r in records if r["accuracy"] is None)  # invalid output, or a strategy that failed / reverted
        entry: dict[str, Any] = {"iteration": k, "samples": len(records), "accepted": len(accepted), "failed": failed, "reward_rate": rate,
                                 "accepted_per_task": per_task, "policy_in": str(policy_dir) if policy_dir else "base"}
        if accepted:
            new_dir = it_dir / "policy"
            entry["sft"] = (json.loads((new_dir / "sft_metrics.json").read_text()) if (new_dir / "adapter_config.json").is_file()
                            else sft_policy(meta.model, meta.device, accepted, recipe, new_dir))
            policy_dir = new_dir
        else:
            log(f"iteration {k}: no accepted action; the policy stays {policy_dir or 'the base model'}")
        entry["seconds"] = time.perf_counter() - start
        history.append(entry)
    if policy_dir is None:
        raise DegamlError("ReST^EM accepted no action in any iteration: no policy adapter to write")
    final = out_dir / "policy"
    with atomic_directory(final) as tmp:
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(policy_dir / name, tmp / name)
        manifest = {
            "command": command, "meta_spec": meta.name, "tasks": [s.task for s in specs], "model": meta.model,
            "generator": str(generator_dir), "generator_sha256": file_sha256(generator_dir / "generator.safetensors"),
            "data": {c.spec.task: c.task.provenance.model_dump(mode="json") for c in contexts if c.task.provenance},
            "recipe": recipe.model_dump(), "iterations": history, "outcomes_cached": len(cache),
            "adapter_sha256": file_sha256(tmp / "adapter_model.safetensors"),
        }
        write_json(tmp / "manifest.json", manifest, indent=2)
    return manifest
