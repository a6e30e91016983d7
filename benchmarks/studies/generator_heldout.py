"""Downstream accuracy of generated adapters θ₀ on tasks no generator was trained on (the broad generator's second target):
for each held-out task × seed, the base model and θ₀ of each given generator, scored under the comparison
protocol (`degaml baseline base|generator`: validation, then the test split once), with paired tests on the same
test items (exact McNemar per task-seed and pooled; a paired bootstrap of the mean over task-seeds).

Seed s overrides the spec's seed exactly as `benchmarks/studies/heldout_compare.py` does (the same items and partitions).
Cells are cached by their inputs under `--cells` (`degaml/comparison/cells.py`): a killed run resumes.

Usage: python benchmarks/studies/generator_heldout.py [--generator NAME=DIR ...] [--tasks rg/gcd ...] [--seeds 1]
           [--cells runs/generator_heldout] [--out docs/results/generator_heldout.json]
       python benchmarks/studies/generator_heldout.py --report docs/results/generator_heldout.json   # markdown tables
  e.g. --generator shipped=default --generator broad=runs/meta/broad/generator
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from degaml.comparison.cells import CellRunner
from degaml.stats import mcnemar_exact, paired_bootstrap
from degaml.io import write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import HELD_OUT, spec_seed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def parse_generators(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--generator: expected NAME=DIR, got {item!r}")
        out[name] = path if path == "default" else str(Path(path).resolve())
    return out


def cell(method: str, spec_path: Path, seed: int, overrides: list[str], cells: Path) -> dict:
    runner = CellRunner(cells, "cpu", REPO / "specs" / "meta" / "broad.yaml", [f"seed={spec_seed(spec_path, seed)}", *overrides])
    return runner.cell(method, spec_path, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--tasks", nargs="+", default=HELD_OUT, help="spec stems under specs/")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--cells", type=Path, default=REPO / "runs" / "generator_heldout")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator_heldout.json")
    parser.add_argument("--report", type=Path, default=None, help="only print the markdown tables of this report")
    args = parser.parse_args()
    if args.report is not None:
        print(render(json.loads(args.report.read_text())))
        return
    generators = parse_generators(args.generator or ["shipped=default"])
    specs = [REPO / "specs" / f"{t}.yaml" for t in args.tasks]
    missing = [str(s) for s in specs if not s.is_file()]
    if missing:
        raise SystemExit(f"--tasks: no spec {missing[0]}")
    rows = []
    for spec_path in specs:
        for seed in range(args.seeds):
            base = cell("base", spec_path, seed, [], args.cells)
            row = {"task": base["task"], "seed": seed, "n_test": base["test"]["n"], "base": _score(base), "generators": {}}
            for name, path in generators.items():
                gen = cell("generator", spec_path, seed, [f"generator={path}"], args.cells)
                a, b = gen["predictions"]["correct"], base["predictions"]["correct"]
                if gen["predictions"]["ids"] != base["predictions"]["ids"]:
                    raise SystemExit(f"{base['task']} seed {seed}: {name} and base were scored on different test items")
                row["generators"][name] = _score(gen) | {"delta_vs_base": gen["test"]["accuracy"] - base["test"]["accuracy"],
                                                         "mcnemar_p": mcnemar_exact(a, b)}
                print(f"{base['task']} s{seed} {name}: θ₀ {gen['test']['accuracy']:.3f} vs base {base['test']['accuracy']:.3f} "
                      f"(p={row['generators'][name]['mcnemar_p']:.3g})", flush=True)
            rows.append(row)
            _write(args.out, generators, rows)


def render(report: dict) -> str:
    """Per task-seed test accuracy (Wilson CI) of base and each θ₀ with McNemar p vs base; pooled paired tests."""
    names = list(report["generators"])
    pct = lambda s: f"{100 * s['accuracy']:.1f} [{100 * s['ci95'][0]:.1f}–{100 * s['ci95'][1]:.1f}]"  # noqa: E731
    lines = ["| task / seed | test n | base | " + " | ".join(f"θ₀ {n} (Δ, McNemar p)" for n in names) + " |",
             "| --- " * (3 + len(names)) + "|"]
    for r in report["rows"]:
        cells = [f"{pct(g['test'])} ({100 * g['delta_vs_base']:+.1f}, p={g['mcnemar_p']:.2g})" for g in r["generators"].values()]
        lines.append(f"| {r['task']} / s{r['seed']} | {r['n_test']} | {pct(r['base']['test'])} | " + " | ".join(cells) + " |")
    lines += ["", "| θ₀ vs base, pooled | task-seeds | Δ mean (points) | 95% CI | bootstrap p | McNemar p (pooled items) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, p in report["pooled"].items():
        b = p["vs_base_bootstrap"]
        lines.append(f"| {name} | {p['task_seeds']} | {100 * b['delta']:+.1f} | {100 * b['ci95'][0]:+.1f} to "
                     f"{100 * b['ci95'][1]:+.1f} | {b['p']:.2g} | {p['vs_base_mcnemar_p']:.2g} |")
    return "\n".join(lines)


def _score(record: dict) -> dict:
    return {"validation": record["validation"], "test": record["test"], "correct": record["predictions"]["correct"]}


def _write(out: Path, generators: dict[str, str], rows: list[dict]) -> None:
    pooled = {}
    for name in generators:
        gen = [r["generators"][name]["correct"] for r in rows]
        base = [r["base"]["correct"] for r in rows]
        pooled[name] = {"vs_base_bootstrap": paired_bootstrap(gen, base),
                        "vs_base_mcnemar_p": mcnemar_exact(sum(gen, []), sum(base, [])), "task_seeds": len(rows)}
    report = {"command": "python benchmarks/studies/generator_heldout.py " + " ".join(sys.argv[1:]), "generators": generators,
              "rows": rows, "pooled": pooled}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report, indent=1)


if __name__ == "__main__":
    main()
