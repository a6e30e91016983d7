"""The E-step of ReST^EM (`rest_em.py`): roll the current policy out on one meta-training task, through the same
rollout path as `degaml adapt`; every sampled action is a record. `rollout_unit` is one task's E-step as an
executor unit (in-process or a Ray worker): it loads the model, generator and policy once per process, shares the
run's outcome cache (one atomic file per entry) and writes the task's records atomically; a task whose records
file exists is not a unit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.controller.store.export import action_text
from degaml.controller.episode.outcome_cache import OutcomeCache, cache_key
from degaml.controller.policy.reference import unavailable_actions
from degaml.controller.policy.model import Policy, canonical
from degaml.controller.episode.observation import history_item, observe
from degaml.controller.episode.rollout import BALANCED_FORMATS, Configuration, Rollout, Transition, reward_metric
from degaml.controller.episode.state import HistoryItem, render_messages
from degaml.data import load_task_data
from degaml.executor import process_cached
from degaml.generator.sampler import AdapterSampler
from degaml.io import write_text_atomic
from degaml.models import LoadedModel
from degaml.specs.meta import PolicyRecipe
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
    rule = {"from": config.actions, "action": action, "rule": rollout.reward_rule, "alpha": rollout.alpha}
    if rollout.metric != "acc":  # keyed only where it differs from the first rule (earlier caches keep their keys)
        rule["metric"] = rollout.metric
    key = cache_key(ctx.spec, generator, rule, "validation", len(ctx.task.validation))
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


def estep_adapt(spec: TaskSpec, recipe: PolicyRecipe) -> AdaptConfig:
    """The reward rule the E-step applies on `spec`: the spec's adapt section, with the recipe's metric and alpha where
    set (a recipe-wide balanced_acc compares accuracy on tasks whose answers are free-form, e.g. numeric)."""
    metric = spec.adapt.metric if recipe.metric == "spec" else recipe.metric
    changes: dict[str, Any] = {"metric": "acc" if spec.format not in BALANCED_FORMATS else reward_metric(metric, spec.format)}
    if recipe.alpha is not None:
        changes["alpha"] = recipe.alpha
    return spec.adapt.model_copy(update=changes)


def iteration_exploration(recipe: PolicyRecipe, iteration: int) -> float:
    """The share of uniformly random samples in iteration `iteration` (1-based) of ReST^EM."""
    later = recipe.exploration if recipe.exploration_later is None else recipe.exploration_later
    return recipe.exploration if iteration <= 1 else later


def rollout_task(ctx: StrategyContext, policy: Policy, recipe: PolicyRecipe, cache: OutcomeCache, generator: str,
                 seed: int, log: Log, adapt: AdaptConfig | None = None, exploration: float | None = None) -> list[dict[str, Any]]:
    """E-step on one task: episodes through the same rollout path as `degaml adapt`; every sample is a record.

    At each state several actions are sampled (temperature > 0; with probability `recipe.exploration` a sample is a
    uniformly random action instead, recorded with `sampler: random`); each is tried from the current configuration and
    recorded with its reward; the first valid new sample is the one the episode takes (kept iff its reward is 1)."""
    from degaml.controller.policy.reference import RandomPolicy
    from degaml.strategies.registry import action_json_schema

    adapt = adapt or estep_adapt(ctx.spec, recipe)
    exploration = recipe.exploration if exploration is None else exploration
    explorer = RandomPolicy(salt=ctx.spec.task)
    schema = action_json_schema()
    rollout = Rollout(ctx, adapt.reward, adapt.alpha, metric=adapt.metric)
    theta0 = baseline_configuration(rollout, cache, generator)
    sampling = AdaptConfig(temperature=recipe.temperature, retries=2, max_new_tokens=96)
    n_val = len(ctx.task.validation)
    unavailable = unavailable_actions(ctx.spec)
    records = []
    for episode in range(recipe.episodes_per_task):
        history: list[HistoryItem] = []
        config = theta0
        for t in range(recipe.steps_per_episode):
            state = observe(rollout, config, theta0.accuracy, n_val, t, recipe.steps_per_episode, history, adapt.examples_in_state)
            messages = render_messages(state, schema)
            tried = ({canonical(a) for a in config.actions} | {canonical(h.action) for h in history if h.action}
                     | unavailable)  # families that cannot run here are not offered either
            taken: Transition | None = None
            for k in range(recipe.samples_per_state):
                sample_seed = seed + 7919 * episode + 131 * t + k
                explore = random.Random(f"explore:{ctx.spec.task}:{sample_seed}").random() < exploration
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


def rollout_unit(model: str, device: str, dtype: str, spec: TaskSpec, recipe: PolicyRecipe, generator_dir: Path,
                 out_dir: Path, policy_dir: Path | None, seed: int, generator_id: str, path: Path, iteration: int = 1,
                 log: Log | None = None) -> int:
    """One task's E-step in this process: roll out, write the records to `path` atomically; returns their number."""
    from degaml.models import load_llm

    loaded = process_cached(("llm", model, device, dtype, False), lambda: load_llm(model, device, dtype))
    sampler = process_cached(("sampler", str(generator_dir), str(out_dir / "adapters")),
                             lambda: AdapterSampler.load(generator_dir, out_dir / "adapters"))
    policy = process_cached(("policy", id(loaded), str(policy_dir)), lambda: Policy(loaded, policy_dir))
    ctx = task_context(loaded, spec, sampler, recipe, out_dir / "work" / spec.task)
    rows = rollout_task(ctx, policy, recipe, OutcomeCache(out_dir / "outcomes"), generator_id, seed=seed, log=log or print,
                        exploration=iteration_exploration(recipe, iteration))
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)
