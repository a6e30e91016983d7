"""Markdown rows for `degaml baseline` records of one task: accuracy with 95% CI, and each method against the
first one (Δ in points, McNemar exact p on the same test items).

Usage: python benchmarks/baselines_report.py FIRST.json OTHER.json...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's degaml
from degaml.stats import mcnemar_exact  # noqa: E402


def main(paths: list[str]) -> None:
    records = [json.loads(Path(p).read_text()) for p in paths]
    ref = records[0]
    print("| method | validation % (n) | test % | 95% CI | n | Δ vs " + ref["method"] + " (McNemar p) | chosen | minutes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        t, v = r["test"], r["validation"]
        if r is ref:
            delta = "—"
        else:
            if r["predictions"]["ids"] != ref["predictions"]["ids"]:
                raise SystemExit(f"{r['method']}: scored on other test items than {ref['method']}")
            p = mcnemar_exact(r["predictions"]["correct"], ref["predictions"]["correct"])
            delta = f"{100 * (t['accuracy'] - ref['test']['accuracy']):+.1f} (p={p:.3g})"
        chosen = ", ".join(f"{k} {r['info'][k]}" for k in ("lr", "steps") if k in r["info"]) or "—"
        print(f"| {r['method']} | {100 * v['accuracy']:.1f} ({v['n']}) | **{100 * t['accuracy']:.1f}** | "
              f"{100 * t['ci95'][0]:.1f}–{100 * t['ci95'][1]:.1f} | {t['n']} | {delta} | {chosen} | {r['seconds'] / 60:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
