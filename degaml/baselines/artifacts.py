"""Meta-trained baseline artifacts (union LoRA, MAML initialisation, ABMLL prior): where they live, the
meta-training tasks they may read (degaml.generator.meta_artifacts, re-exported here: the generator's multi-task
LoRA is one of these artifacts), a target's leave-one-out exclusion, and a resumable meta-training loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from degaml.generator.meta_artifacts import (MANIFEST_FILE, PRETRAINED, STATE_FILE, MetaTask, artifact_dir, artifact_name,
                                             base_manifest, is_complete, load_meta, load_state, meta_tasks, write_artifact)
from degaml.io import atomic_path
from degaml.specs.meta import MetaSpec

__all__ = ["MANIFEST_FILE", "PRETRAINED", "STATE_FILE", "MetaTask", "artifact_dir", "artifact_name", "base_manifest",
           "exclusion_for", "is_complete", "load_meta", "load_state", "meta_tasks", "resumable_meta_training",
           "sample_episode", "target_exclusion", "write_artifact"]


def exclusion_for(meta: MetaSpec, task_name: str, spec_path: Path | None) -> list[str]:
    """Leave-one-out: the meta spec's task whose file stem or task name is the target, if any."""
    stems = {p.stem for p in meta.task_paths()}
    if spec_path is not None and Path(spec_path).stem in stems:
        return [Path(spec_path).stem]
    return [task_name] if task_name in stems else []


def target_exclusion(meta_path: str | Path, task_name: str, spec_path: Path | None) -> list[str]:
    """The tasks a meta-trained artifact for this target leaves out (the target, if the meta spec has it)."""
    return exclusion_for(load_meta(meta_path), task_name, spec_path)


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
