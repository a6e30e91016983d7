"""LoRA checkpoint collection (paper App. C step 1.1, App. E.4): train a LoRA on one task's train pool and keep
its parameters after every optimizer step — phase 1 at `phase1_lr`, then phase 2 at `phase2_lr`.

Loss covers the answer tokens only (prompt and padding are masked with -100). The trajectory is stored as ONE
safetensors file per task: each LoRA key maps to a (n_checkpoints, *shape) tensor. Runs are resumable: every
`save_every` steps the partial trajectory, the optimizer state and the step counter are written atomically, and a
restarted run continues from there with the same data order (batches are a pure function of seed and step).
A few evenly spaced checkpoints are then scored on the validation split, so the collection's quality is known.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from degaml.data import Example, TaskData
from degaml.errors import DataError
from degaml.evaluation import PromptBuilder, evaluate
from degaml.evaluation.loglikelihood import encode_pair
from degaml.io import atomic_path, write_json
from degaml.models.heads import answer_nll
from degaml.models.llm import LoadedModel
from degaml.specs.meta import CollectionRecipe

TRAJECTORY_FILE = "trajectory.safetensors"
MANIFEST_FILE = "manifest.json"


@dataclass
class TrainingBatch:
    input_ids: torch.Tensor  # (B, T) right-padded
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), -100 except answer tokens


def build_batch(tokenizer, pairs: list[tuple[str, str]], max_length: int) -> TrainingBatch:
    """Tokenize (prompt, answer) pairs; prompts are left-truncated so the answer always fits."""
    rows, labels = [], []
    for prompt, answer in pairs:
        ctx, cont = encode_pair(tokenizer, prompt, answer)
        cont = cont[: max_length - 1]
        ctx = ctx[-(max_length - len(cont)) :]
        rows.append(ctx + cont)
        labels.append([-100] * len(ctx) + cont)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    lab = torch.full((len(rows), width), -100)
    for i, (row, label) in enumerate(zip(rows, labels)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        lab[i, : len(row)] = torch.tensor(label)
    return TrainingBatch(ids, mask, lab)


def batch_indices(n_items: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Items of optimizer step `step`: consecutive slices of a per-epoch seeded permutation (resume-safe)."""
    per_epoch = max(1, n_items // batch_size)
    epoch, offset = divmod(step, per_epoch)
    order = list(range(n_items))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order[offset * batch_size : offset * batch_size + batch_size] or order[:batch_size]


def lora_config(rank: int, alpha: int, target_modules: list[str]):
    """The PEFT LoRA configuration every trained LoRA of degaml uses (no dropout)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(target_modules), lora_dropout=0.0)


def training_pairs(spec, examples: list[Example]) -> list[tuple[str, str]]:
    """(zero-shot prompt, answer) pairs of labelled examples: the supervised text every LoRA fit trains on."""
    builder = PromptBuilder(spec.model_copy(update={"num_fewshot": 0}))
    return [builder.training_pair(ex) for ex in examples]


def supervised_step(model, loaded: LoadedModel, optimizer, pairs: list[tuple[str, str]], max_length: int, what: str) -> float:
    """One optimizer step on the answer-token NLL of `pairs`; raises FloatingPointError(`what`) on a non-finite loss."""
    batch = build_batch(loaded.tokenizer, pairs, max_length)
    loss = answer_nll(model, batch.input_ids.to(loaded.device), batch.attention_mask.to(loaded.device),
                      batch.labels.to(loaded.device))
    if not torch.isfinite(loss):
        raise FloatingPointError(what)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))


def load_trajectory(path: Path) -> list[dict[str, torch.Tensor]]:
    """The checkpoints of a trajectory file, as a list of LoRA state dicts."""
    stacked = load_file(str(path))
    n = next(iter(stacked.values())).shape[0]
    return [{k: v[i] for k, v in stacked.items()} for i in range(n)]


def collect_task(
    loaded: LoadedModel,
    task: TaskData,
    recipe: CollectionRecipe,
    out_dir: Path,
    save_every: int = 5,
    progress: Callable[[int, float], None] | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> dict:
    """Collect one task's LoRA trajectory into `out_dir`; returns (and writes) its manifest. `init` (PEFT saved-key
    format) is the LoRA to start from — θ_union for a residual collection — instead of the seeded fresh one."""
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST_FILE
    if (out_dir / TRAJECTORY_FILE).is_file() and manifest_path.is_file():
        return json.loads(manifest_path.read_text())  # already complete
    train: list[Example] = list(task.train[: recipe.max_samples])
    if len(train) < recipe.batch_size:
        raise DataError(f"task '{task.spec.task}': train pool has {len(train)} items, fewer than batch_size {recipe.batch_size}")
    pairs = training_pairs(task.spec, train)
    total = recipe.phase1_steps + recipe.phase2_steps

    torch.manual_seed(recipe.seed)  # the same LoRA initialisation for every task
    model = get_peft_model(loaded.model, lora_config(recipe.rank, recipe.alpha, recipe.target_modules))
    if init is not None:
        set_peft_model_state_dict(model, init)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.phase1_lr, weight_decay=0.0)
    partial, state_file = out_dir / "trajectory.partial.safetensors", out_dir / "resume_state.pt"
    checkpoints: list[dict[str, torch.Tensor]] = []
    losses: list[float] = []
    start_step = 0
    if partial.is_file() and state_file.is_file():
        checkpoints = load_trajectory(partial)
        state = torch.load(state_file, weights_only=True)  # our own file: tensors and plain containers only
        optimizer.load_state_dict(state["optimizer"])
        losses, start_step = list(state["losses"]), int(state["step"])
        checkpoints, losses = checkpoints[:start_step], losses[:start_step]
        set_peft_model_state_dict(model, checkpoints[-1])
    began = time.perf_counter()
    model.train()
    try:
        for step in range(start_step, total):
            lr = recipe.phase1_lr if step < recipe.phase1_steps else recipe.phase2_lr
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = batch_indices(len(pairs), recipe.batch_size, step, recipe.seed)
            loss = supervised_step(model, loaded, optimizer, [pairs[i] for i in idx], recipe.max_length,
                                   f"task '{task.spec.task}': non-finite loss at step {step}")
            losses.append(loss)
            checkpoints.append({k: v.detach().float().cpu().clone() for k, v in get_peft_model_state_dict(model).items()})
            if progress is not None:
                progress(step + 1, losses[-1])
            if (step + 1) % save_every == 0 and step + 1 < total:
                _atomic_save({k: torch.stack([c[k] for c in checkpoints]) for k in checkpoints[0]}, partial)
                with atomic_path(state_file) as tmp:
                    torch.save({"optimizer": optimizer.state_dict(), "losses": losses, "step": step + 1}, tmp)
        seconds = time.perf_counter() - began
        model.eval()
        evaluations = _score_checkpoints(loaded, model, task, recipe, checkpoints)
    finally:
        model.unload()  # restore the base model for the next task
    _atomic_save({k: torch.stack([c[k] for c in checkpoints]) for k in checkpoints[0]}, out_dir / TRAJECTORY_FILE)
    manifest = {
        "task": task.spec.task,
        "data_source": task.source.source,
        "data": task.provenance.model_dump(mode="json") if task.provenance else None,
        "train_items": len(train),
        "recipe": recipe.model_dump(),
        "init": "given (residual collection)" if init is not None else f"fresh, seed {recipe.seed}",
        "checkpoints": len(checkpoints),
        "losses": losses,
        "seconds": seconds,
        "seconds_per_step": seconds / max(1, total - start_step),
        "validation": evaluations,
    }
    write_json(manifest_path, manifest, indent=2)
    partial.unlink(missing_ok=True)
    state_file.unlink(missing_ok=True)
    return manifest


def _score_checkpoints(loaded, model, task: TaskData, recipe: CollectionRecipe, checkpoints) -> list[dict]:
    """Validation accuracy of the base model (step 0) and of `eval_checkpoints` evenly spaced checkpoints."""
    from peft import set_peft_model_state_dict

    if recipe.eval_checkpoints == 0:
        return []
    items = task.validation[: recipe.eval_items]
    n = len(checkpoints)
    steps = sorted({round(n * (i + 1) / recipe.eval_checkpoints) for i in range(recipe.eval_checkpoints)})
    results = []
    with model.disable_adapter():
        base = evaluate(loaded, task.spec, items, "validation", fewshot_pool=task.fewshot_pool())
    results.append({"step": 0, "accuracy": base.accuracy, "ci95": list(base.ci95), "n": base.n})
    for step in steps:
        set_peft_model_state_dict(model, checkpoints[step - 1])
        inner = LoadedModel(model, loaded.tokenizer, loaded.name, loaded.source, loaded.device, loaded.dtype)
        result = evaluate(inner, task.spec, items, "validation", fewshot_pool=task.fewshot_pool())
        results.append({"step": step, "accuracy": result.accuracy, "ci95": list(result.ci95), "n": result.n})
    return results
