"""Policy decision latency, side by side in one process on the same states: the `generate` path (HF `generate` with
Outlines' logits processor, index compiled once, prompt KV reused; a repeat of a tried action is re-sampled) vs
jump-forward decoding without exclusion (same retries) vs the default path (jump-forward, tried actions excluded
inside the constraint).

States are an episode's (`--steps` decisions per task, the history growing by one random action per step, made-up
accuracies) for `--tasks` shipped task specs, decided with the episode defaults (`AdaptConfig()`: greedy, 2 retries).
For each state the three paths decide in turn (generate first), so they share the machine's load; each path's first
decision of the process is reported apart (the `generate` path's includes Outlines' one-time `torch.compile` of its
mask kernel). Recorded per decision and path: seconds, attempts, forward passes (all attempts), generated tokens,
the action; and whether the paths agree (the jump path's greedy output must equal generate's token for token).
Before the decisions: the one compile of the Outlines index (schema → regex → token automaton), what
outlines_core's own binary serialisation of that index would save, the first call of Outlines' torch.compile'd mask
kernel (in a fresh process), and the cost of attaching the policy adapter.

Usage: nice -n 15 python benchmarks/speed/policy_latency.py [--tasks arc_easy gsm8k] [--steps 4] [--policy default]
       [--threads N] [--out docs/benchmarks/policy_jump_forward.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from degaml.io import write_json
from degaml.controller.policy.reference import random_action
from degaml.controller.policy.model import Policy, canonical, resolve_policy
from degaml.controller.policy.decoding import schema_processor
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.data import load_task_data
from degaml.models import load_llm
from degaml.specs import load_spec
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import Action, action_json_schema

REPO = Path(__file__).resolve().parents[2]
PATHS = {"generate": {"jump_forward": False}, "jump": {"exclude_tried": False}, "jump_exclude": {}}


def machine() -> dict:
    flags = Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split() if Path("/proc/cpuinfo").exists() else []
    return {"cpu_features": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags],
            "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "platform": platform.platform(), "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def index_costs(loaded) -> dict:
    """The one compile of the index (as `schema_processor` does it, on first use), and a recompile from the regex
    alone next to a load of the same index from outlines_core's own binary form."""
    from outlines_core import Index
    from outlines_core.json_schema import build_regex_from_schema

    start = time.perf_counter()
    processor = schema_processor(loaded.model, loaded.tokenizer, Action)
    first = time.perf_counter() - start
    import outlines
    from outlines.backends.outlines_core import OutlinesCoreBackend

    start = time.perf_counter()
    backend = OutlinesCoreBackend(outlines.from_transformers(loaded.model, loaded.tokenizer))
    vocab_seconds = time.perf_counter() - start
    regex = build_regex_from_schema(json.dumps(Action.model_json_schema()))
    start = time.perf_counter()
    Index(regex, backend.vocabulary)
    index_seconds = time.perf_counter() - start
    blob = processor.index.__reduce__()[1][0]  # outlines_core: (Index.from_binary, (bytes,))
    start = time.perf_counter()
    Index.from_binary(blob)
    return {"first_compile_seconds": first, "vocabulary_seconds": vocab_seconds, "index_from_regex_seconds": index_seconds,
            "binary_bytes": len(blob), "from_binary_seconds": time.perf_counter() - start, "regex_chars": len(regex)}


MASK_KERNEL_PROBE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from outlines_core.kernels.torch import allocate_token_bitmask, apply_token_bitmask_inplace
mask, logits = allocate_token_bitmask(49152), torch.randn(1, 49152)
times = []
for _ in range(2):
    start = time.perf_counter(); apply_token_bitmask_inplace(logits, mask); times.append(time.perf_counter() - start)
print(times[0], times[1])
"""


def mask_kernel_seconds() -> dict:
    """In a fresh process: the first call of Outlines' (torch.compile'd) mask kernel, which the `generate` path's
    first decision of a process pays, and a second call. The jump-forward path does not use that kernel."""
    out = subprocess.run([sys.executable, "-c", MASK_KERNEL_PROBE, str(torch.get_num_threads())], capture_output=True,
                         text=True, check=True).stdout.split()
    return {"first_call_seconds": float(out[0]), "second_call_seconds": float(out[1])}


def attach_seconds(loaded, adapter) -> float | None:
    """Median of 3 attach + unload cycles of the policy adapter (every decision of every path pays one)."""
    from degaml.models.adapters import attached_adapter

    if adapter is None:
        return None
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with attached_adapter(loaded.model, adapter):
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def summary(rows: list[dict], path: str) -> dict:
    seconds = [r[path]["seconds"] for r in rows]
    passes = [r[path]["forward_passes"] for r in rows]
    later = seconds[1:] or seconds
    return {"first_seconds": seconds[0], "median_seconds": statistics.median(later), "max_seconds": max(later),
            "median_seconds_all": statistics.median(seconds), "max_seconds_all": max(seconds),
            "median_forward_passes": statistics.median(passes), "max_forward_passes": max(passes),
            "attempts": sum(r[path]["attempts"] for r in rows), "decisions_over_3s": sum(s > 3 for s in seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["arc_easy", "gsm8k"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--policy", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "policy_jump_forward.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    loaded = load_llm("default", "cpu")
    index = index_costs(loaded)
    attach = attach_seconds(loaded, resolve_policy(args.policy))
    kernel = mask_kernel_seconds()
    policies = {name: Policy(loaded, resolve_policy(args.policy), **kw) for name, kw in PATHS.items()}
    specs = [load_spec(REPO / "specs" / f"{t}.yaml") for t in args.tasks]
    questions = {s.task: load_task_data(s, on_skip=lambda _: None).support_prompts() for s in specs}
    states = episode_states(specs, questions, args.steps, random.Random(args.seed))
    schema, config = action_json_schema(), AdaptConfig()
    with torch.no_grad():  # untimed: the first forward pass of a process pays torch's own warm-up
        loaded.model(**loaded.tokenizer("warm up", return_tensors="pt"))
    rows = []
    for i, state in enumerate(states):
        messages = render_messages(state, schema)
        tried = {canonical(h.action) for h in state.history}
        row: dict = {"task": state.task, "step": state.step}
        for name, policy in policies.items():
            before = len(policy.decoder.calls)
            d = policy.decide(messages, config, args.seed + i, tried)
            calls = policy.decoder.calls[before:]
            row[name] = {"seconds": d.seconds, "attempts": d.attempts, "forward_passes": sum(c.forward_passes for c in calls),
                         "generated_tokens": [len(c.tokens) for c in calls], "prompt_tokens": calls[0].prompt_tokens,
                         "reused_tokens": [c.reused_tokens for c in calls], "first_attempt": calls[0].text,
                         "action": d.action, "repeat": d.action is not None and canonical(d.action) in tried}
        g, j, x = row["generate"], row["jump"], row["jump_exclude"]
        row["jump_first_attempt_equals_generate"] = j["first_attempt"] == g["first_attempt"]
        row["jump_action_equals_generate"] = j["action"] == g["action"]
        row["exclude_action_equals_generate"] = x["action"] == g["action"]
        row["generate_retried"] = g["attempts"] > 1  # its greedy output repeated a tried action (or was invalid)
        rows.append(row)
        print(f"{i}: {state.task} step {state.step}: " + "  ".join(
            f"{n} {row[n]['seconds']:.1f}s/{row[n]['attempts']}att/{row[n]['forward_passes']}fp" for n in PATHS)
            + f"  same first attempt {row['jump_first_attempt_equals_generate']}", flush=True)
    paths = {name: summary(rows, name) for name in PATHS}
    n = len(rows)
    result = {
        "command": "python benchmarks/speed/policy_latency.py " + " ".join(f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                                                  for k, v in vars(args).items() if v is not None and k != "out"),
        "machine": info | {"uptime_end": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "model_dtype": str(loaded.dtype), "policy": policies["jump_exclude"].name, "decisions": n, "index": index,
        "adapter_attach_unload_seconds": attach, "outlines_mask_kernel": kernel,
        "paths": paths,
        "ratio_median_generate_over_jump_exclude": paths["generate"]["median_seconds"] / paths["jump_exclude"]["median_seconds"],
        "per_state_ratio_median": statistics.median(r["generate"]["seconds"] / r["jump_exclude"]["seconds"] for r in rows),
        "jump_first_attempt_equals_generate": sum(r["jump_first_attempt_equals_generate"] for r in rows) / n,
        "jump_action_equals_generate": sum(r["jump_action_equals_generate"] for r in rows) / n,
        "exclude_action_equals_generate": sum(r["exclude_action_equals_generate"] for r in rows) / n,
        "generate_retried": sum(r["generate_retried"] for r in rows),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
