"""One cell of a reproduced table: one method of the registry on one target task with one seed, cached under the
content key of its inputs (degaml.comparison.keys), never of where it ran.

Every cell — DeGAML's adaptation included — gets the same ProtocolTask view of its target and runs through
`run_baseline`. A finished cell is a JSON record (the `degaml baseline` record, per-item test results included)
written atomically to DIR/cells/<task>/<method>-s<seed>-<key>.json; a killed run recomputes only the missing cells.
Failed cells are never cached. Finding a cached cell loads the target's data (its sha256 is part of the key), never
a model. Leave-one-task-out: a target that is a task of the meta spec is excluded from every meta-trained artifact,
and the generator-reading rows use the generator trained without it (`generator-minus-<task>`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from degaml import __version__
from degaml.baselines.artifacts import exclusion_for, load_meta
from degaml.baselines.config import MethodConfig
from degaml.baselines.method import RunContext
from degaml.baselines.registry import is_meta_trained, make_config, method
from degaml.baselines.runner import run_baseline
from degaml.comparison.keys import (config_identity, content_key, data_identity, generator_sha256, meta_identity,
                                    policy_identity, portable_spec)
from degaml.data.guard import scoring
from degaml.data import TaskData, load_task_data
from degaml.errors import DegamlError
from degaml.executor import process_cached
from degaml.generator.pipeline import generator_dir, resolve_generator
from degaml.io import write_json
from degaml.models import load_llm
from degaml.models.compute import compute_record
from degaml.protocol import ProtocolTask
from degaml.specs import load_spec


KEY_SCHEME = 2  # 1: every cell's key held the spec's `adapt` section; 2: only the cells of methods that read it


@dataclass
class CellPlan:
    """A cell's inputs, its key and where its record lives."""

    method: str
    spec_path: Path
    task: TaskData
    config: MethodConfig
    seed: int
    exclude: list[str]
    generator: str | None  # the leave-one-out generator directory (None: the spec's)
    key: str
    path: Path


class CellRunner:
    """Plans, runs (or loads) cells; keeps one loaded task per spec, and one model per (model, device, dtype) per process
    (`degaml.executor.process_cached`). Picklable: `runner.cell` is the unit an executor runs, here or on a worker."""

    def __init__(self, out_dir: Path, profile: str, meta_path: Path, spec_overrides: list[str] | None = None) -> None:
        self.out_dir, self.profile, self.meta_path = Path(out_dir), profile, Path(meta_path)
        self.spec_overrides = spec_overrides or []
        self._tasks: dict[Path, TaskData] = {}
        self._recipes: dict[tuple[str, ...], dict] = {}

    def _loaded(self, spec):
        key = ("llm", spec.model, spec.device, spec.dtype, spec.trust_remote_code)
        return process_cached(key, lambda: load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code))

    def _task(self, spec_path: Path) -> TaskData:
        if spec_path not in self._tasks:
            spec = load_spec(spec_path, self.spec_overrides)
            self._tasks[spec_path] = load_task_data(spec, on_skip=lambda _: None)
        return self._tasks[spec_path]

    def _recipe(self, exclude: list[str]) -> dict:
        key = tuple(sorted(exclude))
        if key not in self._recipes:
            self._recipes[key] = meta_identity(load_meta(self.meta_path), exclude)
        return self._recipes[key]

    def plan(self, name: str, spec_path: Path, seed: int, scheme: int = KEY_SCHEME) -> CellPlan:
        """The cell's inputs and content key (loads the target's data; no model); `scheme` 1 gives the key cells had
        before a method's unread `adapt` section left its key (degaml.comparison.rekey renames them)."""
        spec_path = Path(spec_path)
        module = method(name)
        task = self._task(spec_path)
        spec = task.spec
        exclude = exclusion_for(load_meta(self.meta_path), spec.task, spec_path)
        seed = seed if module.SEEDED else 0
        fields = module.Config.model_fields
        overrides = ([f"meta={self.meta_path}"] if "meta" in fields else []) + ([f"seed={seed}"] if "seed" in fields else [])
        config = make_config(name, self.profile, overrides)
        generator = str(generator_dir(load_meta(self.meta_path), exclude)) if module.USES_GENERATOR and exclude else None
        artifacts: dict[str, Any] = {}
        if module.USES_GENERATOR:
            given = getattr(config, "generator", None) or spec.generator
            artifacts["generator"] = self._recipe(exclude) if exclude else {"sha256": generator_sha256(resolve_generator(given))}
        if is_meta_trained(name):
            artifacts[name] = self._recipe(exclude)
        if getattr(module, "USES_LIBRARY", False):  # the meta spec's collected task LoRAs (the target left out)
            artifacts["library"] = self._recipe(exclude)
        if getattr(module, "USES_POLICY", False):
            artifacts["policy"] = policy_identity(config.policy(spec))
        spec_part = portable_spec(spec)
        if scheme >= 2 and not getattr(module, "READS_ADAPT", False):
            spec_part.pop("adapt")  # the episode's settings: only the rows that run an episode read them
        inputs = {"method": name, "spec": spec_part, "data": data_identity(task.provenance),
                  "config": config_identity(config.model_dump(mode="json")), "seed": seed, "artifacts": artifacts,
                  "version": __version__}
        key = content_key(inputs)
        path = self.out_dir / "cells" / spec.task / f"{name}-s{seed}-{key}.json"
        return CellPlan(name, spec_path, task, config, seed, exclude, generator, key, path)

    def cached(self, plan: CellPlan) -> dict[str, Any]:
        """The cached record of `plan` (given its test items' gold answers if it predates them: `fill_gold`)."""
        record = json.loads(plan.path.read_text())
        if fill_gold(record, plan.task):
            write_json(plan.path, record, indent=1)
        return record

    def cell(self, name: str, spec_path: Path, seed: int) -> dict[str, Any]:
        """The cell's record (cached, or computed now)."""
        plan = self.plan(name, spec_path, seed)
        if plan.path.is_file():
            return self.cached(plan)
        if plan.generator is not None and not (Path(plan.generator) / "generator.json").is_file():
            raise DegamlError(f"no leave-one-out generator at {plan.generator}; build it with `degaml generator train "
                              f"{self.meta_path} --exclude {plan.exclude[0]}` (after `degaml generator collect`)")
        spec = plan.task.spec
        work = self.out_dir / "work" / f"{spec.task}-{name}-s{plan.seed}-{plan.key}"
        ctx = RunContext(None, work, plan.spec_path, generator=plan.generator, load=lambda: self._loaded(spec),
                         spec_overrides=self.spec_overrides)
        record = run_baseline(name, ProtocolTask.from_task(plan.task), plan.config, ctx)
        record |= {"seed": plan.seed, "excluded": plan.exclude, "cell": plan.key}
        if ctx.loaded is not None:  # what it computed on (`dtype: auto` differs by CPU kind); not part of the key
            record["compute"] = compute_record(ctx.loaded)
        elif "compute" in record.get("info", {}):  # a method that loaded its own model (DeGAML's episode)
            record["compute"] = record["info"]["compute"]
        plan.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(plan.path, record, indent=1)
        return record


def fill_gold(record: dict[str, Any], task: TaskData) -> bool:
    """Give a cached cell that predates gold answers in records its test items' gold answers, joined by item id from
    the task data its key names (the same items: the key covers their sha256); True when it changed. No model runs;
    correctness is untouched — the gold answers only let the balanced-accuracy companion be computed."""
    predictions = record.get("predictions")
    if not predictions or predictions.get("gold") or not predictions.get("ids"):
        return False
    with scoring():  # after the cell's own final scoring: the gold join reads test labels, nothing is fitted
        answers = {ex.id: ex.answer for ex in task.read("all", "gold join of a scored cell")}  # the pool holds every split
    if any(i not in answers for i in predictions["ids"]):
        return False
    predictions["gold"] = [answers[i] for i in predictions["ids"]]
    record["gold_filled"] = "gold answers joined by item id from the task data after the cell ran"
    return True
