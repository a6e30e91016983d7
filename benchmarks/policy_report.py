"""Markdown tables for docs/results.md from the policy's manifest (ReST^EM iterations) and the held-out comparison
(`benchmarks/policy_compare.py` → docs/results/policy_compare.json).

Usage: python benchmarks/policy_report.py [--manifest degaml/controller/pretrained/smollm2-135m-policy/manifest.json]
       [--compare docs/results/policy_compare.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from degaml.evaluation.metrics import wilson_interval

REPO = Path(__file__).resolve().parents[1]


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def with_ci(acc: float, n: int) -> str:
    lo, hi = wilson_interval(round(acc * n), n)
    return f"{100 * acc:.1f} [{100 * lo:.1f}–{100 * hi:.1f}]"


def iterations_table(manifest: dict) -> str:
    rows = ["| iteration | policy rolled out | samples | accepted | reward rate | accepted per task | SFT examples, steps, loss first → last |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for it in manifest["iterations"]:
        sft = it.get("sft") or {}
        loss = f"{sft['examples']}, {sft['steps']}, {sft['first_loss']:.3f} → {sft['last_loss']:.3f}" if sft else "–"
        per_task = ", ".join(f"{k} {v}" for k, v in it["accepted_per_task"].items())
        policy_in = "base model" if it["policy_in"] == "base" else Path(it["policy_in"]).parent.name
        rows.append(f"| {it['iteration']} | {policy_in} | {it['samples']} | {it['accepted']} | {it['reward_rate']:.3f} | {per_task} | {loss} |")
    return "\n".join(rows)


def compare_table(report: dict) -> str:
    tasks = report["tasks"]
    order = ["policy", "base", "random-0", "random-1", "random-2", "random-3"]
    arms = sorted(dict.fromkeys(a for t in tasks.values() for a in t), key=lambda a: (order.index(a) if a in order else len(order), a))
    head = "| arm | " + " | ".join(f"{t}: action → validation (θ₀) | test" for t in tasks) + " | mean test |"
    rows = [head, "| --- |" + " --- | --- |" * len(tasks) + " --- |"]
    for arm in arms:
        cells, tests = [], []
        for task in tasks.values():
            r = task.get(arm)
            if r is None:
                cells += ["–", "–"]
                continue
            s = r["action"]["strategy"] if r["action"] else {}
            params = ", ".join(f"{k}={v}" for k, v in s.items() if k != "family")
            mark = " ✓" if r["reward"] else ""
            cells.append(f"{s.get('family', 'invalid')} ({params}) → {pct(r['validation'])} ({pct(r['baseline_validation'])}){mark}")
            cells.append(with_ci(r["test"], r["n_test"]))
            tests.append(r["test"])
        mean = f"{100 * sum(tests) / len(tests):.1f}" if len(tests) == len(tasks) else "–"
        rows.append(f"| {arm} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=REPO / "degaml" / "controller" / "pretrained" / "smollm2-135m-policy" / "manifest.json")
    parser.add_argument("--compare", type=Path, default=REPO / "docs" / "results" / "policy_compare.json")
    args = parser.parse_args()
    if args.manifest.is_file():
        print(iterations_table(json.loads(args.manifest.read_text())), end="\n\n")
    if args.compare.is_file():
        print(compare_table(json.loads(args.compare.read_text())))


if __name__ == "__main__":
    main()
