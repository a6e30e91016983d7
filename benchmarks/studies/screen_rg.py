"""Screen reasoning-gym families for the broad meta-training distribution (specs/meta/broad.yaml).

Base accuracy of the embedded default model on the first N validation items of each specs/rg/*.yaml (not the _base.yaml they include), with one
model load for all families (the same `evaluate` and summary JSON as `degaml eval --split validation --limit N
--json`). Families whose JSON already exists in OUT are skipped, so a killed run resumes where it stopped.

Usage: nice -n 15 python benchmarks/studies/screen_rg.py [--limit 40] [--out docs/results/screen_rg] [SPEC ...]
Table:  python benchmarks/studies/screen_rg.py --table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def screen(specs: list[Path], limit: int, out: Path) -> None:
    from degaml.cli.common import write_json
    from degaml.data import load_task_data
    from degaml.evaluation import evaluate
    from degaml.models import load_llm
    from degaml.specs import load_spec

    out.mkdir(parents=True, exist_ok=True)
    loaded = None
    for path in specs:
        target = out / f"{path.stem}.json"
        if target.is_file():
            continue
        spec = load_spec(path)
        data = load_task_data(spec)
        loaded = loaded or load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
        began = time.perf_counter()
        result = evaluate(loaded, spec, list(data.validation[:limit]), "validation", fewshot_pool=data.train)
        options = spec.dataset[0].options
        write_json(target, result.summary() | {"spec": str(path.relative_to(REPO)), "data_source": data.source.source,
                                                "options": options, "wall_seconds": time.perf_counter() - began})
        print(f"{path.stem}: {100 * result.accuracy:.1f}% (n={result.n}, {time.perf_counter() - began:.0f} s)", flush=True)


def table(out: Path) -> None:
    print("| family | options | base accuracy % | 95% CI | n |")
    print("| --- | --- | --- | --- | --- |")
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        lo, hi = r["ci95"]
        opts = r.get("options") or yaml.safe_load((REPO / r["spec"]).read_text())["dataset"][0].get("options") or {}
        options = ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"
        print(f"| {path.stem} | {options} | {100 * r['accuracy']:.1f} | {100 * lo:.1f}–{100 * hi:.1f} | {r['n']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "screen_rg")
    parser.add_argument("--table", action="store_true", help="print the markdown table of OUT and exit")
    args = parser.parse_args()
    if args.table:
        table(args.out)
        return
    screen([p.resolve() for p in args.specs] or sorted((REPO / "specs" / "rg").glob("[!_]*.yaml")), args.limit, args.out)


if __name__ == "__main__":
    main()
