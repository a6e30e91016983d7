"""Policy decision latency: the former path (Outlines `Generator` built per decision, every prompt prefilled in full)
vs the current `Policy.decide` (index compiled once per process, KV cache of the last prompt reused), side by side.

States are an episode's (`--steps` decisions per task, the history growing by one random action per step, made-up
accuracies) for `--tasks` shipped task specs, decided with the episode defaults (`AdaptConfig()`: greedy, 2 retries
on an invalid output or a repeat of a tried action). Both paths decide every state in turn (old first, then new,
same seed), so they share the machine's load; the first decision of each path is reported apart (it includes
Outlines' warm-up and, for the new path, the one compile of the index). Also recorded: prompt tokens and how many
were reused, the former path's per-decision cost of building the Generator, whether both paths chose the same.

Usage: nice -n 15 python benchmarks/policy_latency.py [--tasks arc_easy gsm8k] [--steps 4] [--policy default]
       [--threads N] [--out docs/benchmarks/policy_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import time
from pathlib import Path

import torch

from degaml.controller.baselines import random_action
from degaml.controller.policy import Decision, Policy, canonical, resolve_policy
from degaml.controller.state import HistoryItem, PolicyState, render_messages
from degaml.data import load_task_data
from degaml.models import load_llm
from degaml.models.adapters import attached_adapter
from degaml.specs import load_spec
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import Action, action_json_schema

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    flags = Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split() if Path("/proc/cpuinfo").exists() else []
    return {"cpu_features": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags],
            "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "platform": platform.platform(), "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def former_decide(policy: Policy, messages, config: AdaptConfig, seed: int, tried: set[str], costs: list[float]) -> Decision:
    """`Policy.decide` as it was before the index cache and prefix reuse (same loop, same seeds)."""
    import outlines
    from pydantic import ValidationError

    start = time.perf_counter()
    raw, error, action, repeat = "", None, None, None
    tokenizer = policy.loaded.tokenizer
    side = tokenizer.padding_side
    with attached_adapter(policy.loaded.model, policy.adapter) as model:
        built = time.perf_counter()
        generator = outlines.Generator(outlines.from_transformers(model, tokenizer), Action)
        costs.append(time.perf_counter() - built)
        for attempt in range(config.retries + 1):
            temperature = config.temperature if attempt == 0 else max(1.0, config.temperature)
            torch.manual_seed(seed * 1000 + attempt)
            kwargs = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            raw = generator(outlines.inputs.Chat(messages), max_new_tokens=config.max_new_tokens, **kwargs)
            try:
                parsed = Action.model_validate_json(raw).model_dump(mode="json", by_alias=True)
            except ValidationError as exc:
                error, action = f"invalid action: {str(exc).splitlines()[0][:200]}", None
                continue
            action, error = parsed, None
            if canonical(parsed) in tried and attempt < config.retries:
                repeat, action, error = (raw, parsed), None, "repeats an action already tried"
                continue
            break
    tokenizer.padding_side = side
    if action is None and repeat is not None:
        (raw, action), error = repeat, None
    return Decision(raw, action, error, attempt + 1, time.perf_counter() - start)


def episode_states(specs, questions, steps: int, rng: random.Random) -> list[PolicyState]:
    schema = action_json_schema()
    states = []
    for spec in specs:
        baseline = rng.uniform(0.0, 0.8)
        history: list[HistoryItem] = []
        for t in range(steps):
            best = max([baseline] + [h.accuracy for h in history])
            states.append(PolicyState(spec.task, spec.description, spec.format, questions[spec.task][:3], baseline, best,
                                      spec.num_validation, t, steps, None, list(history)))
            acc = min(1.0, max(0.0, baseline + rng.uniform(-0.1, 0.1)))
            history.append(HistoryItem(t, random_action(schema, rng), acc, acc - baseline, int(acc > baseline), rng.uniform(5, 300)))
    return states


def summary(seconds: list[float]) -> dict:
    later = seconds[1:] or seconds
    q = sorted(later)
    return {"first": seconds[0], "median": statistics.median(later), "p90": q[min(len(q) - 1, int(0.9 * len(q)))],
            "mean": statistics.fmean(later), "n": len(later)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["arc_easy", "gsm8k"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "policy_latency.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    loaded = load_llm("default", "cpu")
    new = Policy(loaded, resolve_policy(args.policy))
    specs = [load_spec(REPO / "specs" / f"{t}.yaml") for t in args.tasks]
    questions = {s.task: load_task_data(s, on_skip=lambda _: None).support_prompts() for s in specs}
    states = episode_states(specs, questions, args.steps, random.Random(args.seed))
    schema, config = action_json_schema(), AdaptConfig()
    with torch.no_grad():  # untimed: the first forward pass of a process pays torch's own warm-up
        loaded.model(**loaded.tokenizer("warm up", return_tensors="pt"))
    rows, build_costs = [], []
    for i, state in enumerate(states):
        messages = render_messages(state, schema)
        tried = {canonical(h.action) for h in state.history}
        old = former_decide(new, messages, config, args.seed + i, tried, build_costs)
        before = len(new.decoder.calls)
        d = new.decide(messages, config, args.seed + i, tried)
        rows.append({"task": state.task, "step": state.step, "old_seconds": old.seconds, "new_seconds": d.seconds,
                     "old_attempts": old.attempts, "new_attempts": d.attempts, "same_action": old.raw == d.raw,
                     "prompt_tokens": new.decoder.prompt_tokens,
                     "attempts_prompt_reused_generated_tokens": new.decoder.calls[before:],
                     "action": d.action, "old_action": old.action})
        print(f"{i}: {state.task} step {state.step}: old {old.seconds:.1f}s ({old.attempts}) new {d.seconds:.1f}s "
              f"({d.attempts}) same={old.raw == d.raw} tokens {new.decoder.prompt_tokens}", flush=True)
    old_s, new_s = summary([r["old_seconds"] for r in rows]), summary([r["new_seconds"] for r in rows])
    result = {
        "command": "python benchmarks/policy_latency.py " + " ".join(f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                                                  for k, v in vars(args).items() if v is not None and k != "out"),
        "machine": info | {"uptime_end": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "policy": new.name, "decisions": len(rows), "old": old_s, "new": new_s,
        "ratio_median": old_s["median"] / new_s["median"], "ratio_p90": old_s["p90"] / new_s["p90"],
        "old_generator_build_seconds_median": statistics.median(build_costs),
        "same_action_rate": sum(r["same_action"] for r in rows) / len(rows), "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
