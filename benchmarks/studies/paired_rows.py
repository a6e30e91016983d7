"""Paired comparison of two rows whose cells live in different `degaml reproduce` output directories (e.g. the
DeGAML row run with another generator, `--set generator=…`, against a baseline row of the committed table): per task
the accuracies and the exact McNemar / paired-bootstrap p-value, pooled the mean of the per-task differences with a
paired bootstrap over items — the same statistics as the tables (`degaml.comparison.tables`). Loads no model.

Usage: python benchmarks/studies/paired_rows.py --a DIR:METHOD --b DIR:METHOD --task commonsenseqa --task sciq …
       [--out result.json]
DIR is a directory holding `<task>/<method>-s<seed>-<key>.json` cells (all seeds found are averaged per item).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from degaml.comparison.tables import _correct, _paired_cell  # noqa: E402
from degaml.io import write_json  # noqa: E402
from degaml.stats import paired_bootstrap  # noqa: E402


def load_row(spec: str, task: str) -> list[dict]:
    """The cells of `DIR:METHOD` for `task` (one per seed), refused when there are none."""
    directory, method = spec.rsplit(":", 1)
    paths = sorted(Path(directory, task).glob(f"{method}-s*-*.json"))
    if not paths:
        raise SystemExit(f"{spec}: no cells for task '{task}' in {directory}/{task}/")
    return [json.loads(p.read_text()) for p in paths]


def compare(a: str, b: str, tasks: list[str]) -> dict:
    per_task, pairs = {}, []
    for task in tasks:
        ra, rb = load_row(a, task), load_row(b, task)
        va, vb = _correct(ra), _correct(rb)
        if va is None or vb is None or len(va) != len(vb):
            raise SystemExit(f"task '{task}': the two rows have no per-item predictions on the same test items")
        ids_a, ids_b = ra[0]["predictions"]["ids"], rb[0]["predictions"]["ids"]
        if ids_a != ids_b:
            raise SystemExit(f"task '{task}': the two rows scored different test items")
        acc_a, acc_b = sum(va) / len(va), sum(vb) / len(vb)
        per_task[task] = {"a": acc_a, "b": acc_b, "delta_points": 100 * (acc_a - acc_b), "seeds": [len(ra), len(rb)],
                          **_paired_cell(va, vb)}
        pairs.append((va, vb))
    pooled = paired_bootstrap([p[0] for p in pairs], [p[1] for p in pairs])
    return {"a": a, "b": b, "tasks": per_task, "pooled": pooled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--task", action="append", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = compare(args.a, args.b, args.task) | {"command": " ".join(["python", *sys.argv])}
    for task, cell in result["tasks"].items():
        print(f"{task}: {100 * cell['a']:.1f} vs {100 * cell['b']:.1f}  Δ {cell['delta_points']:+.1f} (p = {cell['p']:.3g})")
    pooled = result["pooled"]
    print(f"pooled Δ {100 * pooled['delta']:+.1f} points (95% CI {100 * pooled['ci95'][0]:+.1f} to "
          f"{100 * pooled['ci95'][1]:+.1f}, p = {pooled['p']:.3g})")
    if args.out:
        write_json(args.out, result, indent=1)


if __name__ == "__main__":
    main()
