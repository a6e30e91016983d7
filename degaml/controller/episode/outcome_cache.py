"""Executed strategy outcomes, keyed by (task, data split sizes, seed, generator, action, split).

Strategy runs are the expensive part of ReST^EM (minutes each on a CPU). Strategies are seeded and the action space
is a finite set of Literal grids, so a meta-training task's outcome table can be filled once and sampled many times:
every E-step looks here before running a strategy. One small JSON file per entry, written atomically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from degaml.controller.policy.model import canonical
from degaml.io import write_json
from degaml.specs.model import TaskSpec


def cache_key(spec: TaskSpec, generator: str, action: dict[str, Any], split: str, n_items: int) -> str:
    """Everything an outcome depends on: task identity and partition, generator, action, split, items scored."""
    identity = {
        "task": spec.task, "seed": spec.seed, "num_support": spec.num_support, "num_validation": spec.num_validation,
        "model": spec.model, "generator": generator, "action": canonical(action), "split": split, "items": n_items,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


class OutcomeCache:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.directory / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, key: str, summary: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / f"{key}.json", summary, indent=None)

    def __len__(self) -> int:
        return len(list(self.directory.glob("*.json"))) if self.directory.is_dir() else 0
