"""Schema-valid action rate and latency of the Outlines-constrained policy, over many decisions.

States are built like an episode's (task description, unlabeled questions, baseline/best accuracy, a history of
earlier actions drawn from the action space with made-up accuracies, remaining budget) for the shipped task specs;
the policy (base model + `--policy` adapter, or the base model) decides once per state with sampling (T = 1) and
no retries, so every raw output counts. Reported: valid rate (pydantic-validated `Action`), repeats of an action in
the state's history, per-decision latency (first decision separately: it includes Outlines' warm-up), the families
chosen.

Usage: python benchmarks/policy_validity.py [--decisions 200] [--policy DIR|base] [--out docs/benchmarks/policy_validity.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from degaml.controller.baselines import random_action
from degaml.controller.policy import Policy, canonical, resolve_policy
from degaml.controller.state import HistoryItem, PolicyState, render_messages
from degaml.data import load_task_data
from degaml.models import load_llm
from degaml.specs import load_spec
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import Action, action_json_schema

REPO = Path(__file__).resolve().parents[1]
TASKS = ["arc_easy", "arc_challenge", "boolq", "piqa", "hellaswag", "winogrande", "gsm8k", "rg_chain_sum"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "policy_validity.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    schema = action_json_schema()
    loaded = load_llm("default", "cpu")
    policy = Policy(loaded, resolve_policy(args.policy))
    specs = [load_spec(REPO / "specs" / f"{t}.yaml") for t in TASKS]
    questions = {s.task: load_task_data(s, on_skip=lambda _: None).support_prompts() for s in specs}
    config = AdaptConfig(temperature=1.0, retries=0)
    results = []
    for i in range(args.decisions):
        spec = specs[i % len(specs)]
        steps_total = rng.choice([2, 4, 6])
        step = rng.randrange(steps_total)
        baseline = rng.uniform(0.0, 0.8)
        history = []
        for t in range(step):
            acc = min(1.0, max(0.0, baseline + rng.uniform(-0.1, 0.1)))
            history.append(HistoryItem(t, random_action(schema, rng), acc, acc - baseline, int(acc > baseline), rng.uniform(5, 300)))
        best = max([baseline] + [h.accuracy for h in history])
        state = PolicyState(spec.task, spec.description, spec.format, questions[spec.task][:3], baseline, best,
                            spec.num_validation, step, steps_total, None, history)
        start = time.perf_counter()
        decision = policy.decide(render_messages(state, schema), config, seed=args.seed + i, tried=set())
        seconds = time.perf_counter() - start
        try:
            action = Action.model_validate_json(decision.raw).model_dump(mode="json", by_alias=True)
        except ValidationError:
            action = None
        repeat = action is not None and canonical(action) in {canonical(h.action) for h in history}
        results.append({"task": spec.task, "valid": action is not None, "repeat": repeat, "seconds": seconds,
                        "family": action["strategy"]["family"] if action else None, "raw": decision.raw})
        print(f"{i}: {spec.task} valid={action is not None} {seconds:.1f}s {decision.raw[:100]}", flush=True)
    later = [r["seconds"] for r in results[1:]] or [results[0]["seconds"]]
    summary = {
        "decisions": len(results), "policy": policy.name,
        "valid_rate": sum(r["valid"] for r in results) / len(results),
        "repeat_rate": sum(r["repeat"] for r in results) / len(results),
        "first_decision_seconds": results[0]["seconds"],
        "seconds_median": statistics.median(later), "seconds_max": max(later),
        "families": dict(Counter(r["family"] for r in results)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "decisions": results}, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
