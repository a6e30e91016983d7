"""Strategy ablation table: validation accuracy of θ₀ (the generated adapter) before/after each family at 2–3 settings.

For each task: the generator's θ₀ from the support prompts is scored once on validation, then every setting below
runs through `degaml.strategies.registry.run_strategy` (the code `degaml strategy run` and `degaml adapt` use).
Results are appended to `OUT_DIR/<task>.json` after each run (re-running the command skips what is done), and a
markdown table is printed at the end.

Every record carries accuracy with its 95% CI, balanced accuracy and the collapse rate, and the exact McNemar p of
each setting against θ₀ on the same validation items.

Usage:
    python benchmarks/strategy_table.py TASK[=GENERATOR_DIR] ... [--out docs/results/strategies] [--limit N]
                                        [--families calibrate,fewshot]
A task is a spec stem under specs/; `=DIR` picks the generator (e.g. a leave-one-out one for held-out tasks).
`--limit N` scores only the first N validation items (same items for θ₀ and every strategy).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from degaml.io import write_json
from degaml.data import load_task_data
from degaml.generator.pipeline import resolve_generator
from degaml.generator.sampler import AdapterSampler
from degaml.models import load_llm
from degaml.specs import load_spec
from degaml.strategies.base import StrategyContext
from degaml.stats import mcnemar_exact
from degaml.strategies.registry import Action, run_strategy

REPO = Path(__file__).resolve().parents[2]
SETTINGS = [
    {"family": "ttt", "ttl_steps": 10, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True},
    {"family": "ttt", "ttl_steps": 25, "learning_rate": 5e-5, "batch_size": 4, "shuffle_data": True},
    {"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"},
    {"family": "tts", "num_prompt_batches": 3, "method": "avg_prompt_embed"},
    {"family": "lora_mix", "lambda": 0.5},
    {"family": "lora_mix", "lambda": 0.0},
    {"family": "slot", "times": 5, "learning_rate": 0.01},
    {"family": "slot", "times": 5, "learning_rate": 0.1},
    {"family": "support_sft", "steps": 25, "learning_rate": 3e-4, "batch_size": 4},
    {"family": "support_sft", "steps": 50, "learning_rate": 1e-3, "batch_size": 4},
    {"family": "calibrate", "method": "contextual"},
    {"family": "calibrate", "method": "batch"},
    {"family": "calibrate", "method": "support_bias"},
    {"family": "calibrate", "method": "pmi"},
    {"family": "fewshot", "k": 3, "selection": "random"},
    {"family": "fewshot", "k": 3, "selection": "nearest"},
    {"family": "tfew", "steps": 25, "learning_rate": 3e-4, "batch_size": 4},
    {"family": "tfew", "steps": 50, "learning_rate": 1e-3, "batch_size": 4},
    {"family": "library_mix", "budget": 40},
]


def key(setting: dict) -> str:
    return json.dumps(setting, sort_keys=True)


def _scored(result) -> dict:
    return {"accuracy": result.accuracy, "ci95": list(result.ci95),
            "answers": result.answers.model_dump() if result.answers else None,
            "correct": "".join("1" if p.correct else "0" for p in result.predictions)}


def run_task(task: str, generator: str | None, out_dir: Path, limit: int | None, families: set[str] | None) -> dict:
    spec = load_spec(REPO / "specs" / f"{task}.yaml", [f"generator={generator}"] if generator else [])
    path = out_dir / f"{task}.json"
    record = json.loads(path.read_text()) if path.is_file() else {"task": task, "runs": {}}
    data = load_task_data(spec, on_skip=lambda _: None)
    if limit:
        data = dataclasses.replace(data, validation=data.validation[:limit])
    gen_dir = resolve_generator(spec.generator)
    work = REPO / "runs" / "strategy_table" / task
    loaded = load_llm(spec.model, spec.device, spec.dtype)
    ctx = StrategyContext(loaded, spec, data, AdapterSampler.load(gen_dir, work / "adapters"), work, seed=spec.seed)
    record.update(generator=str(gen_dir), n=len(data.validation))
    if "correct" not in record.get("theta0", {}):
        start = time.perf_counter()
        result = ctx.evaluate("validation", ctx.initial_adapter())
        base = ctx.evaluate("validation", None)
        record["theta0"] = _scored(result) | {"seconds": time.perf_counter() - start}
        record["base_model"] = _scored(base)
        write_json(path, record, indent=2)
    theta0 = [c == "1" for c in record["theta0"]["correct"]]
    for setting in SETTINGS:
        if key(setting) in record["runs"] or (families and setting["family"] not in families):
            continue
        outcome = run_strategy(Action.model_validate({"strategy": setting}).strategy, ctx, "validation")
        paired = {}
        if outcome.ok and outcome.result is not None:
            mine = [p.correct for p in outcome.result.predictions]
            paired = {"correct": "".join("1" if c else "0" for c in mine), "mcnemar_p_vs_theta0": mcnemar_exact(mine, theta0)}
        record["runs"][key(setting)] = outcome.summary() | paired | {
            "delta": None if outcome.accuracy is None else outcome.accuracy - record["theta0"]["accuracy"]}
        write_json(path, record, indent=2)
        print(f"{task} {key(setting)}: {outcome.accuracy} ({outcome.seconds:.0f} s){' FAILED ' + str(outcome.error) if not outcome.ok else ''}", flush=True)
    return record


def table(records: list[dict]) -> str:
    lines = ["| task (n) | base model | θ₀ (generated) | setting | adapted | Δ vs θ₀ (McNemar p) | balanced acc. | collapse | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        t0, b = r["theta0"], r["base_model"]
        for i, (k, run) in enumerate(r["runs"].items()):
            s = json.loads(k)
            params = ", ".join(f"{a}={v}" for a, v in s.items() if a != "family")
            acc = "failed" if run["accuracy"] is None or not run["ok"] else f"{100 * run['accuracy']:.1f} [{100 * run['ci95'][0]:.1f}–{100 * run['ci95'][1]:.1f}]"
            delta = "–" if run["delta"] is None or not run["ok"] else f"{100 * run['delta']:+.1f}"
            if run.get("mcnemar_p_vs_theta0") is not None:
                delta += f" (p={run['mcnemar_p_vs_theta0']:.2g})"
            answers = run.get("answers") or {}
            bal = "–" if answers.get("balanced_accuracy") is None else f"{100 * answers['balanced_accuracy']:.1f}"
            collapse = "–" if not answers else f"{answers['collapse_rate']:.2f}"
            head = (f"{r['task']} ({r['n']}) | {100 * b['accuracy']:.1f} [{100 * b['ci95'][0]:.1f}–{100 * b['ci95'][1]:.1f}] | "
                    f"{100 * t0['accuracy']:.1f} [{100 * t0['ci95'][0]:.1f}–{100 * t0['ci95'][1]:.1f}]") if i == 0 else " | | "
            lines.append(f"| {head} | {s['family']}: {params} | {acc} | {delta} | {bal} | {collapse} | {run['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="+", help="TASK or TASK=GENERATOR_DIR")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "strategies")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--families", default=None, help="comma-separated families to run (default: all settings)")
    args = parser.parse_args()
    families = set(args.families.split(",")) if args.families else None
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for item in args.tasks:
        task, _, generator = item.partition("=")
        records.append(run_task(task, generator or None, args.out, args.limit, families))
    print(table(records))


if __name__ == "__main__":
    main()
