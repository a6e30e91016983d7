"""The LoRA library of a meta spec: one PEFT adapter per meta-training task — its collected LoRA's last checkpoint
(the LoRA fitted on that task) — with leave-one-out targets excluded. LoraHub-style composition (`library_mix`)
weighs them; the best-single-source control picks one of them on validation.

    collect/<task>/trajectory.safetensors ──last checkpoint──▶ library/<task>/ (adapter_config.json + weights)

Adapters are written once, atomically, under the meta spec's output directory; the excluded tasks' collections are
never read.
"""

from __future__ import annotations

from pathlib import Path

from degaml.errors import DegamlError
from degaml.generator.collect import TRAJECTORY_FILE, lora_config
from degaml.generator.generate import save_lora_adapter
from degaml.generator.pipeline import collection_dir, included_tasks
from degaml.generator.shards import TrajectoryFile
from degaml.specs.meta import MetaSpec


def library_dir(meta: MetaSpec, task: str) -> Path:
    return meta.output_dir() / "library" / task


def task_lora_library(meta: MetaSpec, exclude: list[str]) -> dict[str, Path]:
    """{task: adapter directory} over the included tasks (one per task, the first seeded draw's collection)."""
    library: dict[str, Path] = {}
    for _, spec in included_tasks(meta, exclude):
        if spec.task in library:
            continue
        source = collection_dir(meta, spec.task) / TRAJECTORY_FILE
        if not source.is_file():
            raise DegamlError(f"LoRA library: task '{spec.task}' has no collected trajectory at {source}; run "
                              f"`degaml generator collect {meta.path or meta.name}` first")
        out = library_dir(meta, spec.task)
        if not (out / "adapter_model.safetensors").is_file():
            recipe = meta.collection
            config = lora_config(recipe.rank, recipe.alpha, recipe.target_modules)
            config.base_model_name_or_path, config.task_type = meta.model, "CAUSAL_LM"
            save_lora_adapter(TrajectoryFile(source)[-1], config, out)
        library[spec.task] = out
    if not library:
        raise DegamlError("LoRA library: every task of the meta spec is excluded")
    return library
