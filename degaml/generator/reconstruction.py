"""How close predicted parameters are to a task's collected LoRA checkpoints: MSE in the generator's normalised
token space (padding masked), for the generator and for the baselines a reader needs to judge it:

- `prompt_blind_mean`: the mean checkpoint of the training tasks (what a predictor that ignores the prompts would
  output; the best constant under MSE);
- `retrieval`: the mean checkpoint of the training task whose prompt batches are nearest (cosine of the pooled
  prompt-batch embeddings, `shards.pooled_embedding`) — "recognise the task, return its average LoRA";
- `own_task_mean`: the evaluated task's own mean (training) checkpoint — a floor no prompt-conditioned predictor
  can beat on average, and unknowable for a task never seen;
- any extra fixed prediction (e.g. a LoRA fine-tuned on the labelled support examples), given as tokens.

A prediction p is scored against every target checkpoint y_c of a set: mean_c Σ mask·(p − y_c)² / Σ mask, computed
exactly as (Σ mask·(p − ȳ)² + mean_c Σ mask·(y_c − ȳ)²) / Σ mask so targets are streamed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from degaml.generator.shards import TaskShard


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of Σ mask·(pred − target)² / Σ mask. pred, target (B, T, r, chunk); mask (T, r, chunk)."""
    return ((pred - target) ** 2 * mask).sum() / (mask.sum() * pred.shape[0])


@dataclass
class TargetSet:
    """A set of target checkpoints summarised for exact MSE: their mean and mean masked squared spread."""

    mean: torch.Tensor  # (T, r, chunk)
    spread: float  # mean_c Σ mask·(y_c − ȳ)²
    mask: torch.Tensor  # (T, r, chunk) float
    count: int

    @classmethod
    def of(cls, shard: TaskShard, indices: Sequence[int], mask: torch.Tensor) -> TargetSet:
        mean = shard.mean_tokens(indices)
        spread = sum(float(((shard.tokens(i) - mean) ** 2 * mask).sum()) for i in indices) / max(1, len(indices))
        return cls(mean, spread, mask, len(indices))

    def mse(self, pred: torch.Tensor) -> float:
        """Mean MSE of prediction(s) (T, r, chunk) or (P, T, r, chunk) against every target checkpoint."""
        pred = pred.reshape(-1, *self.mean.shape)
        per = ((pred - self.mean) ** 2 * self.mask).flatten(1).sum(1) + self.spread  # (P,)
        return float(per.mean() / self.mask.sum())


def nearest_task(pooled: torch.Tensor, task_keys: torch.Tensor) -> torch.Tensor:
    """(P, C) pooled batch embeddings, (K, C) per-task keys → (P,) index of the most cosine-similar task."""
    sims = torch.nn.functional.normalize(pooled, dim=-1) @ torch.nn.functional.normalize(task_keys, dim=-1).T
    return sims.argmax(-1)


@torch.inference_mode()
def generate_tokens(model, shard: TaskShard, batches: Sequence[int], chunk: int = 16) -> torch.Tensor:
    """(len(batches), T, r, chunk) generator outputs for a shard's prompt batches (read `chunk` at a time)."""
    outs = []
    for s in range(0, len(batches), chunk):
        x = torch.stack([shard.embedding(b) for b in batches[s : s + chunk]])
        outs.append(model(x.to(next(model.parameters()).device)).float().cpu())
    return torch.cat(outs)


def _predictors(model, shard: TaskShard, batches: Sequence[int], train_means: torch.Tensor, keys: torch.Tensor,
                blind: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    picked = nearest_task(shard.pooled[list(batches)], keys)
    preds = {"prompt_blind_mean": blind, "retrieval": train_means[picked]}
    if model is not None:
        preds["generator"] = generate_tokens(model, shard, batches)
    return preds, picked


def in_training_reconstruction(model, shards: Sequence[TaskShard], train_batches: Sequence[Sequence[int]],
                               held_batches: Sequence[Sequence[int]], train_ckpts: Sequence[Sequence[int]],
                               held_ckpts: Sequence[Sequence[int]], mask: torch.Tensor, names: Sequence[str],
                               extra: Sequence[dict[str, torch.Tensor]] | None = None) -> dict:
    """Tasks in training: held-out prompt batches scored against held-out checkpoints, per task and pooled.
    `extra[k]`: further fixed predictions (name → tokens) for task k."""
    means = torch.stack([s.mean_tokens(c) for s, c in zip(shards, train_ckpts)])  # (K, T, r, chunk)
    counts = torch.tensor([len(c) for c in train_ckpts], dtype=torch.float32)
    blind = (means * counts[:, None, None, None]).sum(0) / counts.sum()
    keys = torch.stack([s.pooled[list(b)].mean(0) for s, b in zip(shards, train_batches)])  # (K, C)
    per_task, totals, pairs = {}, {}, 0
    for k, shard in enumerate(shards):
        targets = TargetSet.of(shard, held_ckpts[k], mask)
        preds, picked = _predictors(model, shard, held_batches[k], means, keys, blind)
        preds["own_task_mean"] = means[k]
        preds.update(extra[k] if extra else {})
        row = {name: targets.mse(p) for name, p in preds.items()}
        row["retrieval_hit_rate"] = float((picked == k).float().mean())
        n = len(held_batches[k]) * targets.count
        row["pairs"] = n
        per_task[names[k]] = row
        pairs += n
        for name, value in row.items():
            if name != "pairs":
                totals[name] = totals.get(name, 0.0) + value * n
    return {"pairs": pairs, **{name: v / max(1, pairs) for name, v in totals.items()}, "per_task": per_task}


def unseen_task_reconstruction(model, train_shards: Sequence[TaskShard], unseen: TaskShard, batches: Sequence[int],
                               mask: torch.Tensor, extra: dict[str, torch.Tensor] | None = None,
                               train_names: Sequence[str] = ()) -> dict:
    """A task outside training: its prompt batches `batches` scored against all its checkpoints."""
    all_ckpts = [range(s.n_checkpoints) for s in train_shards]
    means = torch.stack([s.mean_tokens(c) for s, c in zip(train_shards, all_ckpts)])
    counts = torch.tensor([s.n_checkpoints for s in train_shards], dtype=torch.float32)
    blind = (means * counts[:, None, None, None]).sum(0) / counts.sum()
    keys = torch.stack([s.pooled.mean(0) for s in train_shards])
    targets = TargetSet.of(unseen, range(unseen.n_checkpoints), mask)
    preds, picked = _predictors(model, unseen, batches, means, keys, blind)
    preds["own_task_mean"] = targets.mean
    preds.update(extra or {})
    row = {name: targets.mse(p) for name, p in preds.items()}
    row["pairs"] = len(batches) * targets.count
    if train_names:
        row["retrieved"] = sorted({train_names[int(i)] for i in picked})
    return row
