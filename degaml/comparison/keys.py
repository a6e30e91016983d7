"""The content identity of a table cell: what it used, never where it ran.

A cell's key hashes
- the target spec's fields that decide a result (`portable_spec`: local data files relative to the spec's
  directory; no generator or policy field, their content is keyed below) and the sha256 of the data items actually
  loaded (degaml.data.provenance);
- the method config (without the meta spec's path and generator directory, keyed by content below), the seed and
  the degaml version;
- the artifacts it reads, by content: a shipped or given generator by its manifest's sha256, the policy adapter by
  its weights' sha256 (`policy_sha256`); a leave-one-out artifact built on demand (`generator-minus-<task>`, the
  union LoRA, MAML and ABMLL artifacts) by its recipe — the meta spec's resolved content with each included task
  spec's (`meta_identity`) and the exclusion — since a fresh checkout has the recipe, not the artifact.
So the committed cells are found from any checkout, and re-rendering the tables from them loads no model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from degaml.controller.policy.model import resolve_policy
from degaml.data.provenance import DataProvenance
from degaml.io import file_sha256
from degaml.specs import load_spec
from degaml.specs.meta import MetaSpec
from degaml.specs.model import TaskSpec

PLACE_FIELDS = {"meta", "generator"}  # config fields naming where an input lives (its content is keyed instead)
# Spec fields added after cells were first keyed, left out of the key while they hold the value that means "unused",
# so adding an optional field does not orphan every committed cell.
UNUSED_WHEN_UNSET = {("adapt", "library"): None, ("adapt", "metric"): "acc"}  # fields added later, at the value that leaves results as they were
SAME_RESULT_FIELDS = ("gradient_checkpointing",)  # trade memory for time; the gradients and results are the same


def portable_spec(spec: TaskSpec) -> dict[str, Any]:
    """The spec's result-deciding fields: local data sources relative to the spec's directory, no generator and no
    policy field (artifacts are keyed by content)."""
    data = spec.model_dump(mode="json", exclude=set(SAME_RESULT_FIELDS))
    data.pop("generator")
    data["adapt"].pop("policy")
    data["adapt"]["minutes"] = data["adapt"].pop("budget_minutes")  # its name when the committed cells were keyed
    for (section, name), unset in UNUSED_WHEN_UNSET.items():
        if data[section].get(name, unset) == unset:
            data[section].pop(name, None)
    for pool in ("dataset", "train_dataset"):
        for source, dumped in zip(getattr(spec, pool) or [], data.get(pool) or []):
            if source.kind == "local":
                path = Path(source.source)
                path = path if path.is_absolute() else spec.source_dir / path
                dumped["source"] = os.path.relpath(path, spec.source_dir)
    return data


def data_identity(provenance: DataProvenance | None) -> dict[str, str | None]:
    """The sha256 of the labelled pool's items (and of the separate train pool's, if any) that were loaded."""
    if provenance is None:
        return {"dataset": None, "train_dataset": None}
    train = provenance.train_dataset.used.sha256 if provenance.train_dataset is not None else None
    return {"dataset": provenance.dataset.used.sha256, "train_dataset": train}


def generator_sha256(directory: Path) -> str:
    """A generator directory's content: the sha256 of its manifest (which lists its files' hashes), else of its
    config and weights."""
    manifest = directory / "manifest.json"
    if manifest.is_file():
        return file_sha256(manifest)
    parts = [file_sha256(directory / name) for name in ("generator.json", "generator.safetensors")]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def policy_sha256(name: str) -> str | None:
    """The sha256 of the policy adapter `adapt.policy` names (None: the base model or the random policy)."""
    path = None if name == "random" else resolve_policy(name)
    return file_sha256(path / "adapter_model.safetensors") if path is not None else None


def policy_identity(name: str) -> str:
    """The policy's content, or `random` / `base` for the two policies without weights."""
    return policy_sha256(name) or ("random" if name == "random" else "base")


POLICY_FIELDS_ADDED = {"exploration_later": None, "metric": "spec", "alpha": None}  # PolicyRecipe fields, unset values
KEYED_RULE = {"metric": "acc", "alpha": 0.05}  # the episode's reward rule as every spec had it when cells were first keyed


def rule_free(spec: TaskSpec) -> TaskSpec:
    """`spec` with its episode reward rule at a constant: a meta-trained artifact never reads it, so changing the
    rule (or its defaults) does not orphan the cells of artifacts built from the same tasks."""
    return spec.model_copy(update={"adapt": spec.adapt.model_copy(update=KEYED_RULE)})


def meta_identity(meta: MetaSpec, exclude: list[str]) -> dict[str, Any]:
    """What a meta-trained artifact is built from: the meta spec's resolved recipes and model, and each included
    task spec's result-deciding fields with its number of draws (excluded specs are not read)."""
    recipe = meta.model_dump(mode="json", exclude={"name", "out_dir", "tasks"})
    if recipe["generator"]["mode"] == "direct":  # fields added with the residual mode: keyed only where they matter,
        recipe["generator"] = {k: v for k, v in recipe["generator"].items() if k not in ("mode", "union")}  # old keys kept
    for name, unset in POLICY_FIELDS_ADDED.items():  # E-step settings added later: keyed only when set
        if recipe["policy"].get(name, unset) == unset:
            recipe["policy"].pop(name, None)
    tasks = [[path.stem, draws, portable_spec(rule_free(load_spec(path)))] for path, draws in meta.task_draws()
             if path.stem not in exclude]
    return {"meta": recipe, "tasks": sorted(tasks, key=lambda t: t[0]), "exclude": sorted(exclude)}


def config_identity(config: dict[str, Any]) -> dict[str, Any]:
    """A method config without the fields that name places."""
    return {k: v for k, v in config.items() if k not in PLACE_FIELDS}


def content_key(inputs: dict[str, Any]) -> str:
    """The 12-hex-digit key of a cell's inputs."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]
