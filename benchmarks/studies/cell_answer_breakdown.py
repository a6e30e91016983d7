"""Accuracy of reproduced-table cells split by the gold answer: does a method learn the task or a class prior?

Reads the cells' per-item test correctness (`predictions`, written at the cell's single test read) and, after that
final scoring, the test items' gold answers from the task's own seeded split. For each cell: accuracy per gold
answer with its 95% Wilson CI. A method that predicts one answer everywhere scores 100% on that answer and 0% on
the others. Reference row: the constant predictor a practitioner gets for free from the protocol's labelled budget —
always the most common answer of the 20 labelled support items (the `majority` baseline) — with each cell's paired
exact McNemar p against it on the same test items (is a method better than answering the support's majority label?).

Usage: python benchmarks/studies/cell_answer_breakdown.py SPEC CELL.json... [--out JSON]
  e.g. python benchmarks/studies/cell_answer_breakdown.py specs/boolq.yaml docs/results/tables-in-domain/cells/boolq/*.json \
       --out docs/results/tables-in-domain/boolq_answer_breakdown.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from degaml.io import write_json
from degaml.baselines.majority import answer_counts, majority_answer  # noqa: E402
from degaml.protocol import score_split  # noqa: E402
from degaml.stats import mcnemar_exact  # noqa: E402
from degaml.data import load_task_data  # noqa: E402
from degaml.stats import wilson_interval  # noqa: E402
from degaml.specs import load_spec  # noqa: E402


MAX_COLUMNS = 6  # answers shown in the printed table (GCD has dozens)


def gold_label(example, by_position: bool) -> str:
    """The gold answer as text: the choice's text for multiple choice over one fixed label set (BoolQ's no / yes),
    its position ("choice 2") where every item has its own choices (ARC, PIQA: a constant answer is a position)."""
    if example.choices and isinstance(example.answer, int):
        return f"choice {example.answer}" if by_position else example.choices[example.answer]
    return str(example.answer)


def breakdown(cell: dict[str, Any], gold: dict[str, str], constant_ok: dict[str, bool]) -> dict[str, Any]:
    """Accuracy per gold answer, and the paired comparison with the constant (`constant_ok`: its per-item correctness)."""
    ids, correct = cell["predictions"]["ids"], cell["predictions"]["correct"]
    missing = [i for i in ids if i not in gold]
    if missing:
        raise SystemExit(f"cell_answer_breakdown: {cell['method']} cell has test ids not in the spec's test split "
                         f"(e.g. {missing[0]}): another spec or seed")
    per: dict[str, list[bool]] = {}
    for item, ok in zip(ids, correct):
        per.setdefault(gold[item], []).append(bool(ok))
    rows = {}
    for answer, oks in sorted(per.items()):
        low, high = wilson_interval(sum(oks), len(oks))
        rows[answer] = {"n": len(oks), "accuracy": sum(oks) / len(oks), "ci95": [low, high]}
    constant_hits = [constant_ok[item] for item in ids]
    return {"method": cell["method"], "seed": cell.get("seed", 0), "accuracy": cell["test"]["accuracy"],
            "n": len(ids), "by_gold_answer": rows,
            "vs_support_majority": {"delta": sum(map(bool, correct)) / len(ids) - sum(constant_hits) / len(ids),
                                    "mcnemar_p": mcnemar_exact([bool(c) for c in correct], constant_hits)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("cells", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    task = load_task_data(load_spec(args.spec), on_skip=lambda _: None)
    test = task.read("test", "answer breakdown of scored cells")  # the cells have read it already
    by_position = len({tuple(e.choices or ()) for e in test}) > 1
    gold = {e.id: gold_label(e, by_position) for e in test}
    counts = Counter(gold.values())
    answer = majority_answer(task.labelled_support)  # the `majority` baseline's answer, scored as that baseline is
    constant = gold_label(replace(test[0], answer=answer), by_position)
    support = {gold_label(replace(test[0], answer=a), by_position): n
               for a, n in answer_counts(task.labelled_support).items()}
    scored = score_split(None, task.spec, test, "test", [], (), constant=answer)
    constant_ok = dict(zip(scored.ids, scored.correct))
    hits = sum(scored.correct)
    low, high = wilson_interval(hits, len(gold))
    report = {"task": task.spec.task, "spec": str(args.spec), "test_n": len(gold),
              "gold_answer_share": {a: c / len(gold) for a, c in sorted(counts.items())},
              "support_majority": {"answer": constant, "support_counts": dict(sorted(support.items())),
                                   "accuracy": hits / len(gold), "ci95": [low, high]},
              "cells": [breakdown(json.loads(p.read_text()), gold, constant_ok) for p in sorted(args.cells)],
              "command": "python benchmarks/studies/cell_answer_breakdown.py " + " ".join(sys.argv[1:])}
    shown = sorted(sorted(counts), key=lambda a: -counts[a])[:MAX_COLUMNS]  # the most common answers; the JSON has all
    print(f"{report['task']}: test n={len(gold)}; gold share " +
          ", ".join(f"{a!r} {counts[a] / len(gold):.1%}" for a in shown) + (", …" if len(counts) > len(shown) else ""))
    print(f"support majority: {constant!r} ({support[constant]} of {sum(support.values())} support items); "
          f"always answering it scores {hits / len(gold):.1%} ({low:.1%}–{high:.1%}) on test")
    print("| method | accuracy | " + " | ".join(f"acc. on {a!r} (n)" for a in shown) + " | Δ vs support majority (p) |")
    print("|---|---|" + "---|" * len(shown) + "---|")
    for row in report["cells"]:
        cells = [f"{row['by_gold_answer'][a]['accuracy']:.1%} ({row['by_gold_answer'][a]['n']})"
                 if a in row["by_gold_answer"] else "—" for a in shown]
        vs = row["vs_support_majority"]
        print(f"| {row['method']} | {row['accuracy']:.1%} | " + " | ".join(cells) +
              f" | {100 * vs['delta']:+.1f} (p={vs['mcnemar_p']:.3g}) |")
    if args.out:
        write_json(args.out, report, indent=1)


if __name__ == "__main__":
    main()
