"""Generator meta-training (paper App. C step 1.2, eq. 10): MSE between generated and collected parameter tokens
over random (prompt batch, checkpoint) pairs of the same task.

Each task contributes prompt batches (N unlabeled prompts from its train pool, embedded once) and its trajectory
of checkpoints (tokenized with one tokenizer fitted on all of them). A fraction of each task's prompt batches is
held out: pairs built on them measure validation loss. Reported next to it: the loss of the best prompt-blind
predictor (the mean checkpoint), so it is visible whether the generator uses the prompts at all.
Training is resumable: weights, optimizer and step are saved atomically every `save_every` steps.
Under `accelerate launch` with several processes the model is wrapped in DDP (see `distributed.py`): every process
draws the same seeded global batch and trains on its slice, so the update is the one-process update.
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

from degaml.errors import DegamlError
from degaml.generator.artifact import GeneratorBundle, GeneratorConfig
from degaml.generator.distributed import launched_world_size, use_cpu
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import sample_prompt_batch
from degaml.generator.tokenizer import LoraTokenizer
from degaml.io import atomic_path
from degaml.specs.meta import CollectionRecipe, GeneratorRecipe

PROMPT_BATCHES_PER_TASK = 40


@dataclass
class TaskTrajectory:
    task: str
    checkpoints: list[dict[str, torch.Tensor]]
    prompts: list[str]  # unlabeled, rendered train-pool prompts


@dataclass
class _TaskTensors:
    tokens: torch.Tensor  # (n_ckpt, T, r, chunk)
    embeddings: torch.Tensor  # (n_batches, N, L, C)
    train_batches: list[int]
    held_out_batches: list[int]


def _prepare(traj: TaskTrajectory, tokenizer: LoraTokenizer, embedder: PromptEmbedder, recipe: GeneratorRecipe, seed: int) -> _TaskTensors:
    tokens = torch.stack([tokenizer.tokenize(c)[0] for c in traj.checkpoints])
    batches = [sample_prompt_batch(traj.prompts, recipe.num_prompts, seed * 1000 + i) for i in range(PROMPT_BATCHES_PER_TASK)]
    embeddings = embedder.embed_many(batches)
    n_held = max(1, round(recipe.held_out_fraction * len(batches)))
    return _TaskTensors(tokens, embeddings, list(range(n_held, len(batches))), list(range(n_held)))


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2 * mask).sum() / (mask.sum() * pred.shape[0])


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
) -> GeneratorBundle:
    """Fit a generator on the trajectories; writes the bundle (and resume state) to `out_dir` (main process only).

    `device` is a spec's device (auto|cpu|cuda). Launched with several processes, training is data-parallel.
    """
    torch.manual_seed(recipe.seed)
    tokenizer = LoraTokenizer.from_state_dict(trajectories[0].checkpoints[0], recipe.chunk)
    tokenizer.fit([c for t in trajectories for c in t.checkpoints])
    data = [_prepare(t, tokenizer, embedder, recipe, recipe.seed + i) for i, t in enumerate(trajectories)]
    mask = tokenizer.tokenize(trajectories[0].checkpoints[0])[1].float()  # (T, r, chunk)
    dims = [(recipe.num_prompts, recipe.prompt_tokens, embedder.dim), *recipe.hidden_dims, (tokenizer.n_tokens, tokenizer.rank, tokenizer.chunk)]
    config = GeneratorConfig(dims=dims, kernel=recipe.kernel, position_dim=recipe.position_dim, lora_rank=collection.rank,
                             lora_alpha=collection.alpha, target_modules=list(collection.target_modules),
                             encoder=encoder_name, base_model=base_model)
    bundle = GeneratorBundle.create(config, tokenizer)
    model = bundle.model
    accelerator, rank, world = None, 0, 1
    run_device = torch.device("cpu" if use_cpu(device) else "cuda")
    if launched_world_size() > 1:
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=use_cpu(device))
        rank, world, run_device = accelerator.process_index, accelerator.num_processes, accelerator.device
        if recipe.batch_size % world:
            raise DegamlError(f"generator.batch_size: {recipe.batch_size} is not divisible by the {world} launched processes")
    model.to(run_device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    rng = random.Random(recipe.seed)
    pairs = [(k, b, c) for k, d in enumerate(data) for b, c in
             ((rng.choice(d.train_batches), rng.randrange(len(d.tokens))) for _ in range(recipe.pairs_per_task))]
    held = [(k, b, c) for k, d in enumerate(data) for b in d.held_out_batches for c in range(0, len(d.tokens), max(1, len(d.tokens) // 8))]

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
    for step in range(start, recipe.steps):
        batch = [pairs[i] for i in random.Random(f"{recipe.seed}:{step}").sample(range(len(pairs)), min(recipe.batch_size, len(pairs)))]
        x = torch.stack([data[k].embeddings[b] for k, b, _ in batch])  # (B, N, L, C): the global batch
        y = torch.stack([data[k].tokens[c] for k, _, c in batch])  # (B, T, r, chunk)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + step))
        x = x + recipe.input_noise * noise  # seeded by step, so a resumed run sees the same noise
        x, y = x[rank::world].to(run_device), y[rank::world].to(run_device)  # this process's slice
        loss = _masked_mse(model(x), y, mask_dev)
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
        if rank == 0 and (step + 1) % save_every == 0 and step + 1 < recipe.steps:
            with atomic_path(weights_path) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in raw.state_dict().items()}, str(tmp))
            with atomic_path(state_path) as tmp:
                torch.save({"optimizer": optimizer.state_dict(), "step": step + 1, "history": history,
                            "seconds": prior_seconds + time.perf_counter() - began}, tmp)
    model = raw.to("cpu")
    model.eval()
    metrics = evaluate_generator(model, data, held, mask)
    metrics.update(train_loss_last=sum(history[-20:]) / max(1, len(history[-20:])), steps=recipe.steps,
                   seconds=prior_seconds + time.perf_counter() - began, resumed_from_step=start,
                   tasks=[t.task for t in trajectories],
                   checkpoints=sum(len(t.checkpoints) for t in trajectories), processes=world)
    config.meta = {"metrics": metrics, "recipe": recipe.model_dump(), "collection": collection.model_dump()}
    if rank == 0:
        bundle.save(out_dir)
        (out_dir / "train_history.json").write_text(json.dumps(history))
        state_path.unlink(missing_ok=True)
        weights_path.unlink(missing_ok=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return bundle


@torch.inference_mode()
def evaluate_generator(model, data: list[_TaskTensors], held: list[tuple[int, int, int]], mask: torch.Tensor) -> dict:
    """Held-out-pair MSE of the generator vs the prompt-blind mean-checkpoint predictor (normalised space)."""
    mean_ckpt = torch.cat([d.tokens for d in data]).mean(0)
    gen_loss, blind_loss = 0.0, 0.0
    for start in range(0, len(held), 32):
        chunk = held[start : start + 32]
        x = torch.stack([data[k].embeddings[b] for k, b, _ in chunk])
        y = torch.stack([data[k].tokens[c] for k, _, c in chunk])
        gen_loss += float(_masked_mse(model(x), y, mask)) * len(chunk)
        blind_loss += float(_masked_mse(mean_ckpt.expand_as(y), y, mask)) * len(chunk)
    n = max(1, len(held))
    return {"held_out_pairs": len(held), "held_out_mse": gen_loss / n, "mean_checkpoint_mse": blind_loss / n}
