"""What a trained policy decides, greedily, on the states of its own E-step (meta-training tasks only; no held-out
task, no test split): does the M-step's fit reproduce the accepted actions, and which families does it pick?

    python benchmarks/studies/policy_fit.py --rollouts runs/policy-broad-x [--policy default|base|DIR] [--iteration 1]
        [--accepted-only] [--out docs/results/policy_fit.json]

For every distinct state of iteration k's rollouts (the prompt messages) it runs `Policy.decide` exactly as
`degaml adapt` does (temperature 0, constrained JSON, nothing tried yet) and records the action; for states that
had an accepted sample it says whether the greedy action is one of the accepted ones (same family / same action).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from degaml.controller.policy.model import Policy, canonical, resolve_policy
from degaml.io import write_json
from degaml.models import load_llm
from degaml.specs.model import AdaptConfig

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=Path, required=True, help="a `degaml policy train` output directory")
    parser.add_argument("--policy", default="default")
    parser.add_argument("--iteration", type=int, default=1)
    parser.add_argument("--accepted-only", action="store_true", help="only the states that had an accepted sample")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "policy_fit.json")
    args = parser.parse_args()
    states: dict[str, dict] = {}
    for path in sorted((args.rollouts / f"iter-{args.iteration}").glob("rollouts-*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            key = json.dumps(r["prompt"])
            s = states.setdefault(key, {"messages": r["prompt"], "task": r["task"], "step": r["step"], "accepted": []})
            if r["reward"] == 1:
                s["accepted"].append(json.loads(r["completion"][0]["content"]))
    if args.accepted_only:
        states = {k: s for k, s in states.items() if s["accepted"]}
    loaded = load_llm("default", "cpu", "auto")
    policy = Policy(loaded, resolve_policy(args.policy))
    config = AdaptConfig(temperature=0.0)
    rows = []
    for s in states.values():
        d = policy.decide(s["messages"], config, seed=0, tried=set())
        family = (d.action or {}).get("strategy", {}).get("family")
        row = {"task": s["task"], "step": s["step"], "action": d.action, "family": family,
               "accepted": s["accepted"], "seconds": round(d.seconds, 2)}
        if s["accepted"]:
            row["same_family"] = family in {a["strategy"]["family"] for a in s["accepted"]}
            row["same_action"] = d.action is not None and canonical(d.action) in {canonical(a) for a in s["accepted"]}
        rows.append(row)
        print(f"{s['task']} t{s['step']}: {json.dumps(d.action)} accepted={[a['strategy']['family'] for a in s['accepted']]}", flush=True)
    with_accepted = [r for r in rows if r["accepted"]]
    summary = {"policy": args.policy, "rollouts": str(args.rollouts), "iteration": args.iteration, "states": len(rows),
               "families": dict(Counter(r["family"] for r in rows)),
               "states_with_an_accepted_sample": len(with_accepted),
               "greedy_same_family": sum(r["same_family"] for r in with_accepted),
               "greedy_same_action": sum(r["same_action"] for r in with_accepted), "rows": rows}
    write_json(args.out, summary, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))


if __name__ == "__main__":
    main()
