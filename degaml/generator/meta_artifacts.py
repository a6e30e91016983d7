"""Meta-trained LoRA artifacts (the multi-task union LoRA; the baselines' MAML initialisation and ABMLL prior): where
they live, the meta-training tasks they may read, and how they are written (state.safetensors + manifest.json).

Leave-one-task-out by construction, as for the generator: the meta spec's tasks are read through
degaml.generator.pipeline.included_tasks, which never reads an excluded task's spec, so the target's data cannot
reach meta-training. An artifact's directory name carries the excluded tasks and a hash of its config, so a
finished artifact is reused only for exactly the inputs it was built from.
"""

from __future__ import annotations

import hashlib
import json
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
# artifacts shipped for the embedded default (with manifests); a data directory of the baselines package, not an import
PRETRAINED = Path(__file__).resolve().parents[1] / "baselines" / "pretrained"
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
