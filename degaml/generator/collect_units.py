"""LoRA collection as executor units: one unit per (task, draw) of a meta spec, run in-process or on Ray workers.

Each unit loads the base model once per process (`process_cached`), collects its task into the run directory's
`collect/<task>/` (resumable, written atomically by `collect_task`) and returns the manifest. A (task, draw) whose
trajectory and manifest are already there is not a unit: its manifest is read instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from degaml.data import load_task_data
from degaml.executor import Unit, process_cached
from degaml.generator.collect import MANIFEST_FILE, TRAJECTORY_FILE, collect_task
from degaml.generator.distributed import Topology
from degaml.generator.pipeline import collection_dir, included_tasks
from degaml.specs.meta import MetaSpec
from degaml.specs.model import TaskSpec


def collect_unit(meta: MetaSpec, spec: TaskSpec) -> dict:
    """Collect one (task, draw) in this process; returns its manifest."""
    from degaml.models import load_llm

    loaded = process_cached(("llm", meta.model, meta.device, "float32", False),
                            lambda: load_llm(meta.model, meta.device, "float32"))
    task = load_task_data(spec, on_skip=lambda _: None)
    return collect_task(loaded, task, meta.collection, collection_dir(meta, spec.task))


def done_manifest(directory: Path) -> dict | None:
    """A finished collection's manifest, or None."""
    if (directory / TRAJECTORY_FILE).is_file() and (directory / MANIFEST_FILE).is_file():
        return json.loads((directory / MANIFEST_FILE).read_text())
    return None


def collection_units(meta: MetaSpec, exclude: list[str], topology: Topology = Topology()) -> tuple[list[dict], list[Unit]]:
    """(manifests of this process's collected tasks, units of those still to collect)."""
    done, units = [], []
    for _, spec in topology.shard(included_tasks(meta, exclude)):
        manifest = done_manifest(collection_dir(meta, spec.task))
        if manifest is not None:
            done.append(manifest)
        else:
            units.append(Unit(spec.task, spec.task, collect_unit, (meta, spec)))
    return done, units
