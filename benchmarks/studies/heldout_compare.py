"""Adaptation on held-out tasks (docs/findings/adaptation.md § Held-out comparison): base, θ₀, the policy, a random
policy and fixed families, scored once on the **test** split of tasks neither the generator nor the policy was
trained on, with paired tests.

For every task × seed (the spec's `seed` is overridden per seed: another draw of items and another
support/validation/test partition) every episode arm runs the real `degaml adapt` episode (θ₀ from the shipped
generator, the same step budget `adapt.steps`, the spec's reward rule on validation, the accepted chain scored
once on test). Arms:
  base          the base model without adapter, test split (scored through the episode's evaluator)
  theta0        the generator's adapter θ₀ alone (its test score is recorded by every episode; all must agree)
  policy        the policy (`--policy`: `default` = the shipped ReST^EM adapter, or a directory); its runs are
                kept per adapter (run directory `policy-<sha256[:12]>`), and the report records the adapter's sha256
  random        a uniformly random family, then uniformly random parameters (the controller's RandomPolicy)
  fixed:F       one fixed setting of family F (FIXED below; declared before any test read, from the
                validation-only strategy ablation in docs/findings/strategies.md)
Per-item test correctness is stored for every arm, so every difference gets a paired test: exact McNemar on the
pooled items, and a paired bootstrap of the mean over task-seeds. Runs are resumable (a finished episode is read
back from its store), and the report is rewritten after every arm.

Usage: python benchmarks/studies/heldout_compare.py [--tasks rg/gcd rg/word_sorting ...] [--seeds 3] [--arms ...]
           [--policy default] [--runs runs/heldout] [--out docs/results/heldout_compare.json] [KEY=VALUE ...]
Report (markdown, paired tests): python benchmarks/studies/heldout_report.py docs/results/heldout_compare*.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any
from degaml.io import write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import HELD_OUT, SEED_STRIDE, spec_seed  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXED = {
    "support_sft": {"family": "support_sft", "steps": 25, "learning_rate": 3e-4, "batch_size": 4},
    "slot": {"family": "slot", "times": 5, "learning_rate": 0.01},
    "ttt": {"family": "ttt", "ttl_steps": 10, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True},
}
ARMS = ["base", "theta0", "policy", "random", *(f"fixed:{f}" for f in FIXED)]
EPISODE_ARMS = [a for a in ARMS if a not in ("base", "theta0")]

def episode(spec_path: Path, arm: str, seed: int, policy: str, overrides: list[str], runs: Path):
    """Run (or read back) one arm's episode; returns (store, final event)."""
    from degaml.controller.episode.adapt import build_runtime, create_run, open_run, run_adapt
    from degaml.controller.policy.reference import FixedPolicy, RandomPolicy

    run_dir = runs / spec_path.stem / f"s{seed}" / arm.replace(":", "-")
    if arm == "policy":  # one run per policy adapter: a re-shipped policy never reads back another's episode
        from degaml.comparison.keys import policy_sha256

        sha = policy_sha256(policy)
        run_dir = run_dir.with_name(f"policy-{sha[:12]}" if sha else "policy-base")
    spec_policy = {"policy": policy, "random": "random"}.get(arm, "base")
    spec_overrides = [*overrides, f"seed={spec_seed(spec_path, seed)}", f"adapt.policy={spec_policy}", "adapt.budget_minutes=null"]
    if not (run_dir / "run.json").is_file():
        create_run(spec_path, spec_overrides, run_dir)
    store, spec = open_run(run_dir)
    finals = [e for e in store.events() if e.kind == "final"]
    if finals and store.status() == "finished":
        return store, spec, finals[-1], None
    runtime = build_runtime(spec, store)
    if arm == "random":
        runtime.policy = RandomPolicy(seed, salt=spec.task)
    elif arm.startswith("fixed:"):
        runtime.policy = FixedPolicy({"strategy": FIXED[arm.split(":", 1)[1]]})
    final = run_adapt(store, spec, runtime)
    if final is None:
        raise SystemExit(f"{run_dir}: the episode did not finish ({store.status()})")
    return store, spec, final, runtime


def base_row(spec_path: Path, seed: int, overrides: list[str], runs: Path, runtime) -> dict[str, Any]:
    """The base model (no adapter) on the same test items, through the same evaluator; cached as JSON."""
    from degaml.controller.episode.reward import bits
    from degaml.controller.episode.rollout import correctness

    path = runs / spec_path.stem / f"s{seed}" / "base.json"
    if path.is_file():
        return json.loads(path.read_text())
    began = time.perf_counter()
    result = runtime.ctx.evaluate("test", None, label="base model")
    row = {"test": result.accuracy, "test_ci95": list(result.ci95), "n_test": result.n,
           "correct": bits(correctness(result)), "seconds": time.perf_counter() - began}
    write_json(path, row, indent=1)
    return row


def episode_row(store, final) -> dict[str, Any]:
    steps = store.steps()
    base = next(e for e in store.events() if e.kind == "baseline")
    theta0_test = final.baseline_test or final.test
    return {
        "actions": [s.action for s in steps], "step_validation": [s.accuracy for s in steps],
        "rewards": [s.reward for s in steps], "chain_actions": final.chain_actions,
        "theta0_validation": base.validation.accuracy, "n_validation": base.validation.n,
        "validation": final.best_validation, "test": final.test.accuracy, "test_ci95": list(final.test.ci95),
        "n_test": final.test.n, "correct": final.test.correct, "theta0_test": theta0_test.accuracy,
        "theta0_correct": theta0_test.correct, "reverted": final.reverted, "seconds": final.seconds,
        "run_dir": str(store.run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", default=[], help="spec overrides for every arm (e.g. adapt.steps=2)")
    parser.add_argument("--tasks", nargs="+", default=HELD_OUT, help="spec stems under specs/")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "heldout")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "heldout_compare.json")
    args = parser.parse_args()
    overrides = args.overrides or ["adapt.steps=2"]
    for seed in range(args.seeds):
        for task in args.tasks:
            spec_path = REPO / "specs" / f"{task}.yaml"
            rows: dict[str, Any] = {}
            runtime = None
            for arm in [a for a in args.arms if a in EPISODE_ARMS]:
                store, spec, final, rt = episode(spec_path, arm, seed, args.policy, overrides, args.runs)
                runtime = runtime or rt
                rows[arm] = episode_row(store, final)
                print(f"{spec.task} s{seed} {arm}: chain {json.dumps(final.chain_actions)} → test {final.test.accuracy:.3f} "
                      f"(θ₀ {rows[arm]['theta0_test']:.3f})", flush=True)
                save(args, task, seed, rows, overrides)
            if "theta0" in args.arms and rows:
                first = next(iter(rows.values()))
                rows["theta0"] = {"test": first["theta0_test"], "correct": first["theta0_correct"], "n_test": first["n_test"],
                                  "agrees_across_arms": len({r["theta0_correct"] for r in rows.values() if "theta0_correct" in r}) == 1}
            if "base" in args.arms:
                if runtime is None:  # no episode ran in this process: score through any finished arm's run
                    from degaml.controller.episode.adapt import build_runtime, open_run

                    runs_here = sorted((args.runs / spec_path.stem / f"s{seed}").glob("*/run.json"))
                    if not runs_here:
                        raise SystemExit(f"{task} s{seed}: the base arm needs one episode arm's run first")
                    store, spec = open_run(runs_here[0].parent)
                    runtime = build_runtime(spec, store)
                rows["base"] = base_row(spec_path, seed, overrides, args.runs, runtime)
            save(args, task, seed, rows, overrides)


def save(args, task: str, seed: int, rows: dict[str, Any], overrides: list[str]) -> None:
    """Merge this task-seed's rows into the report (other processes may fill other task-seeds)."""
    from degaml.comparison.keys import policy_sha256

    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report.update(command="python benchmarks/studies/heldout_compare.py", overrides=overrides, fixed=FIXED,
                  policy=args.policy, policy_adapter_sha256=policy_sha256(args.policy), seed_stride=SEED_STRIDE)
    report.setdefault("cells", {}).setdefault(task, {}).setdefault(str(seed), {}).update(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=1)


if __name__ == "__main__":
    main()
