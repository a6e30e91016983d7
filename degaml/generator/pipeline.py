"""Meta-training pipeline over a meta spec: collect every task's LoRA trajectory, then train the generator.

Leave-one-task-out by construction: an excluded task's spec is never read, so its data can reach neither
collection nor training, and the generator is written to `generator-minus-<task>`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.generator.collect import TRAJECTORY_FILE, collect_task
from degaml.generator.distributed import Topology
from degaml.evaluation.prompts import generator_inputs
from degaml.generator.shards import TrajectoryFile
from degaml.generator.train import TaskTrajectory
from degaml.specs import load_spec
from degaml.specs.meta import MetaSpec, draw_spec
from degaml.specs.model import TaskSpec

SHIPPED_GENERATOR = Path(__file__).parent / "pretrained" / "smollm2-135m-in-domain"


def resolve_generator(name: str) -> Path:
    """`default` → the shipped generator; otherwise a directory path."""
    path = SHIPPED_GENERATOR if name == "default" else Path(name)
    if not (path / "generator.json").is_file():
        hint = " (no shipped generator in this install; train one with `degaml generator train specs/meta/in_domain.yaml`)" if name == "default" else ""
        raise DegamlError(f"generator: '{name}' is not a generator directory{hint}")
    return path


def included_tasks(meta: MetaSpec, exclude: list[str]) -> list[tuple[Path, TaskSpec]]:
    """(path, spec) of every seeded draw of the meta spec's tasks minus `exclude` (file stems, matched before reading)."""
    stems = {p.stem for p in meta.task_paths()}
    unknown = [e for e in exclude if e not in stems]
    if unknown:
        raise DegamlError(f"--exclude: {unknown[0]!r} is not a task of this meta spec (tasks: {', '.join(sorted(stems))})")
    specs = []
    for path, draws in meta.task_draws():
        if path.stem in exclude:
            continue  # never read: leave-one-out by construction
        spec = load_spec(path, [f"model={meta.model}", f"device={meta.device}"])
        specs.extend((path, draw_spec(spec, d)) for d in range(draws))
    if not specs:
        raise DegamlError("every task is excluded; nothing to meta-train on")
    return specs


def collection_dir(meta: MetaSpec, task: str) -> Path:
    return meta.output_dir() / "collect" / task


def generator_dir(meta: MetaSpec, exclude: list[str]) -> Path:
    """`generator[-minus-T]`, or `generator-residual[-minus-T]` for a residual-mode recipe."""
    suffix = "".join(f"-minus-{e}" for e in sorted(exclude))
    mode = "-residual" if meta.generator.mode == "residual" else ""
    return meta.output_dir() / f"generator{mode}{suffix}"


def collect_all(meta: MetaSpec, exclude: list[str], loaded, on_task: Callable[[TaskSpec], Callable | None] | None = None,
                topology: Topology = Topology()) -> list[dict]:
    """Collect (or resume) every included task of this process's shard; returns their manifests."""
    manifests = []
    for _, spec in topology.shard(included_tasks(meta, exclude)):
        task = load_task_data(spec, on_skip=lambda _: None)
        progress = on_task(spec) if on_task else None
        manifests.append(collect_task(loaded, task, meta.collection, collection_dir(meta, spec.task), progress=progress))
    return manifests


def load_trajectories(meta: MetaSpec, exclude: list[str], skip_missing: bool = False) -> list[TaskTrajectory]:
    """Collected trajectories (read lazily from disk) + the generator inputs of the included tasks' train pools.
    A task not collected yet is an error, or left out with `skip_missing` (analyses of a partial collection)."""
    trajectories = []
    for _, spec in included_tasks(meta, exclude):
        path = collection_dir(meta, spec.task) / TRAJECTORY_FILE
        if not path.is_file():
            if skip_missing:
                continue
            raise DegamlError(f"task '{spec.task}': no collected trajectory at {path}; run `degaml generator collect` first")
        task = load_task_data(spec, on_skip=lambda _: None)
        trajectories.append(TaskTrajectory(spec.task, TrajectoryFile(path), generator_inputs(spec, task.train)))
    return trajectories
