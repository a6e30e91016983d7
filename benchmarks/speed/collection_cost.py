"""What a checkpoint collection cost: per task seconds and seconds per LoRA step, from the collection manifests that
`degaml generator collect META` wrote (`<meta out_dir>/collect/<task>/manifest.json`), with totals.

Usage: python benchmarks/speed/collection_cost.py specs/meta/broad.yaml [--set draws=1] [--out docs/results/collection_broad.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

from degaml.io import write_json
from degaml.generator.pipeline import collection_dir, included_tasks
from degaml.models.dtype_probe import cpu_flags
from degaml.specs import load_meta_spec


MATMUL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # what decides bf16/fp32 matmul speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("meta", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    meta = load_meta_spec(args.meta, args.overrides)
    tasks, missing = {}, []
    for _, spec in included_tasks(meta, []):
        path = collection_dir(meta, spec.task) / "manifest.json"
        if not path.is_file():
            missing.append(spec.task)
            continue
        m = json.loads(path.read_text())
        tasks[spec.task] = {"seconds": m["seconds"], "seconds_per_step": m["seconds_per_step"]}
    if not tasks:
        raise SystemExit(f"{args.meta}: no collected task (run `degaml generator collect` first)")
    per_step = [t["seconds_per_step"] for t in tasks.values()]
    summary = {"meta": meta.name, "overrides": args.overrides, "tasks_collected": len(tasks), "tasks_missing": missing,
               "total_minutes": sum(t["seconds"] for t in tasks.values()) / 60,
               "seconds_per_step": {"median": statistics.median(per_step), "min": min(per_step), "max": max(per_step)},
               "steps_per_task": meta.collection.phase1_steps + meta.collection.phase2_steps,
               "machine": {"cpu_flags": [f for f in MATMUL_FLAGS if f in cpu_flags().split()], "processor": platform.processor()}, "tasks": tasks}
    print(json.dumps({k: v for k, v in summary.items() if k != "tasks"}, indent=1))
    if args.out:
        write_json(args.out, summary, indent=1)


if __name__ == "__main__":
    main()
