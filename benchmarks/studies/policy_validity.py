"""What the Outlines-constrained policy chooses over many decisions: repeats and diversity of its actions.

States are built like an episode's (task description, unlabeled questions, baseline/best accuracy, a history of
earlier actions drawn from the action space with made-up accuracies, remaining budget) for the shipped task specs;
the policy (base model + `--policy` adapter, or the base model) decides once per state with sampling (T = 1) and
no retries, so every raw output counts. Schema validity is guaranteed by constrained decoding (a parse failure
could only come from the token cap), so it is kept as a check, not a result. Reported: the repeat rate (the action
is already in the state's history: an episode would re-sample it), action diversity (distinct actions of the 113
in the grid, the share of the most common one, entropy of families and of actions, distinct actions per task),
per-decision latency (first decision apart).

Usage: python benchmarks/studies/policy_validity.py [--decisions 200] [--policy DIR|base] [--out docs/benchmarks/policy_validity.json]
       python benchmarks/studies/policy_validity.py --summarize docs/benchmarks/policy_validity.json   (recompute the summary)
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from degaml.io import write_json
from degaml.controller.policy.reference import random_action
from degaml.controller.policy.model import Policy, canonical, resolve_policy
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.data import load_task_data
from degaml.models import load_llm
from degaml.specs import load_spec
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import Action, action_json_schema

REPO = Path(__file__).resolve().parents[2]
TASKS = ["arc_easy", "arc_challenge", "boolq", "piqa", "hellaswag", "winogrande", "gsm8k", "rg_chain_sum"]

ACTION_SPACE = 3 * 4 * 3 * 2 + 4 * 5 + 5 + 4 * 4  # distinct actions: ttt 72 + tts 20 + lora_mix 5 + slot 16 = 113


def entropy_bits(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values() if c)


def summarize(results: list[dict], policy: str) -> dict:
    """Repeat rate and diversity of the decisions (`results` rows as written by this command)."""
    actions: list[str | None] = []
    for r in results:
        try:
            actions.append(canonical(Action.model_validate_json(r["raw"]).model_dump(mode="json", by_alias=True)))
        except ValidationError:
            actions.append(None)
    valid = Counter(a for a in actions if a is not None)
    per_task: dict[str, set[str]] = {}
    for r, a in zip(results, actions):
        if a is not None:
            per_task.setdefault(r["task"], set()).add(a)
    later = [r["seconds"] for r in results[1:]] or [results[0]["seconds"]]
    families = Counter(r["family"] for r in results if r["family"])
    return {
        "decisions": len(results), "policy": policy, "parse_failures": len(results) - sum(valid.values()),
        "repeat_rate": sum(r["repeat"] for r in results) / len(results),
        "distinct_actions": len(valid), "action_space_size": ACTION_SPACE,
        "most_common_action": valid.most_common(1)[0][0] if valid else None,
        "most_common_action_share": valid.most_common(1)[0][1] / len(results) if valid else 0.0,
        "family_entropy_bits": entropy_bits(families), "action_entropy_bits": entropy_bits(valid),
        "distinct_actions_per_task": {t: len(v) for t, v in sorted(per_task.items())},
        "families": dict(families),
        "first_decision_seconds": results[0]["seconds"], "seconds_median": statistics.median(later),
        "seconds_max": max(later),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "policy_validity.json")
    parser.add_argument("--summarize", type=Path, default=None, help="only recompute the summary of an output file")
    args = parser.parse_args()
    if args.summarize is not None:
        data = json.loads(args.summarize.read_text())
        data["summary"] = summarize(data["decisions"], data["summary"]["policy"])
        write_json(args.summarize, data, indent=2)
        print(json.dumps(data["summary"], indent=2))
        return
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
    summary = summarize(results, policy.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"summary": summary, "decisions": results}, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
