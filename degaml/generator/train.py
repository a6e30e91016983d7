"""Generator meta-training (paper App. C step 1.2, eq. 10): MSE between generated and collected parameter tokens
over random (prompt batch, checkpoint) pairs of the same task.

Each task contributes prompt batches (N unlabeled generator inputs from its train pool, embedded once) and its
trajectory of checkpoints (tokenized with one tokenizer fitted on all of them). Both are streamed to per-task
memory-mapped shards on disk (`shards.py`) and read back one training batch at a time, so RAM does not grow with
the number of tasks or checkpoints. Per task a fraction of the prompt batches AND of the checkpoints is held out:
training pairs never use either, and the reported reconstruction (`reconstruction.py`) scores held-out batches
against held-out checkpoints — for the generator and for the prompt-blind mean of the training checkpoints, the
retrieval baseline and the task's own mean checkpoint, so it is visible whether the generator uses the prompts.
Training is resumable: weights, optimizer and step are saved atomically every `save_every` steps.
Under `accelerate launch` with several processes the model is wrapped in DDP (see `distributed.py`): every process
draws the same seeded global batch and trains on its slice, so the update is the one-process update.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from degaml.errors import DegamlError
from degaml.generator.artifact import GeneratorBundle, GeneratorConfig
from degaml.generator.distributed import launched_world_size, set_worker_threads, use_cpu
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import sample_prompt_batch
from degaml.generator.reconstruction import in_training_reconstruction, masked_mse
from degaml.generator.shards import TaskShard
from degaml.generator.tokenizer import LoraTokenizer
from degaml.io import atomic_path, write_json
from degaml.specs.meta import CollectionRecipe, GeneratorRecipe

PROMPT_BATCHES_PER_TASK = 40


@dataclass
class TaskTrajectory:
    task: str
    checkpoints: Sequence[dict[str, torch.Tensor]]  # a list, or a lazy `shards.TrajectoryFile`
    prompts: list[str]  # unlabeled generator inputs of the train pool (`inputs.generator_inputs`)


def split_indices(n: int, fraction: float, first: bool = False) -> tuple[list[int], list[int]]:
    """(kept, held out) of range(n): max(1, fraction·n) items held out — the first ones, or evenly spaced."""
    if n < 2:
        raise DegamlError(f"need at least 2 items to hold some out, have {n} (collect ≥ 2 checkpoints per task)")
    n_held = min(n - 1, max(1, round(fraction * n)))
    held = list(range(n_held)) if first else sorted({int((i + 0.5) * n / n_held) for i in range(n_held)})
    return [i for i in range(n) if i not in held], held


def prompt_batches(prompts: Sequence[str], num_prompts: int, seed: int, n: int = PROMPT_BATCHES_PER_TASK) -> list[list[str]]:
    """A task's `n` prompt batches (seeded; in training the first ones are the held-out ones)."""
    return [sample_prompt_batch(prompts, num_prompts, seed * 1000 + i) for i in range(n)]


def build_shards(trajectories: Sequence[TaskTrajectory], tokenizer: LoraTokenizer, embedder: PromptEmbedder,
                 recipe: GeneratorRecipe, directory: Path, encoder_name: str = "",
                 n_batches: int = PROMPT_BATCHES_PER_TASK) -> list[TaskShard]:
    """Tokenize and embed every task into its shard under `directory` (task i's batches seeded by recipe.seed + i)."""
    shards = []
    for i, traj in enumerate(trajectories):
        batches = prompt_batches(traj.prompts, recipe.num_prompts, recipe.seed + i, n_batches)
        fingerprint = {"task": traj.task, "stats": hashlib.sha256(tokenizer.stats.numpy().tobytes()).hexdigest(),
                       "chunk": tokenizer.chunk, "checkpoints": len(traj.checkpoints), "encoder": encoder_name,
                       "shape": [embedder.num_prompts, embedder.prompt_tokens, embedder.dim],
                       "prompts": hashlib.sha256(json.dumps(batches).encode()).hexdigest()}
        shards.append(TaskShard.build(directory / f"{i:03d}-{traj.task}", fingerprint,
                                      len(traj.checkpoints), lambda c, t=traj: tokenizer.tokenize(t.checkpoints[c])[0],
                                      len(batches), lambda b, bs=batches: embedder.embed(bs[b])))
    return shards


def train_generator(
    trajectories: list[TaskTrajectory],
    recipe: GeneratorRecipe,
    collection: CollectionRecipe,
    embedder: PromptEmbedder,
    encoder_name: str,
    base_model: str,
    out_dir: Path,
    save_every: int = 200,
    progress: Callable[[int, float], None] | None = None,
    device: str = "cpu",
    stop_after: int | None = None,
    union: dict[str, torch.Tensor] | None = None,
    union_artifact: str | None = None,
) -> GeneratorBundle | None:
    """Fit a generator on the trajectories; writes the bundle (and resume state) to `out_dir` (main process only).

    `device` is a spec's device (auto|cpu|cuda). Launched with several processes, training is data-parallel.
    `stop_after`: train at most that many steps in this run, write the resume state and return None (a time-boxed
    slice of a job; the same command continues it).
    With `union` (θ_union, saved keys) the generator is residual: the trajectories hold Δ = checkpoint − θ_union
    (residual.DeltaCheckpoints) and the bundle carries θ_union.
    """
    torch.manual_seed(recipe.seed)
    first = trajectories[0].checkpoints[0]
    tokenizer = LoraTokenizer.from_state_dict(first, recipe.chunk)
    # streamed: one checkpoint in memory at a time; residual Δs are scaled, not centred (zero token = zero Δ)
    tokenizer.fit((c for t in trajectories for c in t.checkpoints), centre=union is None)
    accelerator, rank, world = None, 0, 1
    run_device = torch.device("cpu" if use_cpu(device) else "cuda")
    if launched_world_size() > 1:
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=use_cpu(device))
        set_worker_threads()
        rank, world, run_device = accelerator.process_index, accelerator.num_processes, accelerator.device
        if recipe.batch_size % world:
            raise DegamlError(f"generator.batch_size: {recipe.batch_size} is not divisible by the {world} launched processes")
    if rank == 0:
        shards = build_shards(trajectories, tokenizer, embedder, recipe, out_dir / "shards", encoder_name)
    if accelerator is not None:
        accelerator.wait_for_everyone()  # the other processes reuse the main process's shards (fingerprints match)
    if rank != 0:
        shards = build_shards(trajectories, tokenizer, embedder, recipe, out_dir / "shards", encoder_name)
    batch_split = [split_indices(s.n_batches, recipe.held_out_fraction, first=True) for s in shards]
    ckpt_split = [split_indices(s.n_checkpoints, recipe.held_out_fraction) for s in shards]
    mask = tokenizer.tokenize(first)[1].float()  # (T, r, chunk)
    dims = [(recipe.num_prompts, recipe.prompt_tokens, embedder.dim), *recipe.hidden_dims, (tokenizer.n_tokens, tokenizer.rank, tokenizer.chunk)]
    config = GeneratorConfig(dims=dims, kernel=recipe.kernel, position_dim=recipe.position_dim, lora_rank=collection.rank,
                             lora_alpha=collection.alpha, target_modules=list(collection.target_modules),
                             encoder=encoder_name, base_model=base_model,
                             mode="residual" if union is not None else "direct", union_artifact=union_artifact)
    bundle = GeneratorBundle.create(config, tokenizer)
    bundle.union = union
    model = bundle.model
    if recipe.init == "variance_preserving":
        model.reset_variance_preserving()
    model.to(run_device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    rng = random.Random(recipe.seed)
    pairs = [(k, rng.choice(batch_split[k][0]), rng.choice(ckpt_split[k][0]))
             for k in range(len(shards)) for _ in range(recipe.pairs_per_task)]

    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, weights_path = out_dir / "train_state.pt", out_dir / "train_weights.safetensors"
    start, history, prior_seconds = 0, [], 0.0
    if state_path.is_file() and weights_path.is_file():
        model.load_state_dict(load_file(str(weights_path)))
        state = torch.load(state_path, weights_only=True)  # our own file: tensors and plain containers only
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["history"])
        prior_seconds = float(state.get("seconds", 0.0))  # training time before the interruption
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
    raw = accelerator.unwrap_model(model) if accelerator is not None else model
    mask_dev = mask.to(run_device)
    began = time.perf_counter()
    model.train()
    stop = recipe.steps if stop_after is None else min(recipe.steps, start + stop_after)
    for step in range(start, stop):
        batch = [pairs[i] for i in random.Random(f"{recipe.seed}:{step}").sample(range(len(pairs)), min(recipe.batch_size, len(pairs)))]
        x = torch.stack([shards[k].embedding(b) for k, b, _ in batch])  # (B, N, L, C): the global batch, read from disk
        y = torch.stack([shards[k].tokens(c) for k, _, c in batch])  # (B, T, r, chunk)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + step))
        x = x + recipe.input_noise * noise  # seeded by step, so a resumed run sees the same noise
        x, y = x[rank::world].to(run_device), y[rank::world].to(run_device)  # this process's slice
        loss = masked_mse(model(x), y, mask_dev)
        optimizer.zero_grad(set_to_none=True)
        if accelerator is not None:
            accelerator.backward(loss)  # DDP averages the slices' gradients
            accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            loss = accelerator.reduce(loss.detach(), "mean")
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        history.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, history[-1])
        if rank == 0 and ((step + 1) % save_every == 0 or step + 1 == stop) and step + 1 < recipe.steps:
            with atomic_path(weights_path) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in raw.state_dict().items()}, str(tmp))
            with atomic_path(state_path) as tmp:
                torch.save({"optimizer": optimizer.state_dict(), "step": step + 1, "history": history,
                            "seconds": prior_seconds + time.perf_counter() - began}, tmp)
    if stop < recipe.steps:  # a slice: the resume state is on disk
        if accelerator is not None:
            accelerator.wait_for_everyone()
        return None
    model = raw.to("cpu")
    model.eval()
    names = [t.task for t in trajectories]
    # residual: θ_union itself is the prediction Δ = 0 — the bar a residual generator must clear
    extra = None if union is None else [{"union": tokenizer.tokenize({k: torch.zeros_like(v) for k, v in first.items()})[0]}] * len(shards)
    recon = in_training_reconstruction(model, shards, [b[0] for b in batch_split], [b[1] for b in batch_split],
                                       [c[0] for c in ckpt_split], [c[1] for c in ckpt_split], mask, names, extra)
    metrics = {"held_out": "prompt batches × checkpoints, both unseen in training", "held_out_pairs": recon["pairs"],
               "held_out_mse": recon["generator"], "prompt_blind_mean_mse": recon["prompt_blind_mean"],
               "retrieval_mse": recon["retrieval"], "own_task_mean_mse": recon["own_task_mean"],
               "retrieval_hit_rate": recon["retrieval_hit_rate"], "per_task": recon["per_task"]}
    if union is not None:
        metrics["union_mse"] = recon["union"]  # θ_union (Δ = 0) against the held-out checkpoints
    metrics.update(train_loss_last=sum(history[-20:]) / max(1, len(history[-20:])), steps=recipe.steps,
                   seconds=prior_seconds + time.perf_counter() - began, resumed_from_step=start,
                   tasks=names,
                   checkpoints=sum(len(t.checkpoints) for t in trajectories), processes=world)
    config.meta = {"metrics": metrics, "recipe": recipe.model_dump(), "collection": collection.model_dump()}
    if rank == 0:
        bundle.save(out_dir)
        write_json(out_dir / "train_history.json", history, indent=None)
        state_path.unlink(missing_ok=True)
        weights_path.unlink(missing_ok=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    if rank == 0:
        shutil.rmtree(out_dir / "shards", ignore_errors=True)  # rebuilt on demand (`build_shards`)
    return bundle
