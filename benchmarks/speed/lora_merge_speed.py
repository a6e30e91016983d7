"""Forward-pass time of a PEFT LoRA model: the adapter's side path vs merged into the weights (`merged_lora`) vs
the base model, interleaved in one process (fastest of 8 per variant; robust to a shared machine).

A random LoRA (r = 8, all seven projections, as the shipped generator's adapters) on the default model; inputs
are 16 rows × T tokens (T = 1: a decoding step without cache; T = 64: a prompt).
Usage: python benchmarks/speed/lora_merge_speed.py [--dtype bfloat16] [--tokens 1 64] [--threads 1]   (seeded)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from degaml.models import load_llm
from degaml.models.merge import merged_lora

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import random_lora  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = random_lora(load_llm("default", device="cpu", dtype=args.dtype).model)
    print(f"| {args.dtype}, 16 rows | LoRA side path (ms) | merged (ms) | base (ms) | side / merged |")
    print("| --- | --- | --- | --- | --- |")
    for tokens in args.tokens:
        ids = torch.randint(100, 40000, (16, tokens))
        best = {"side": float("inf"), "merged": float("inf"), "base": float("inf")}

        def timed(key: str) -> None:
            start = time.perf_counter()
            model(input_ids=ids)
            best[key] = min(best[key], time.perf_counter() - start)

        with torch.inference_mode():
            for _ in range(8):
                timed("side")
                with merged_lora(model):
                    timed("merged")
                with model.disable_adapter():
                    timed("base")
        ms = {k: 1000 * v for k, v in best.items()}
        print(f"| {tokens} token(s) | {ms['side']:.1f} | {ms['merged']:.1f} | {ms['base']:.1f} | {ms['side'] / ms['merged']:.2f}× |")


if __name__ == "__main__":
    main()
