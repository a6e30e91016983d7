"""One cell of a reproduced table: one method on one target task with one seed, cached by the hash of its inputs.

A finished cell is a JSON record (the `degaml baseline` record, per-item test correctness included) written
atomically to DIR/cells/; a killed run recomputes only the missing cells. Failed cells are never cached.
Leave-one-task-out: a target that is a task of the meta spec is excluded from every meta-trained artifact, and the
`generator` and `degaml` rows use the generator trained without it (`generator-minus-<task>`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from degaml import __version__
from degaml.io import write_json

SEEDED = {"no_meta_lora", "union_lora", "maml", "abmll"}  # deterministic rows (base, generator, degaml) run once
META_TRAINED = {"union_lora", "maml", "abmll"}
PROTOCOL_OVERRIDES = ["fewshot_from=support"]  # the DeGAML row reads what every baseline reads (few-shot from support)
DEGAML_OVERRIDES = {"tiny": [*PROTOCOL_OVERRIDES, "adapt.policy=random", "adapt.steps=1"],
                    "cpu": PROTOCOL_OVERRIDES, "paper": PROTOCOL_OVERRIDES}


def policy_sha256(name: str) -> str | None:
    """The sha256 of the policy adapter `adapt.policy` names (None: the base model or the random policy)."""
    from degaml.controller.policy import resolve_policy
    from degaml.io import file_sha256

    path = None if name == "random" else resolve_policy(name)
    return file_sha256(path / "adapter_model.safetensors") if path is not None else None


class CellRunner:
    """Runs (or loads) cells; keeps one loaded model per (model, device, dtype)."""

    def __init__(self, out_dir: Path, profile: str, meta_path: Path, spec_overrides: list[str] | None = None) -> None:
        self.out_dir, self.profile, self.meta_path = Path(out_dir), profile, Path(meta_path)
        self.spec_overrides = spec_overrides or []
        self._models: dict[tuple, Any] = {}

    def _loaded(self, spec):
        from degaml.models import load_llm

        key = (spec.model, spec.device, spec.dtype)
        if key not in self._models:
            self._models[key] = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
        return self._models[key]

    def _generator(self, spec, exclude: list[str], meta) -> str:
        """The generator the cell uses: the spec's, or the leave-one-out one's directory (it may not be built yet:
        a cached cell loads without it; `_require_generator` checks it before a cell is computed)."""
        from degaml.generator.pipeline import generator_dir, resolve_generator

        return str(generator_dir(meta, exclude)) if exclude else str(resolve_generator(spec.generator))

    def _require_generator(self, generator: str, exclude: list[str]) -> None:
        if exclude and not (Path(generator) / "generator.json").is_file():
            from degaml.errors import DegamlError

            raise DegamlError(f"no leave-one-out generator at {generator}; build it with `degaml generator train "
                              f"{self.meta_path} --exclude {exclude[0]}` (after `degaml generator collect`)")

    def cell(self, method: str, spec_path: Path, seed: int) -> dict[str, Any]:
        """The cell's record (cached, or computed now)."""
        from degaml.baselines.artifacts import exclusion_for, load_meta
        from degaml.baselines.runner import make_config
        from degaml.specs import load_spec

        spec = load_spec(spec_path, self.spec_overrides)
        meta = load_meta(self.meta_path)
        exclude = exclusion_for(meta, spec.task, spec_path)
        generator = self._generator(spec, exclude, meta) if method in ("generator", "degaml") else None
        seed = seed if method in SEEDED else 0
        if method == "degaml":
            config: dict[str, Any] = {"overrides": DEGAML_OVERRIDES.get(self.profile, []) + [f"generator={generator}"]}
        else:
            extra = [f"meta={self.meta_path}"] if method in META_TRAINED else []
            config = make_config(method, self.profile, extra + [f"seed={seed}"]).model_dump(mode="json")
        spec_inputs = spec.model_dump(mode="json")
        if spec_inputs.get("fewshot_from") == "train":  # the default (baselines read the support either way): keys of
            del spec_inputs["fewshot_from"]  # cells cached before the field existed stay valid
        inputs = {"method": method, "spec": spec_inputs, "config": config, "exclude": exclude,
                  "generator": generator, "version": __version__}
        if method == "degaml":  # a retrained (re-shipped) policy is another cell
            policy = next((o.split("=", 1)[1] for o in reversed(config["overrides"]) if o.startswith("adapt.policy=")),
                          spec.adapt.policy)
            inputs["policy_sha256"] = policy_sha256(policy)
        key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]
        path = self.out_dir / "cells" / spec.task / f"{method}-s{seed}-{key}.json"
        if path.is_file():
            return json.loads(path.read_text())
        if generator is not None:
            self._require_generator(generator, exclude)
        work = self.out_dir / "work" / f"{spec.task}-{method}-s{seed}-{key}"
        if method == "degaml":
            record = self._run_degaml(spec_path, spec, config["overrides"], work)
        else:
            record = self._run_baseline(method, spec, spec_path, config, generator, work)
        record |= {"seed": seed, "excluded": exclude, "cell": key}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record, indent=1)
        return record

    def _run_baseline(self, method, spec, spec_path, config, generator, work) -> dict:
        from degaml.baselines.runner import RunContext, config_class, run_baseline
        from degaml.comparison.protocol import ProtocolTask
        from degaml.data import load_task_data

        ptask = ProtocolTask.from_task(load_task_data(spec, on_skip=lambda _: None))
        ctx = RunContext(self._loaded(spec), work, Path(spec_path), generator=generator)
        return run_baseline(method, ptask, config_class(method).model_validate(config), ctx)

    def _run_degaml(self, spec_path, spec, overrides, work) -> dict:
        """`degaml adapt` (resumed if its run directory exists); per-item test correctness from its final event (the
        episode's single test read, any predictor — SLOT and TTS included); runs from before that field existed
        have their final adapter re-scored instead."""
        import time

        from degaml.comparison.protocol import ProtocolTask, final_score
        from degaml.controller.adapt import create_run, open_run, run_adapt
        from degaml.data import load_task_data
        from degaml.errors import DegamlError

        began = time.perf_counter()
        run_dir = work / "adapt"
        store = open_run(run_dir)[0] if (run_dir / "run.json").is_file() else create_run(spec_path, self.spec_overrides + overrides, run_dir)
        store, run_spec = open_run(store.run_dir)
        final = run_adapt(store, run_spec)
        if final is None:
            raise DegamlError(f"adaptation run {run_dir} stopped before its final scoring")
        task = load_task_data(run_spec, on_skip=lambda _: None)
        ptask = ProtocolTask.from_task(task)
        record = {"method": "degaml", "task": spec.task, "profile": self.profile, "config": {"overrides": overrides},
                  "validation": {"accuracy": final.best_validation, "ci95": None, "n": None},
                  "test": final.test.model_dump(mode="json", exclude={"predicted", "gold"}), "labelled_items": ptask.labelled_items(),
                  "info": {"run_dir": str(run_dir), "best_action": final.best_action, "artifact": final.artifact},
                  "data_source": ptask.data_source, "predictions": None}
        artifact = Path(final.artifact) if final.artifact else None
        if final.test.correct and len(final.test.correct) == len(task.test):  # test ids only: the labels were read in the episode
            record["predictions"] = {"ids": [e.id for e in task.test], "correct": [c == "1" for c in final.test.correct],
                                     "predicted": final.test.predicted, "gold": final.test.gold}
        elif artifact is not None and (artifact / "adapter_config.json").is_file():
            rescored = final_score(self._loaded(run_spec), ptask, [artifact])
            record["predictions"] = rescored.per_item()
            record["info"]["rescored_test_accuracy"] = rescored.accuracy
        record["seconds"] = time.perf_counter() - began
        return record
