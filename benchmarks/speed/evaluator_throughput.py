"""Evaluator speed against the hardware limits measured in the same run, fp32 and bf16 side by side.

Measures, on this machine, in one process (ratios are robust to a shared machine; absolute figures are not):
  1. limits (`benchmarks/_common.py`): matmul GFLOP/s at SmolLM2's MLP shape for 40 and 512 rows, memory
     bandwidth; the decoding tokens/s and scoring tokens/s they allow; the `dtype: auto` probe's choice;
  2. multiple choice: ARC-Easy, the first N validation items — `evaluate` (packed rows): examples/s, tokens/s
     through the backbone as a fraction of the prefill limit, and how often bf16 picks fp32's answer;
  3. generation: GSM8K, the first M validation prompts, greedy ≤ K new tokens, batch B, the spec's stop strings —
     degaml's decoder (`generate_greedy`) vs a plain `model.generate` loop (one prompt at a time, same stop
     strings) in fp32; degaml in bf16; new tokens/s against the decoding limit; identical texts fp32 vs plain loop,
     and bf16's agreement with fp32;
  4. a fixed LoRA adapter (random, r = 8 on all seven projections, as the shipped generator's adapters): decoding
     with the adapter merged (`merged_lora`, what degaml does) vs the PEFT side path, in the probe's dtype.

Usage: python benchmarks/speed/evaluator_throughput.py [--items 60] [--gen-items 16] [--max-new-tokens 96]
       [--gen-batch 16] [--threads N] [--out docs/benchmarks/throughput.json]     (seeded: torch.manual_seed(0))
Run from the repo root (`PYTHONPATH=.` when degaml is not installed from this checkout).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

from degaml.io import write_json
from degaml.data import load_task_data
from degaml.evaluation import PromptBuilder, evaluate
from degaml.evaluation.batching import left_pad
from degaml.evaluation.generation import cut_at_stop, encode_prompts, generate_greedy
from degaml.evaluation.waves import Rows, stop_criterion, wave
from degaml.models import load_llm
from degaml.models.device import choose_dtype
from degaml.models.dtype_probe import cpu_flags
from degaml.specs import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as rl  # noqa: E402  (hardware limits)
from _common import random_lora  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def plain_generate_loop(model, tokenizer, prompts, until, max_new_tokens, max_length) -> list[str]:
    """The baseline: `model.generate` on one prompt at a time (no batching), HF stop strings."""
    encoded, _ = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    texts = []
    with torch.inference_mode():
        for ids in encoded:
            out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=False, max_new_tokens=max_new_tokens, stop_strings=list(until),
                                 tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None,
                                 top_k=None)[0, len(ids):]
            texts.append(cut_at_stop(tokenizer.decode(out, skip_special_tokens=True), until))
    return texts


def unmerged_decode(model, tokenizer, prompts, until, max_new_tokens, batch, max_length) -> int:
    """degaml's batching and decoder (one wave per batch) without merging the adapter (the PEFT side path)."""
    encoded, order = encode_prompts(tokenizer, prompts, max_length, max_new_tokens)
    stop, n_new = stop_criterion(tokenizer, until), 0
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            ids, mask, _ = left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, torch.device("cpu"))
            finished, _ = wave(model, tokenizer, Rows(idx, [[] for _ in idx], ids, mask), stop, max_new_tokens, True)
            n_new += sum(t != tokenizer.pad_token_id for _, new in finished for t in new)
    return n_new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--gen-items", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--gen-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 = robust ratios on a shared machine)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "throughput.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    flags = set(cpu_flags().split())
    r: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "flags": [f for f in FLAGS if f in flags],
                           "load_start": os.getloadavg()}, "args": vars(args) | {"out": str(args.out)}}
    r["limits"] = {"bandwidth_gbs": rl.bandwidth_gbs()}
    for dt in (torch.float32, torch.bfloat16):
        name = str(dt).removeprefix("torch.")
        r["limits"][name] = {"gflops_40": rl.matmul_gflops(dt, 40), "gflops_512": rl.matmul_gflops(dt, 512)}
    auto, r["auto_dtype"] = choose_dtype("auto", torch.device("cpu"))

    arc = load_spec(REPO / "specs" / "arc_easy.yaml")
    arc_data = load_task_data(arc)
    arc_items = arc_data.split("validation")[: args.items]
    gsm = load_spec(REPO / "specs" / "gsm8k.yaml")
    gsm_data = load_task_data(gsm)
    builder = PromptBuilder(gsm, gsm_data.train)
    prompts = [builder.context(ex) for ex in gsm_data.split("validation")[: args.gen_items]]
    until, k, b, maxlen = gsm.generation.until, args.max_new_tokens, args.gen_batch, gsm.max_length
    r["mc"], r["gen"], mc_pred, gen_text = {}, {}, {}, {}
    for name in ("float32", "bfloat16"):
        loaded = load_llm("default", device="cpu", dtype=name)
        model, tok = loaded.model, loaded.tokenizer
        sizes = rl.model_sizes(model)
        lim = r["limits"][name]
        res = evaluate(loaded, arc, arc_items, "validation", fewshot_pool=arc_data.train)
        mc_pred[name] = [p.prediction for p in res.predictions]
        r["mc"][name] = {"items": res.n, "seconds": res.seconds, "examples_per_second": res.examples_per_second,
                         "tokens_per_second": res.tokens_per_second, "accuracy": res.accuracy,
                         "prefill_limit_tokens_per_second": rl.prefill_limit(sizes, lim["gflops_512"])}
        gens, seconds = timed(lambda: generate_greedy(model, tok, prompts, until, k, b, maxlen))
        gen_text[name] = [g.text for g in gens]
        new = sum(g.n_new_tokens for g in gens)
        r["gen"][name] = {"items": len(prompts), "seconds": seconds, "examples_per_second": len(prompts) / seconds,
                          "new_tokens": new, "new_tokens_per_second": new / seconds,
                          "decode_limit_tokens_per_second": rl.decode_limit(sizes, b, lim["gflops_40"], r["limits"]["bandwidth_gbs"])}
        if name == "float32":
            texts, seconds = timed(lambda: plain_generate_loop(model, tok, prompts, until, k, maxlen))
            r["gen"]["plain_loop_float32"] = {"seconds": seconds, "examples_per_second": len(prompts) / seconds,
                                              "identical_texts": sum(a == c for a, c in zip(texts, gen_text[name]))}
        if loaded.dtype == auto:
            peft_model = random_lora(model)
            _, merged_s = timed(lambda: generate_greedy(peft_model, tok, prompts, until, k, b, maxlen))
            _, side_s = timed(lambda: unmerged_decode(peft_model, tok, prompts, until, k, b, maxlen))
            r["gen"]["lora"] = {"dtype": name, "merged_seconds": merged_s, "side_path_seconds": side_s}
            peft_model.unload()
        del loaded, model
    r["mc"]["bf16_same_answer"] = sum(a == c for a, c in zip(mc_pred["float32"], mc_pred["bfloat16"]))
    r["gen"]["bf16_same_text"] = sum(a == c for a, c in zip(gen_text["float32"], gen_text["bfloat16"]))
    r["machine"]["load_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, r, indent=2)
    print(markdown(r))


def markdown(r: dict) -> str:
    """The report as the markdown tables docs/benchmarks.md shows."""
    lim, mc, gen = r["limits"], r["mc"], r["gen"]
    f32, b16 = "float32", "bfloat16"
    lines = [f"CPU flags: {', '.join(r['machine']['flags'])}; threads {r['machine']['threads']}; torch {r['machine']['torch']}; "
             f"load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in r['machine']['load_start'])}, "
             f"at end {'/'.join(f'{x:.1f}' for x in r['machine']['load_end'])}",
             f"`dtype: auto` → {r['auto_dtype']}", "",
             "| measurement | float32 | bfloat16 | bf16 / fp32 |", "| --- | --- | --- | --- |"]

    def row(label, a, c, fmt="{:.1f}"):
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(c)} | {c / a:.2f}× |")

    row("matmul GFLOP/s, 40 rows (576→1536)", lim[f32]["gflops_40"], lim[b16]["gflops_40"])
    row("matmul GFLOP/s, 512 rows (576→1536)", lim[f32]["gflops_512"], lim[b16]["gflops_512"])
    lines.append(f"| memory bandwidth (GB/s, reduction over 512 MiB) | {lim['bandwidth_gbs']:.1f} | | |")
    n = mc[f32]["items"]
    row(f"ARC-Easy MC ({n} items, packed): examples/s", mc[f32]["examples_per_second"], mc[b16]["examples_per_second"], "{:.2f}")
    row("ARC-Easy MC: tokens/s through the backbone", mc[f32]["tokens_per_second"], mc[b16]["tokens_per_second"], "{:.0f}")
    row("ARC-Easy MC: prefill limit, tokens/s (roofline 512 rows)", mc[f32]["prefill_limit_tokens_per_second"],
        mc[b16]["prefill_limit_tokens_per_second"], "{:.0f}")
    lines.append(f"| ARC-Easy MC: fraction of the prefill limit | {mc[f32]['tokens_per_second'] / mc[f32]['prefill_limit_tokens_per_second']:.2f} | "
                 f"{mc[b16]['tokens_per_second'] / mc[b16]['prefill_limit_tokens_per_second']:.2f} | |")
    lines.append(f"| ARC-Easy accuracy (%) | {100 * mc[f32]['accuracy']:.1f} | {100 * mc[b16]['accuracy']:.1f} | "
                 f"same answer {mc['bf16_same_answer']}/{n} |")
    g = gen[f32]["items"]
    args = r["args"]
    row(f"GSM8K generation ({g} prompts, ≤{args['max_new_tokens']} new, batch {args['gen_batch']}): examples/s",
        gen[f32]["examples_per_second"], gen[b16]["examples_per_second"], "{:.2f}")
    row("GSM8K generation: new tokens/s", gen[f32]["new_tokens_per_second"], gen[b16]["new_tokens_per_second"])
    row("GSM8K generation: decoding limit, tokens/s", gen[f32]["decode_limit_tokens_per_second"],
        gen[b16]["decode_limit_tokens_per_second"], "{:.0f}")
    lines.append(f"| GSM8K generation: fraction of the decoding limit | {gen[f32]['new_tokens_per_second'] / gen[f32]['decode_limit_tokens_per_second']:.2f} | "
                 f"{gen[b16]['new_tokens_per_second'] / gen[b16]['decode_limit_tokens_per_second']:.2f} | same text {gen['bf16_same_text']}/{g} |")
    p = gen["plain_loop_float32"]
    lines += ["", "| generation, same prompts | examples/s | vs plain loop |", "| --- | --- | --- |",
              f"| plain `model.generate` loop, one prompt at a time, fp32 | {p['examples_per_second']:.3f} | 1.00× |",
              f"| degaml `generate_greedy`, fp32 (identical texts: {p['identical_texts']}/{g}) | {gen[f32]['examples_per_second']:.3f} | "
              f"{gen[f32]['examples_per_second'] / p['examples_per_second']:.1f}× |",
              f"| degaml `generate_greedy`, bf16 | {gen[b16]['examples_per_second']:.3f} | "
              f"{gen[b16]['examples_per_second'] / p['examples_per_second']:.1f}× |"]
    if "lora" in gen:
        lo = gen["lora"]
        lines.append(f"| with a fixed LoRA ({lo['dtype']}): merged {lo['merged_seconds']:.1f} s vs PEFT side path "
                     f"{lo['side_path_seconds']:.1f} s | | {lo['side_path_seconds'] / lo['merged_seconds']:.2f}× faster merged |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
