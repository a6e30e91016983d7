"""Trained policy vs reference policies on held-out tasks (issue 5's comparison).

Every arm runs the real episode (`degaml adapt`: θ₀ from the shipped generator, T = 1 decision, strict reward on
validation, the best configuration scored once on test) on tasks that neither the generator nor the policy was
trained on. Arms:
  policy       the ReST^EM policy adapter (`--policy`, greedy as `degaml adapt` decodes)
  base         the untrained base model as policy (same constrained decoding)
  random-K     a uniformly random family, then uniformly random parameters (K = 0..3: independent streams)
  fixed:F      one fixed setting of family F (the settings of the strategy ablation in docs/results.md)
Runs are stored under --runs (resumable: a finished arm is read back, not re-run).

Usage: python benchmarks/policy_compare.py [--policy runs/policy/policy] [--tasks rg_letter_counting rg_chain_sum]
       [--arms policy base random-0 ... random-3 fixed:ttt fixed:tts fixed:lora_mix fixed:slot] [num_validation=40 num_test=100]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from degaml.controller.adapt import build_runtime, create_run, open_run, run_adapt
from degaml.controller.baselines import FixedPolicy, RandomPolicy

REPO = Path(__file__).resolve().parents[1]
FIXED = {
    "ttt": {"family": "ttt", "ttl_steps": 10, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True},
    "tts": {"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"},
    "lora_mix": {"family": "lora_mix", "lambda": 0.5},
    "slot": {"family": "slot", "times": 5, "learning_rate": 0.01},
}
ARMS = ["policy", "base", *(f"random-{k}" for k in range(4)), *(f"fixed:{f}" for f in FIXED)]


def run_arm(task: str, arm: str, policy_dir: str, overrides: list[str], runs: Path) -> dict:
    run_dir = runs / task / arm.replace(":", "-")
    policy = {"policy": policy_dir, "base": "base"}.get(arm, "random" if arm.startswith("random-") else "base")
    spec_overrides = [*overrides, "adapt.steps=1", "adapt.minutes=null", f"adapt.policy={policy}"]
    if not (run_dir / "run.json").is_file():
        create_run(REPO / "specs" / f"{task}.yaml", spec_overrides, run_dir)
    store, spec = open_run(run_dir)
    runtime = build_runtime(spec, store)
    if arm.startswith("random-"):
        runtime.policy = RandomPolicy(int(arm.split("-")[1]), salt=task)
    elif arm.startswith("fixed:"):
        runtime.policy = FixedPolicy({"strategy": FIXED[arm.split(":")[1]]})
    final = run_adapt(store, spec, runtime)
    if final is None:
        raise SystemExit(f"{task}/{arm}: the episode did not finish ({store.status()})")
    base = next(e for e in store.events() if e.kind == "baseline")
    step = store.steps()[0]
    return {
        "action": step.action, "validation": step.accuracy, "reward": step.reward,
        "baseline_validation": base.validation.accuracy, "n_validation": base.validation.n,
        "test": final.test.accuracy, "test_ci95": list(final.test.ci95), "n_test": final.test.n,
        "baseline_test": (final.baseline_test or final.test).accuracy, "chosen": "action" if final.best_step is not None else "θ₀",
        "seconds": final.seconds, "run_dir": str(run_dir.relative_to(REPO) if run_dir.is_relative_to(REPO) else run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", default=["num_validation=40", "num_test=100"])
    parser.add_argument("--policy", default=str(REPO / "runs" / "policy" / "policy"))
    parser.add_argument("--tasks", nargs="+", default=["rg_letter_counting", "rg_chain_sum"])
    parser.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "policy_compare")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "policy_compare.json")
    args = parser.parse_args()
    for task in args.tasks:
        for arm in args.arms:
            row = run_arm(task, arm, args.policy, args.overrides, args.runs)
            print(f"{task} {arm}: {json.dumps(row['action'])} val {row['validation']} (θ₀ {row['baseline_validation']}) "
                  f"reward {row['reward']} → test {row['test']:.3f} ({row['chosen']})", flush=True)
            report = json.loads(args.out.read_text()) if args.out.is_file() else {}  # merge: other arms may run in parallel
            report.update(overrides=args.overrides, steps_per_episode=1)
            report.setdefault("policies", {})[arm] = args.policy if arm == "policy" else arm
            report.setdefault("tasks", {}).setdefault(task, {})[arm] = row
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
