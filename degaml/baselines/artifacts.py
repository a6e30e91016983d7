"""Meta-trained baseline artifacts (union LoRA, MAML initialisation, ABMLL prior): where they live, the
meta-training tasks they may read, and a resumable training loop that writes them with a manifest.

Leave-one-task-out by construction, as for the generator: the meta spec's tasks are read through
degaml.generator.pipeline.included_tasks, which never reads an excluded task's spec, so the target's data cannot
reach meta-training. An artifact's directory name carries the excluded tasks and a hash of its config, so a
finished artifact is reused only for exactly the inputs it was built from.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.generator.collect import training_pairs
from degaml.generator.pipeline import included_tasks
from degaml.io import atomic_path, write_json
from degaml.specs import load_meta_spec
from degaml.specs.meta import MetaSpec

STATE_FILE = "state.safetensors"
PRETRAINED = Path(__file__).resolve().parent / "pretrained"  # artifacts shipped for the embedded default (with manifests)
MANIFEST_FILE = "manifest.json"


@dataclass
class MetaTask:
    name: str
    pairs: list[tuple[str, str]]  # (prompt, answer) of the task's train pool


def load_meta(meta_path: str | Path) -> MetaSpec:
    path = Path(meta_path)
    if not path.is_file():
        raise DegamlError(f"meta: meta spec '{meta_path}' not found (the meta-training tasks of union_lora/maml/abmll)")
    return load_meta_spec(path)


def meta_tasks(meta: MetaSpec, exclude: list[str], max_samples: int) -> list[MetaTask]:
    """The included tasks' labelled train pools (the excluded tasks' specs are never read)."""
    out = []
    for _, spec in included_tasks(meta, exclude):
        task = load_task_data(spec, on_skip=lambda _: None)
        pairs = training_pairs(spec, list(task.train[:max_samples]))
        if len(pairs) < 2:
            raise DegamlError(f"task '{spec.task}': train pool has {len(pairs)} items; meta-training needs ≥ 2")
        out.append(MetaTask(spec.task, pairs))
    return out


def exclusion_for(meta: MetaSpec, task_name: str, spec_path: Path | None) -> list[str]:
    """Leave-one-out: the meta spec's task whose file stem or task name is the target, if any."""
    stems = {p.stem for p in meta.task_paths()}
    if spec_path is not None and Path(spec_path).stem in stems:
        return [Path(spec_path).stem]
    return [task_name] if task_name in stems else []


def target_exclusion(meta_path: str | Path, task_name: str, spec_path: Path | None) -> list[str]:
    """The tasks a meta-trained artifact for this target leaves out (the target, if the meta spec has it)."""
    return exclusion_for(load_meta(meta_path), task_name, spec_path)


def artifact_name(meta: MetaSpec, method: str, exclude: list[str], config_json: str) -> str:
    """`<method>[-minus-<task>...]-<digest>`; the digest covers the training config (without the meta spec's path,
    which may be written in many ways) and what the meta spec means: its model and its tasks with their draws."""
    config = {k: v for k, v in json.loads(config_json).items() if k != "meta"}
    identity = {"config": config, "model": meta.model,
                "tasks": sorted((p.stem, draws) for p, draws in meta.task_draws())}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    return f"{method}{''.join(f'-minus-{e}' for e in sorted(exclude))}-{digest}"


def artifact_dir(meta: MetaSpec, method: str, exclude: list[str], config_json: str) -> Path:
    """Where the artifact is: the shipped copy (`degaml/baselines/pretrained/<meta name>/`) if this install has one
    built from exactly these inputs, else the meta spec's output directory (where it is built, or resumed)."""
    name = artifact_name(meta, method, exclude, config_json)
    shipped = PRETRAINED / meta.name / name
    if is_complete(shipped):
        return shipped
    return meta.output_dir() / "baselines" / name


def load_state(out_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out_dir / STATE_FILE))


def is_complete(out_dir: Path) -> bool:
    return (out_dir / STATE_FILE).is_file() and (out_dir / MANIFEST_FILE).is_file()


def write_artifact(out_dir: Path, state: dict[str, torch.Tensor], manifest: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / STATE_FILE) as tmp:
        save_file({k: v.detach().float().cpu().contiguous() for k, v in state.items()}, str(tmp))
    write_json(out_dir / MANIFEST_FILE, manifest, indent=2)


def sample_episode(tasks: list[MetaTask], n_tasks: int, support: int, query: int, seed: int, step: int) -> list[tuple[MetaTask, list[int], list[int]]]:
    """Meta-batch of step `step` (a pure function of seed and step): n tasks, each with disjoint support/query items."""
    rng = random.Random(f"{seed}:episode:{step}")
    chosen = rng.sample(tasks, min(n_tasks, len(tasks)))
    out = []
    for task in chosen:
        k = min(support + query, len(task.pairs))
        idx = rng.sample(range(len(task.pairs)), k)
        cut = max(1, min(support, k - 1))
        out.append((task, idx[:cut], idx[cut:]))
    return out


StepFn = Callable[[int], float]  # step → loss; sets .grad of the meta-parameters


def resumable_meta_training(out_dir: Path, leaves: dict[str, torch.Tensor], lr: float, steps: int, step_fn: StepFn,
                            manifest: dict, save_every: int = 10, progress: Callable[[int, float], None] | None = None) -> dict:
    """Adam over `leaves` for `steps` steps; a killed run resumes from the last save; writes state + manifest."""
    optimizer = torch.optim.Adam(list(leaves.values()), lr=lr)
    partial, resume = out_dir / "partial.safetensors", out_dir / "resume_state.pt"
    losses: list[float] = []
    start = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    if partial.is_file() and resume.is_file():
        saved = load_file(str(partial))
        with torch.no_grad():
            for name, value in saved.items():
                leaves[name].copy_(value)
        state = torch.load(resume, weights_only=True)  # our own file: tensors and plain containers only
        optimizer.load_state_dict(state["optimizer"])
        losses, start = list(state["losses"]), int(state["step"])
    began = time.perf_counter()
    for step in range(start, steps):
        optimizer.zero_grad(set_to_none=True)
        loss = step_fn(step)
        if not all(v.grad is None or torch.isfinite(v.grad).all() for v in leaves.values()) or loss != loss:
            raise FloatingPointError(f"meta-training: non-finite loss or gradient at step {step}")
        optimizer.step()
        losses.append(loss)
        if progress is not None:
            progress(step + 1, loss)
        if (step + 1) % save_every == 0 and step + 1 < steps:
            with atomic_path(partial) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in leaves.items()}, str(tmp))
            with atomic_path(resume) as tmp:
                torch.save({"optimizer": optimizer.state_dict(), "losses": losses, "step": step + 1}, tmp)
    manifest = manifest | {"steps": steps, "losses": losses, "seconds_this_run": time.perf_counter() - began, "resumed_from_step": start}
    write_artifact(out_dir, {k: v.detach() for k, v in leaves.items()}, manifest)
    partial.unlink(missing_ok=True)
    resume.unlink(missing_ok=True)
    return manifest


def base_manifest(method: str, meta: MetaSpec, tasks: list[MetaTask], exclude: list[str], config: dict) -> dict:
    return {
        "method": method,
        "meta_spec": meta.name,
        "model": meta.model,
        "tasks": [t.name for t in tasks],
        "train_items": {t.name: len(t.pairs) for t in tasks},
        "excluded": sorted(exclude),
        "config": config,
        "command": f"degaml baseline-train {method} <META_SPEC>" + "".join(f" --exclude {e}" for e in sorted(exclude)),
    }
