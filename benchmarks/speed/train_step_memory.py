"""Peak memory and time of one support-SFT step: the model's own `labels=` loss vs degaml's `answer_nll`.

Both compute the same mean answer-token NLL; `answer_nll` applies the LM head only at the labelled positions
(degaml.models.heads), the reference builds the full (B, T, V) logits. Each loss runs in a fresh child process
(`--child NAME`) so `ru_maxrss` is that loss's own peak, alternating between the losses `--repeats` times (RSS
peaks vary by a few hundred MB from run to run; the ratios use the median peak and the fastest step): the embedded model in the dtype `auto` picks, a fresh
seeded LoRA (the baselines' default shape), the spec's first `--batch` labelled support items (support_sft's
batch), `--steps` AdamW steps. Reports peak RSS (GiB), seconds per step, the losses (must agree), the CPU flags
and the load average (the machine may be shared: seconds are a side-by-side ratio, not an absolute figure).

Usage: python benchmarks/speed/train_step_memory.py [--spec specs/gsm8k.yaml] [--batch 8] [--steps 2] [--repeats 3]
       [--out docs/benchmarks/train_step_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from degaml.io import write_json

REPO = Path(__file__).resolve().parents[2]
LOSSES = ("labels_loss", "answer_nll")
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def child(loss_name: str, spec_path: str, batch_size: int, steps: int) -> dict:
    """One loss's measurement (runs in its own process)."""
    import torch

    from degaml.baselines.config import LoraShape
    from degaml.baselines.lora import trainable_lora
    from degaml.data.splits import load_task_data
    from degaml.generator.collect import build_batch, training_pairs
    from degaml.models.heads import answer_nll
    from degaml.models.llm import load_llm
    from degaml.specs.load import load_spec

    spec = load_spec(spec_path)
    task = load_task_data(spec)
    loaded = load_llm(spec.model, device=spec.device, dtype=spec.dtype)
    batch = build_batch(loaded.tokenizer, training_pairs(spec, list(task.labelled_support)[:batch_size]), spec.max_length)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    losses, seconds = [], []
    with trainable_lora(loaded, LoraShape(), seed=0) as model:
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        for _ in range(steps):
            start = time.perf_counter()
            if loss_name == "labels_loss":
                loss = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
            else:
                loss = answer_nll(model, batch.input_ids, batch.attention_mask, batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
    return {"loss": loss_name, "batch_shape": list(batch.input_ids.shape),
            "labelled_positions": int((batch.labels[:, 1:] != -100).sum()), "dtype": str(loaded.dtype),
            "rss_after_load_gib": rss_loaded, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "seconds_per_step": seconds, "losses": losses, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "gsm8k.yaml"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "train_step_memory.json")
    parser.add_argument("--child", choices=LOSSES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.spec, args.batch, args.steps)))
        return
    from degaml.models.dtype_probe import cpu_flags

    load_start = os.getloadavg()
    runs = []
    for _ in range(args.repeats):
        for name in LOSSES:
            cmd = [sys.executable, __file__, "--child", name, "--spec", args.spec, "--batch", str(args.batch),
                   "--steps", str(args.steps)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    flags = set(cpu_flags().split())
    peak = {n: statistics.median(r["peak_rss_gib"] for r in runs if r["loss"] == n) for n in LOSSES}
    step = {n: min(min(r["seconds_per_step"]) for r in runs if r["loss"] == n) for n in LOSSES}
    losses = {n: next(r["losses"] for r in runs if r["loss"] == n) for n in LOSSES}
    report = {"command": sys.argv, "spec": args.spec, "runs": runs, "median_peak_rss_gib": peak,
              "fastest_step_seconds": step, "peak_rss_ratio": peak["answer_nll"] / peak["labels_loss"],
              "step_time_ratio": step["answer_nll"] / step["labels_loss"],
              "max_loss_difference": max(abs(a - b) for a, b in zip(losses["answer_nll"], losses["labels_loss"])),
              "flags": [f for f in FLAGS if f in flags], "load_start": load_start, "load_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
