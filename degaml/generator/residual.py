"""Residual generation: θ₀ = θ_union + Δ, with Δ = G(prompts) and θ_union the multi-task LoRA of the included tasks.

LoRA factors of independently initialised runs are not comparable, so the residual collection continues training
*from θ_union* on each task's train pool with the collection recipe: its checkpoints live in θ_union's factor
basis, and the generator learns the deltas Δ = checkpoint − θ_union (tokenizer scale fitted on the deltas, not
centred, so a zero token is a zero Δ). At generation, `compose(θ_union, Δ)` adds them back; a zero Δ (e.g. a
generator whose weights are all zero) returns θ_union bit for bit.

Layout under the meta spec's output directory (θ_union differs per exclusion, so its residual collection does too):
    baselines/union_lora[-minus-T]-<hash>/                 θ_union (shared with the union_lora baseline)
    collect-residual/<θ_union dir name>/<task>/             trajectory.safetensors + manifest.json (full checkpoints)
    generator-residual[-minus-T]/                          the generator; carries union.safetensors (θ_union)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.evaluation.prompts import generator_inputs
from degaml.generator.collect import TRAJECTORY_FILE, collect_task
from degaml.generator.generate import compose
from degaml.generator.meta_artifacts import is_complete
from degaml.generator.pipeline import included_tasks
from degaml.generator.shards import TrajectoryFile
from degaml.generator.train import TaskTrajectory
from degaml.generator.union import build_union, load_union_adapter_state, meta_union, union_dir
from degaml.specs.meta import MetaSpec
from degaml.specs.model import TaskSpec

__all__ = ["DeltaCheckpoints", "collect_residual", "compose", "ensure_union", "load_residual", "residual_collection_dir",
           "residual_ready", "union_path"]


class DeltaCheckpoints(Sequence):
    """A trajectory's checkpoints minus θ_union, read lazily (what the residual generator learns)."""

    def __init__(self, checkpoints: Sequence[dict[str, torch.Tensor]], union: dict[str, torch.Tensor]) -> None:
        self.checkpoints, self.union = checkpoints, union

    def __len__(self) -> int:
        return len(self.checkpoints)

    def _delta(self, ckpt: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: ckpt[k].float() - self.union[k].float() for k in ckpt}

    def __getitem__(self, index):  # int → one Δ state dict
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._delta(self.checkpoints[index])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for ckpt in self.checkpoints:
            yield self._delta(ckpt)


def union_path(meta: MetaSpec, exclude: list[str]) -> Path:
    return union_dir(meta, *meta_union(meta), exclude)


def residual_collection_dir(meta: MetaSpec, exclude: list[str], task: str) -> Path:
    return meta.output_dir() / "collect-residual" / union_path(meta, exclude).name / task


def ensure_union(meta: MetaSpec, exclude: list[str], loaded, progress: Callable[[int, float], None] | None = None) -> Path:
    """θ_union without `exclude`: reused if built (by this command or the union_lora baseline), else trained."""
    recipe, shape, seed = meta_union(meta)
    return build_union(loaded, meta, recipe, shape, seed, exclude, progress=progress)


def collect_residual(meta: MetaSpec, exclude: list[str], loaded,
                     on_task: Callable[[TaskSpec], Callable | None] | None = None) -> list[dict]:
    """Build θ_union if needed, then continue it on every included task (collection recipe); returns the manifests."""
    union = load_union_adapter_state(ensure_union(meta, exclude, loaded))
    manifests = []
    for _, spec in included_tasks(meta, exclude):
        task = load_task_data(spec, on_skip=lambda _: None)
        progress = on_task(spec) if on_task else None
        manifests.append(collect_task(loaded, task, meta.collection, residual_collection_dir(meta, exclude, spec.task),
                                      progress=progress, init=union))
    return manifests


def residual_ready(meta: MetaSpec, exclude: list[str]) -> bool:
    """Whether θ_union and every included task's residual trajectory are on disk (no model needed to train)."""
    return is_complete(union_path(meta, exclude)) and all(
        (residual_collection_dir(meta, exclude, spec.task) / TRAJECTORY_FILE).is_file() for _, spec in included_tasks(meta, exclude))


def load_residual(meta: MetaSpec, exclude: list[str]) -> tuple[list[TaskTrajectory], dict[str, torch.Tensor], str]:
    """(Δ trajectories, θ_union in saved-key format, θ_union's artifact name) of a finished residual collection."""
    out = union_path(meta, exclude)
    if not is_complete(out):
        raise DegamlError(f"residual generator: no θ_union at {out}; run `degaml generator collect` with generator.mode=residual")
    union = load_union_adapter_state(out)
    trajectories = []
    for _, spec in included_tasks(meta, exclude):
        path = residual_collection_dir(meta, exclude, spec.task) / TRAJECTORY_FILE
        if not path.is_file():
            raise DegamlError(f"task '{spec.task}': no residual trajectory at {path}; run `degaml generator collect` first")
        task = load_task_data(spec, on_skip=lambda _: None)
        trajectories.append(TaskTrajectory(spec.task, DeltaCheckpoints(TrajectoryFile(path), union), generator_inputs(spec, task.train)))
    return trajectories, union, out.name
