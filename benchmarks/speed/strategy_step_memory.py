"""Peak RSS of support_sft and ttt training steps as an episode runs them: whole batches vs micro-batches.

Each (family, mode) runs in a fresh child process (`--child`), so `ru_maxrss` is its own peak: the spec's model and
θ₀ (the generator's adapter for the support prompts, as `degaml adapt` makes it), then `--steps` steps of
`lora_steps.train_lora_steps` on the family's first batches (support_sft: 8 labelled support items, the training
pairs the strategy builds; ttt: 8 unlabeled texts, support then validation inputs) — `whole` sets
`lora_steps.MICRO_TOKENS` above any batch, `micro` keeps the default, `checkpoint` adds gradient checkpointing. Reports peak RSS (GiB), RSS after θ₀, batch
shape, seconds per step, losses (the two modes must agree), CPU flags and load average (the machine may be shared).

Usage: python benchmarks/speed/strategy_step_memory.py [--spec specs/gsm8k.yaml] [--steps 2] [--families support_sft ttt]
       [--out docs/results/episode_time/step_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from degaml.io import write_json

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
MODES = ("whole", "micro", "checkpoint")  # checkpoint: micro-batches + gradient checkpointing (the spec's switch)
RUNS = [(family, mode) for family in ("support_sft", "ttt") for mode in MODES]


def child(family: str, mode: str, spec_path: str, steps: int) -> dict:
    import torch

    from degaml.data import load_task_data
    from degaml.evaluation import PromptBuilder
    from degaml.generator.collect import batch_indices, build_batch
    from degaml.generator.pipeline import resolve_generator
    from degaml.generator.sampler import AdapterSampler
    from degaml.models import load_llm
    from degaml.specs.load import load_spec
    from degaml.strategies import lora_steps
    from degaml.strategies.base import StrategyContext
    from degaml.strategies.ttt import build_lm_batch, training_texts

    if mode == "whole":
        lora_steps.MICRO_TOKENS = 10**9
    work = Path(tempfile.mkdtemp(prefix="step-memory-"))
    spec = load_spec(spec_path)
    loaded = load_llm(spec.model, spec.device, spec.dtype)
    task = load_task_data(spec)
    ctx = StrategyContext(loaded, spec, task, AdapterSampler.load(resolve_generator(spec.generator), work / "adapters"),
                          work / "work", seed=spec.seed)
    theta0 = ctx.initial_adapter()
    rss_theta0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if family == "support_sft":
        builder = PromptBuilder(spec.model_copy(update={"num_fewshot": 0}))
        pairs = [builder.training_pair(ex) for ex in task.labelled_support]
        def batch(i):
            return build_batch(loaded.tokenizer, [pairs[j] for j in batch_indices(len(pairs), 8, i, spec.seed)], spec.max_length)
    else:
        texts = training_texts(ctx, "validation")
        def batch(i):
            return build_lm_batch(loaded.tokenizer, texts[8 * i: 8 * i + 8], spec.max_length)
    start = time.perf_counter()
    result = lora_steps.train_lora_steps(loaded, theta0, work / "out", batch, steps, 1e-4, spec.seed,
                                         checkpointing=mode == "checkpoint")
    return {"family": family, "mode": mode, "shape": list(batch(0).input_ids.shape), "dtype": str(loaded.dtype),
            "threads": torch.get_num_threads(), "rss_after_theta0_gib": rss_theta0,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "seconds_per_step": (time.perf_counter() - start) / steps, "losses": result.losses, "error": result.error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "gsm8k.yaml"))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "episode_time" / "step_memory.json")
    parser.add_argument("--families", nargs="+", default=["support_sft", "ttt"])
    parser.add_argument("--child", nargs=2, metavar=("FAMILY", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.spec, args.steps)))
        return
    from degaml.models.dtype_probe import cpu_flags

    load_start = os.getloadavg()
    runs = []
    for family, mode in [(f, m) for f, m in RUNS if f in args.families]:
        cmd = [sys.executable, __file__, "--child", family, mode, "--spec", args.spec, "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    flags = set(cpu_flags().split())
    report = {"command": sys.argv, "spec": args.spec, "runs": runs, "flags": [f for f in FLAGS if f in flags],
              "load_start": load_start, "load_end": os.getloadavg(), "cpu_count": os.cpu_count()}
    write_json(args.out, report, indent=2)
    print(json.dumps([{k: r[k] for k in ("family", "mode", "shape", "peak_rss_gib", "seconds_per_step")} for r in runs], indent=1))


if __name__ == "__main__":
    main()
