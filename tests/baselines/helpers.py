"""A tiny meta-training world for the baseline tests: two meta-training tasks + one target, all on the tiny model."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def write_world(root: Path, model_dir: Path) -> dict[str, Path]:
    """Spec files task_a, task_b, target (each its own data) and a meta spec over all three."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, name in enumerate(["task_a", "task_b", "target"]):
        rows = [dict(r, id=f"{name}-{r['id']}", question=f"{name} {r['question']}") for r in mc_rows(60 + k)]
        data = write_jsonl(root / f"{name}.jsonl", rows)
        spec = mc_spec_dict(data, model=str(model_dir), task=name, num_train=12, num_test=10, num_validation=8, seed=k)
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(spec))
    meta = {"version": 1, "name": "tiny_meta", "model": str(model_dir), "device": "cpu", "out_dir": str(root / "meta-out"),
            "tasks": ["task_a.yaml", "task_b.yaml", "target.yaml"], "collection": {}, "generator": {}}
    paths["meta"] = root / "meta.yaml"
    paths["meta"].write_text(yaml.safe_dump(meta))
    return paths
