"""Render a markdown table from `degaml eval --json` summaries (as written by benchmarks/base_accuracy.sh).

Usage: python benchmarks/results_table.py docs/results/base/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    lo, hi = r["ci95"]
    norm = f"{100 * r['acc_norm']:.1f}" if r.get("acc_norm") is not None else "–"
    return (f"| {r['task']} | {r['data_source']} | {r['n']} | {r['metric']} | **{100 * r['accuracy']:.1f}** "
            f"| {100 * lo:.1f}–{100 * hi:.1f} | {100 * r['acc']:.1f} | {norm} |")


def main(paths: list[str]) -> None:
    print("| task | data | n | metric | accuracy % | 95% CI | acc % | acc_norm % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        print(row(Path(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
