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

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.controller.episode.outcome_cache import OutcomeCache
from degaml.controller.policy.estep import (Log, baseline_accuracy, baseline_configuration, rollout_task, rollout_unit,
                                            task_context, transition)
from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.executor import Executor, Unit, UnitResult, make_executor
from degaml.io import atomic_directory, file_sha256, write_json
from degaml.models import load_llm
from degaml.specs.meta import MetaSpec, PolicyRecipe
from degaml.specs.model import TaskSpec

__all__ = ["baseline_accuracy", "baseline_configuration", "rollout_task", "sft_policy", "task_context", "train_policy",
           "transition"]


def _unit_log(log: Log, k: int, total: int) -> Callable[[UnitResult], None]:
    """Log each finished E-step task: done/total with an ETA across workers, or its error."""
    began, done = time.monotonic(), [0]

    def on_done(result: UnitResult) -> None:
        done[0] += 1
        elapsed = time.monotonic() - began
        eta = elapsed * (total - done[0]) / done[0]
        what = f"{result.value} records" if result.ok else f"FAILED {result.error}"
        log(f"E-step iteration {k}: {done[0]}/{total} tasks ({result.label}: {what}; {result.seconds:.0f} s; eta {eta:.0f} s)")
    return on_done


def _provenance(specs: list[TaskSpec]) -> dict[str, Any]:
    tasks = {s.task: load_task_data(s, on_skip=lambda _: None) for s in specs}
    return {name: t.provenance.model_dump(mode="json") for name, t in tasks.items() if t.provenance}


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
                 log: Log = print, command: str = "", shard: tuple[int, int] | None = None,
                 executor: Executor | None = None) -> dict[str, Any]:
    """Run ReST^EM; writes `out_dir/iter-k/{rollouts-<task>.jsonl, policy/}` and `out_dir/policy` + manifest.

    With `shard=(K, N)` only this shard's share of one E-step is run (see the module docstring); the return value is
    then `{"shard": [K, N], "iteration": k, "rolled_out": [...], "missing": [...]}` and no policy is written.
    `executor` runs the E-step's tasks (default: in-process, one after another); a failed task stops the
    iteration after the others have finished (their records are kept)."""
    recipe = meta.policy
    n_iter = iterations or recipe.iterations
    if not (generator_dir / "generator.json").is_file():
        raise DegamlError(f"generator: '{generator_dir}' is not a generator directory; run `degaml generator train` first")
    dtype = specs[0].dtype if specs else "auto"  # the dtype `degaml adapt` scores these tasks in: one rollout path
    executor = executor or make_executor()
    cache = OutcomeCache(out_dir / "outcomes")
    generator_id = file_sha256(generator_dir / "generator.safetensors")[:16]
    policy_dir: Path | None = None
    history = []
    for k in range(1, n_iter + 1):
        start = time.perf_counter()
        it_dir = out_dir / f"iter-{k}"
        it_dir.mkdir(parents=True, exist_ok=True)
        units, missing = [], []
        for i, spec in enumerate(specs):
            path = it_dir / f"rollouts-{spec.task}.jsonl"
            if path.is_file():
                continue
            if shard is not None and i % shard[1] != shard[0] - 1:
                missing.append(spec.task)  # another shard's task
                continue
            args = (meta.model, meta.device, dtype, spec, recipe, generator_dir, out_dir, policy_dir,
                    recipe.seed + 100_003 * k, generator_id, path, k)
            units.append(Unit(spec.task, f"iteration {k} · {spec.task}", rollout_unit, args,
                              {"log": log} if executor.in_process else {}))  # a remote worker prints (Ray forwards it)
        results = executor.run(units, _unit_log(log, k, len(units)))
        if bad := [r for r in results if not r.ok]:
            raise DegamlError(f"E-step iteration {k}: {len(bad)} of {len(units)} task(s) failed (first: {bad[0].label}: "
                              f"{bad[0].error}); the others' records are kept — rerun to retry the failed ones")
        rolled = [r.key for r in results]
        records = [json.loads(line) for s in specs if (p := it_dir / f"rollouts-{s.task}.jsonl").is_file()
                   for line in p.read_text().splitlines() if line.strip()]
        accepted = [r for r in records if r["reward"] == 1]
        m_step_due = bool(accepted) and not (it_dir / "policy" / "adapter_config.json").is_file()
        if shard is not None and (missing or rolled or m_step_due):
            log(f"shard {shard[0]}/{shard[1]}: iteration {k} E-step share done ({len(rolled)} tasks rolled out; "
                f"{len(missing)} left to other shards); run without --shard for the M-step")
            return {"shard": list(shard), "iteration": k, "rolled_out": rolled, "missing": missing}
        rate = len(accepted) / max(1, len(records))
        per_task = {t.task: sum(r["reward"] for r in records if r["task"] == t.task) for t in specs}
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
            "data": _provenance(specs),
            "recipe": recipe.model_dump(), "iterations": history, "outcomes_cached": len(cache),
            "adapter_sha256": file_sha256(tmp / "adapter_model.safetensors"),
        }
        write_json(tmp / "manifest.json", manifest, indent=2)
    return manifest
