"""Row compaction in `generate_greedy`: decoding in waves (finished rows leave the batch) vs one `generate` per batch.

GSM8K (`specs/gsm8k.yaml`, zero-shot prompts), the first N validation prompts, greedy ≤ K new tokens, batch B, the
spec's stop strings, the dtype `auto` chooses on this machine. Variants run interleaved in one process, round
after round (first the uncompacted `SINGLE_WAVE`, then each schedule), so a shared machine's load hits them
alike; the figure per variant is the median over rounds of the wall time and of this process's CPU time (with
one thread the CPU time hardly depends on other jobs' load), and the ratio is uncompacted / compacted.
Reported per variant: wall seconds, new tokens/s, the batch width of each wave (first round), how many texts equal
the uncompacted ones, GSM8K correctness (the spec's answer filter) and on how many items it agrees with the
uncompacted one; per row, the text and the number of new tokens. `--fp32-check` also decodes the prompts in fp32
once per variant and counts identical texts (exactness up to float summation order).

Usage: python benchmarks/speed/generation_compaction.py [--items 40] [--max-new-tokens 160] [--batch 40] [--rounds 2]
       [--schedules 32:2 16:2] [--threads 1] [--fp32-check] [--out docs/benchmarks/generation_compaction.json]
Run from the repo root (`PYTHONPATH=.` when degaml is not installed from this checkout). Greedy: no seed matters.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from degaml.io import write_json
from degaml.data import load_task_data
from degaml.evaluation import PromptBuilder
from degaml.evaluation.result import generated_prediction
from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.waves import COMPACT, SINGLE_WAVE, WaveSchedule
from degaml.models import load_llm
from degaml.models.device import choose_dtype
from degaml.models.dtype_probe import cpu_flags
from degaml.specs import load_spec

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def parse_schedule(text: str) -> WaveSchedule:
    """FIRST[:GROWTH[:nomerge]] → a WaveSchedule (nomerge: no merging of consecutive batches' unfinished rows)."""
    parts = text.split(":")
    growth = float(parts[1]) if len(parts) > 1 else 2.0
    return WaveSchedule(first=int(parts[0]), growth=growth, merge_batches="nomerge" not in parts[2:])


def label(schedule: WaveSchedule) -> str:
    if schedule == SINGLE_WAVE:
        return "single_wave"
    return f"waves_{schedule.first}x{schedule.growth:g}" + ("" if schedule.merge_batches else "_nomerge")


def run(model, tok, prompts, until, k, b, maxlen, schedule: WaveSchedule) -> tuple[list, float, list[int]]:
    """(generations, wall seconds, CPU seconds of this process, batch width of every `generate` call)."""
    widths: list[int] = []
    real = model.generate  # a bound method

    def spy(*args, **kwargs):  # records the batch width, then the real HF generate
        widths.append(int(kwargs["input_ids"].shape[0]))
        return real(*args, **kwargs)

    model.generate = spy
    try:
        start, cpu = time.perf_counter(), time.process_time()
        gens = generate_greedy(model, tok, prompts, until, k, b, maxlen, schedule=schedule)
        return gens, time.perf_counter() - start, time.process_time() - cpu, widths
    finally:
        del model.generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--schedules", nargs="*", default=[f"{COMPACT.first}:{COMPACT.growth:g}"],
                        help="compacted variants FIRST:GROWTH (the default is degaml's schedule)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fp32-check", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "generation_compaction.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = set(cpu_flags().split())
    dtype, why = choose_dtype("auto", torch.device("cpu"))
    r: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "flags": [f for f in FLAGS if f in flags],
                           "load_start": os.getloadavg()},
               "args": vars(args) | {"out": str(args.out)}, "auto_dtype": why}
    spec = load_spec(REPO / "specs" / "gsm8k.yaml")
    data = load_task_data(spec)
    examples = data.split("validation")[: args.items]
    prompts = [PromptBuilder(spec, data.train).context(ex) for ex in examples]
    until, k, b, maxlen = spec.generation.until, args.max_new_tokens, args.batch, spec.max_length
    variants = [SINGLE_WAVE, *[parse_schedule(s) for s in args.schedules]]
    loaded = load_llm("default", device="cpu", dtype=str(dtype).removeprefix("torch."))
    model, tok = loaded.model, loaded.tokenizer
    generate_greedy(model, tok, prompts[:2], until, 4, b, maxlen)  # warm-up (first-call allocations, stop tables)
    res = {label(s): {"schedule": s.model_dump(), "seconds": [], "cpu_seconds": [], "boundaries": s.boundaries(k)} for s in variants}
    texts: dict[str, list[str]] = {}
    for round_ in range(args.rounds):
        for s in variants:
            gens, seconds, cpu, widths = run(model, tok, prompts, until, k, b, maxlen, s)
            v = res[label(s)]
            v["seconds"].append(seconds)
            v["cpu_seconds"].append(cpu)
            if round_ == 0:
                texts[label(s)] = v["texts"] = [g.text for g in gens]
                v["correct"] = [generated_prediction(ex, g.text, spec).correct for ex, g in zip(examples, gens)]
                v["new_tokens_per_row"] = [g.n_new_tokens for g in gens]
                v["new_tokens"] = sum(v["new_tokens_per_row"])
                v["wave_widths"] = widths
            print(f"round {round_} {label(s)}: {seconds:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    for v in res.values():
        v["median_seconds"] = statistics.median(v["seconds"])
        v["median_cpu_seconds"] = statistics.median(v["cpu_seconds"])
        v["new_tokens_per_second"] = v["new_tokens"] / v["median_seconds"]
    base = res["single_wave"]
    for name, v in res.items():
        v["speedup_vs_single_wave"] = base["median_seconds"] / v["median_seconds"]
        v["cpu_speedup_vs_single_wave"] = base["median_cpu_seconds"] / v["median_cpu_seconds"]
        v["identical_texts"] = sum(a == c for a, c in zip(texts[name], texts["single_wave"]))
        v["same_correctness"] = sum(a == c for a, c in zip(v["correct"], base["correct"]))
    if args.fp32_check:
        del loaded, model
        f32 = load_llm("default", device="cpu", dtype="float32")
        ref = [g.text for g in generate_greedy(f32.model, f32.tokenizer, prompts, until, k, b, maxlen, schedule=SINGLE_WAVE)]
        for s in variants[1:]:
            got = [g.text for g in generate_greedy(f32.model, f32.tokenizer, prompts, until, k, b, maxlen, schedule=s)]
            res[label(s)]["fp32_identical_texts"] = sum(a == c for a, c in zip(got, ref))
    r["variants"], r["items"] = res, len(prompts)
    r["machine"]["load_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, r, indent=2)
    print(markdown(r))


def markdown(r: dict) -> str:
    """The report as the table docs/benchmarks.md shows."""
    m, a = r["machine"], r["args"]
    lines = [f"CPU flags: {', '.join(m['flags'])}; threads {m['threads']}; torch {m['torch']}; load average (1/5/15 min) "
             f"at start {'/'.join(f'{x:.1f}' for x in m['load_start'])}, at end {'/'.join(f'{x:.1f}' for x in m['load_end'])}",
             f"`dtype: auto` → {r['auto_dtype']}; GSM8K, {r['items']} validation prompts, ≤{a['max_new_tokens']} new tokens, "
             f"batch {a['batch']}, median of {a['rounds']} interleaved rounds", "",
             "| variant | wave ends (new tokens) | batch width per wave | wall s | CPU s | new tokens/s (wall) | speed-up wall / CPU "
             "| same text (auto dtype) | correct (auto dtype) | same text (fp32) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    n = r["items"]
    for name, v in r["variants"].items():
        fp32 = f"{v['fp32_identical_texts']}/{n}" if "fp32_identical_texts" in v else "—"
        lines.append(f"| {name} | {', '.join(map(str, v['boundaries']))} | {', '.join(map(str, v['wave_widths']))} | "
                     f"{v['median_seconds']:.1f} | {v['median_cpu_seconds']:.1f} | {v['new_tokens_per_second']:.1f} | "
                     f"{v['speedup_vs_single_wave']:.2f}× / {v['cpu_speedup_vs_single_wave']:.2f}× | "
                     f"{v['identical_texts']}/{n} | {sum(v['correct'])}/{n} (same on {v['same_correctness']}) | {fp32} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
