"""Markdown report of `benchmarks/studies/heldout_compare.py` JSON files (several files are merged: arms may run in
separate processes). Only task-seeds where both arms of a comparison have per-item test correctness enter it.

Usage: python benchmarks/studies/heldout_report.py docs/results/heldout_compare*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's degaml

from degaml.stats import bootstrap_average, mcnemar_exact, paired_bootstrap  # noqa: E402

ORDER = ["base", "theta0", "policy", "random", "fixed:support_sft", "fixed:slot", "fixed:ttt"]


def policy_of(reports: list[dict[str, Any]]) -> str | None:
    """The sha256 of the policy adapter behind the merged `policy` rows; files of two policies do not merge."""
    shas = {r.get("policy_adapter_sha256") for r in reports
            if any("policy" in rows for seeds in r.get("cells", {}).values() for rows in seeds.values())}
    if len(shas) > 1:
        raise SystemExit(f"heldout_report: policy rows of {len(shas)} different policy adapters "
                         f"({', '.join(str(s)[:12] for s in shas)}): report one policy at a time")
    return next(iter(shas), None)


def merge(reports: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    policy_of(reports)
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for report in reports:
        for task, seeds in report.get("cells", {}).items():
            for seed, rows in seeds.items():
                cells.setdefault(task, {}).setdefault(seed, {}).update(rows)
    for seeds in cells.values():  # θ₀'s test correctness is recorded by every episode arm
        for rows in seeds.values():
            theta0 = {r["theta0_correct"] for r in rows.values() if r.get("theta0_correct")}
            if "theta0" not in rows and theta0:
                first = next(r for r in rows.values() if r.get("theta0_correct"))
                rows["theta0"] = {"test": first["theta0_test"], "correct": first["theta0_correct"],
                                  "n_test": first["n_test"], "agrees_across_arms": len(theta0) == 1}
    return cells


def bits(row: dict[str, Any] | None) -> list[bool] | None:
    if not row or not row.get("correct"):
        return None
    return [c == "1" for c in row["correct"]]


def arms_of(cells) -> list[str]:
    seen = {arm for seeds in cells.values() for rows in seeds.values() for arm in rows}
    return [a for a in ORDER if a in seen] + sorted(seen - set(ORDER))


def pairs(cells, a: str, b: str) -> tuple[list[list[bool]], list[list[bool]], list[str]]:
    xs, ys, where = [], [], []
    for task, seeds in sorted(cells.items()):
        for seed, rows in sorted(seeds.items()):
            x, y = bits(rows.get(a)), bits(rows.get(b))
            if x is not None and y is not None and len(x) == len(y):
                xs.append(x), ys.append(y), where.append(f"{task}/s{seed}")
    return xs, ys, where


def best_fixed(cells) -> str | None:
    """The fixed arm with the highest mean *validation* accuracy of its final configuration (never test)."""
    scores = {}
    for arm in arms_of(cells):
        if arm.startswith("fixed:"):
            vals = [rows[arm]["validation"] for seeds in cells.values() for rows in seeds.values() if arm in rows]
            if vals:
                scores[arm] = sum(vals) / len(vals)
    return max(scores, key=scores.get) if scores else None


def render(reports: list[dict[str, Any]] | dict[str, Any]) -> str:
    reports = [reports] if isinstance(reports, dict) else reports
    cells = merge(reports)
    arms = arms_of(cells)
    tasks = sorted(cells)
    lines = ["| task | seeds | " + " | ".join(arms) + " |", "| --- | --- | " + " | ".join("---" for _ in arms) + " |"]
    for task in tasks:
        row = [task, str(len(cells[task]))]
        for arm in arms:
            accs = [rows[arm]["test"] for rows in cells[task].values() if arm in rows]
            row.append(f"{100 * sum(accs) / len(accs):.1f}" if accs else "–")
        lines.append("| " + " | ".join(row) + " |")
    sha = policy_of(reports)
    out = [f"Policy adapter sha256: {sha[:12] if sha else '–'}.", "",
           "Test accuracy % per held-out task (mean over seeds):", "", *lines, ""]
    out += ["Mean over task-seeds (only task-seeds every listed arm has; 95% CI: bootstrap of items within each):", "",
            "| arm | task-seeds | test accuracy % | 95% CI |", "| --- | --- | --- | --- |"]
    for arm in arms:
        series = [bits(rows.get(arm)) for seeds in cells.values() for rows in seeds.values()]
        series = [s for s in series if s is not None]
        if series:
            mean, (lo, hi) = bootstrap_average(series)
            out.append(f"| {arm} | {len(series)} | {100 * mean:.1f} | {100 * lo:.1f}–{100 * hi:.1f} |")
    fixed = best_fixed(cells)
    comparisons = [(a, "base") for a in arms if a != "base"] + [(a, "theta0") for a in arms if a not in ("base", "theta0")]
    comparisons += [("policy", "random"), *([("policy", fixed)] if fixed else [])]
    out += ["", f"Paired comparisons on the same test items (best fixed family by validation: {fixed}); McNemar on the "
            "pooled items, paired bootstrap of the mean over task-seeds:", "",
            "| A vs B | task-seeds | items | Δ A − B (points) | 95% CI | bootstrap p | McNemar p | A only / B only right |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for a, b in comparisons:
        xs, ys, where = pairs(cells, a, b)
        if not xs:
            continue
        boot = paired_bootstrap(xs, ys)
        flat_x = [v for x in xs for v in x]
        flat_y = [v for y in ys for v in y]
        only_a = sum(x and not y for x, y in zip(flat_x, flat_y))
        only_b = sum(y and not x for x, y in zip(flat_x, flat_y))
        out.append(f"| {a} vs {b} | {len(xs)} | {len(flat_x)} | {100 * boot['delta']:+.1f} | "
                   f"{100 * boot['ci95'][0]:+.1f} to {100 * boot['ci95'][1]:+.1f} | {boot['p']:.3f} | "
                   f"{mcnemar_exact(flat_x, flat_y):.3g} | {only_a} / {only_b} |")
    out += ["", "Per task-seed, every arm against θ₀ and against the base model (Δ points, two-sided exact McNemar p):", "",
            "| task / seed | " + " | ".join(f"{a} vs θ₀ | {a} vs base" for a in arms if a not in ("base", "theta0")) + " |",
            "| --- | " + " | ".join("--- | ---" for a in arms if a not in ("base", "theta0")) + " |"]
    for task in tasks:
        for seed, rows in sorted(cells[task].items()):
            row = [f"{task} / s{seed}"]
            for a in (a for a in arms if a not in ("base", "theta0")):
                for ref in ("theta0", "base"):
                    x, y = bits(rows.get(a)), bits(rows.get(ref))
                    row.append(f"{100 * (sum(x) - sum(y)) / len(x):+.1f} (p={mcnemar_exact(x, y):.2g})"
                               if x and y and len(x) == len(y) else "–")
            out.append("| " + " | ".join(row) + " |")
    disagree = [f"{t}/s{s}" for t, seeds in cells.items() for s, rows in seeds.items()
                if rows.get("theta0", {}).get("agrees_across_arms") is False]
    if disagree:
        out += ["", f"θ₀'s test correctness differs between arms on {', '.join(disagree)} (should not happen)."]
    return "\n".join(out)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path("docs/results").glob("heldout_compare*.json"))
    print(render([json.loads(p.read_text()) for p in paths]))


if __name__ == "__main__":
    main()
