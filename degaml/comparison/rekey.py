"""Migration of cells cached under an earlier key to their content key (`degaml reproduce --rekey`).

Content keys of scheme 1 held every cell's spec `adapt` section; scheme 2 holds it only for methods that read it
(degaml.comparison.cells.KEY_SCHEME). A scheme-1 key is recomputed from the same inputs, so such a cell is renamed
exactly when the recomputation matches its file name.

The path-based key before them hashed the method, the resolved spec, the method config (with the meta spec's path), the
exclusion, the generator's directory (an absolute path), the degaml version and, for DeGAML, the policy's sha256.
Each of those is recorded in the cell (config, exclusion, generator directory in `info` or in the run overrides)
or given by the reproduce command (specs, `--set`), so that key can be recomputed: a cell is renamed only
when that recomputation matches its file name (its inputs are then known exactly) and the config the current code
would run is the one it recorded. Anything else is left where it is and reported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from degaml import __version__
from degaml.baselines.adapt import PROTOCOL_OVERRIDES
from degaml.comparison.cells import CellRunner
from degaml.comparison.keys import policy_sha256
from degaml.io import write_json
from degaml.specs import load_spec
from degaml.specs.model import TaskSpec


@dataclass
class RekeyReport:
    renamed: list[tuple[Path, Path]] = field(default_factory=list)
    current: list[Path] = field(default_factory=list)  # already under their content key
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (cell, why it was left in place)


def _run_generator(record: dict[str, Any]) -> str | None:
    """The generator directory a cell recorded (DeGAML: its run override; the generator row: `info`)."""
    if record["method"] == "degaml":
        return next((o.split("=", 1)[1] for o in record["config"]["overrides"] if o.startswith("generator=")), None)
    return record.get("info", {}).get("generator") if record["method"] == "generator" else None


def legacy_key(record: dict[str, Any], spec: TaskSpec) -> str:
    """The earlier key of a cell, from its record and the spec (with the command's overrides) it ran on."""
    spec_inputs = spec.model_dump(mode="json")
    spec_inputs["adapt"]["minutes"] = spec_inputs["adapt"].pop("budget_minutes")  # its name when these keys were made
    if spec_inputs.get("fewshot_from") == "train":
        del spec_inputs["fewshot_from"]
    inputs = {"method": record["method"], "spec": spec_inputs, "config": record["config"], "exclude": record["excluded"],
              "generator": _run_generator(record), "version": __version__}
    if record["method"] == "degaml":
        overrides = record["config"]["overrides"]
        policy = next((o.split("=", 1)[1] for o in reversed(overrides) if o.startswith("adapt.policy=")), spec.adapt.policy)
        inputs["policy_sha256"] = policy_sha256(policy)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _same_config(record: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether the current code would run the config the cell recorded (the meta spec's path aside)."""
    recorded = record["config"]
    if record["method"] == "degaml":
        ran = [o for o in recorded["overrides"] if not o.startswith("generator=")]
        return ran == [*PROTOCOL_OVERRIDES, *config["overrides"]]
    return {k: v for k, v in recorded.items() if k != "meta"} == {k: v for k, v in config.items() if k != "meta"}


def rekey(out_dir: Path, spec_paths: list[Path], profile: str, meta_path: Path,
          spec_overrides: list[str] | None = None) -> RekeyReport:
    """Rename the cells of OUT/cells whose earlier key matches to their content key (the `cell` field follows)."""
    runner = CellRunner(out_dir, profile, meta_path, spec_overrides)
    specs = {load_spec(p, spec_overrides or []).task: Path(p) for p in spec_paths}
    report = RekeyReport()
    for path in sorted((Path(out_dir) / "cells").glob("*/*.json")):
        record = json.loads(path.read_text())
        spec_path = specs.get(record.get("task", ""))
        if spec_path is None:
            report.skipped.append((path, "not a task of this command"))
            continue
        plan = runner.plan(record["method"], spec_path, record.get("seed", 0))
        if plan.path == path:
            report.current.append(path)
            continue
        if path.stem.endswith("-" + runner.plan(record["method"], spec_path, record.get("seed", 0), scheme=1).key):
            _rename(path, record, plan.path, plan.key, report)  # an earlier content key: its inputs are known exactly
            continue
        if not path.stem.endswith("-" + legacy_key(record, plan.task.spec)):
            report.skipped.append((path, "its earlier key does not match this command's inputs"))
        elif not _same_config(record, plan.config.model_dump(mode="json")):
            report.skipped.append((path, "its recorded config is not the one this version runs"))
        else:
            _rename(path, record, plan.path, plan.key, report)
    return report


def _rename(path: Path, record: dict[str, Any], target: Path, key: str, report: RekeyReport) -> None:
    """Write the cell under its content key (the `cell` field follows), then remove the old file."""
    if target.exists():
        report.skipped.append((path, f"{target.name} exists already"))
        return
    write_json(target, record | {"cell": key}, indent=1)
    path.unlink()
    report.renamed.append((path, target))
