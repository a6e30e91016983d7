"""Evaluator speed against the matmul roofline measured in the same run (fp32 and bf16).

Measures, on this machine:
  1. roofline: GFLOP/s of a dense matmul shaped like SmolLM2's MLP (tokens × 576 → 1536), fp32 and bf16;
  2. backbone: tokens/s of a plain forward pass of the model (batch 8 × 64 tokens) and the GFLOP/s it implies
     (2 × non-embedding parameters per token), as a fraction of the roofline;
  3. multiple choice: ARC-Easy, the first N validation items in file order — packed (shared context) and unpacked
     scoring, fp32 and bf16: examples/s, tokens/s, accuracy, and how often bf16 picks the same answer as fp32;
  4. generation: GSM8K zero-shot, the first M items, greedy up to 128 new tokens: examples/s, new tokens/s.

Usage: python benchmarks/evaluator_throughput.py [--items 100] [--gen-items 16] [--out docs/benchmarks/throughput.json]
Run it on an otherwise idle machine: timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from degaml.data import load_task_data
from degaml.evaluation import PromptBuilder, evaluate
from degaml.evaluation.loglikelihood import score_continuations
from degaml.models import load_llm
from degaml.specs import load_spec

REPO = Path(__file__).resolve().parents[1]


def matmul_gflops(dtype: torch.dtype, m: int = 512, k: int = 576, n: int = 1536, reps: int = 30) -> float:
    a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
    for _ in range(3):
        torch.nn.functional.linear(a, w)
    start = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(a, w)
    return 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9


@torch.inference_mode()
def backbone_tokens_per_second(model: torch.nn.Module, batch: int = 8, length: int = 64, reps: int = 3) -> float:
    ids = torch.randint(100, 40000, (batch, length))
    backbone = model.get_decoder()
    backbone(input_ids=ids)
    start = time.perf_counter()
    for _ in range(reps):
        backbone(input_ids=ids)
    return batch * length * reps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--gen-items", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "throughput.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                                "torch": torch.__version__}}
    report["roofline_gflops"] = {"float32": matmul_gflops(torch.float32), "bfloat16": matmul_gflops(torch.bfloat16)}

    arc = load_spec(REPO / "specs" / "arc_easy.yaml")
    arc_items = load_task_data(arc).split("all")[: args.items]
    pairs = [pair for ex in arc_items for pair in PromptBuilder(arc).choice_pairs(ex)]
    report["backbone"], report["multiple_choice"] = {}, {}
    predictions = {}
    for dtype in ("float32", "bfloat16"):
        loaded = load_llm("default", device="cpu", dtype=dtype)
        params = sum(p.numel() for n, p in loaded.model.named_parameters() if "embed" not in n)
        tps = backbone_tokens_per_second(loaded.model)
        report["backbone"][dtype] = {"tokens_per_second": tps, "gflops": 2 * params * tps / 1e9,
                                     "fraction_of_roofline": 2 * params * tps / 1e9 / report["roofline_gflops"][dtype]}
        for packed in (True, False):
            tokens = []
            start = time.perf_counter()
            score_continuations(loaded.model, loaded.tokenizer, pairs, arc.batch_size, arc.max_length,
                                on_batch=lambda _, t: tokens.append(t), share_context=packed)
            seconds = time.perf_counter() - start
            report["multiple_choice"][f"{dtype}/{'packed' if packed else 'unpacked'}"] = {
                "items": len(arc_items), "seconds": seconds, "examples_per_second": len(arc_items) / seconds,
                "tokens": sum(tokens), "tokens_per_second": sum(tokens) / seconds,
            }
        result = evaluate(loaded, arc, arc_items, "all")
        predictions[dtype] = [p.prediction for p in result.predictions]
        report["multiple_choice"][f"{dtype}/accuracy"] = {"acc": result.acc, "acc_norm": result.acc_norm, "ci95": result.ci95}
    same = sum(a == b for a, b in zip(predictions["float32"], predictions["bfloat16"])) / len(arc_items)
    report["multiple_choice"]["bf16_same_prediction_as_fp32"] = same

    gsm = load_spec(REPO / "specs" / "gsm8k.yaml", ["generation.max_new_tokens=128"])
    gsm_data = load_task_data(gsm)
    loaded = load_llm("default", device="cpu", dtype="float32")
    gen = evaluate(loaded, gsm, gsm_data.split("all")[: args.gen_items], "all")
    new_tokens = sum(len(loaded.tokenizer(p.output, add_special_tokens=False)["input_ids"]) for p in gen.predictions)
    report["generation"] = {"items": gen.n, "seconds": gen.seconds, "examples_per_second": gen.examples_per_second,
                            "new_tokens_per_second": new_tokens / gen.seconds, "tokens_per_second": gen.tokens_per_second}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(r: dict) -> str:
    """The report as the markdown table docs/benchmarks.md shows."""
    roof = r["roofline_gflops"]
    lines = ["| measurement | float32 | bfloat16 |", "| --- | --- | --- |",
             f"| matmul roofline (GFLOP/s, 512×576 · 576×1536) | {roof['float32']:.1f} | {roof['bfloat16']:.1f} |"]
    bb = r["backbone"]
    lines.append(f"| backbone forward, tokens/s (8×64) | {bb['float32']['tokens_per_second']:.0f} | {bb['bfloat16']['tokens_per_second']:.0f} |")
    lines.append(f"| backbone, fraction of roofline | {bb['float32']['fraction_of_roofline']:.2f} | {bb['bfloat16']['fraction_of_roofline']:.2f} |")
    mc = r["multiple_choice"]
    for mode in ("packed", "unpacked"):
        a, b = mc[f"float32/{mode}"], mc[f"bfloat16/{mode}"]
        lines.append(f"| ARC-Easy {mode} scoring, examples/s ({a['items']} items) | {a['examples_per_second']:.2f} | {b['examples_per_second']:.2f} |")
        lines.append(f"| ARC-Easy {mode} scoring, tokens/s processed | {a['tokens_per_second']:.0f} | {b['tokens_per_second']:.0f} |")
    fa, ba = mc["float32/accuracy"], mc["bfloat16/accuracy"]
    lines.append(f"| ARC-Easy acc / acc_norm (%) | {100 * fa['acc']:.1f} / {100 * fa['acc_norm']:.1f} | {100 * ba['acc']:.1f} / {100 * ba['acc_norm']:.1f} |")
    lines.append(f"| bf16 picks the same answer as fp32 | | {100 * mc['bf16_same_prediction_as_fp32']:.0f}% of items |")
    g = r["generation"]
    lines.append(f"| GSM8K greedy generation ({g['items']} items, ≤128 new tokens): examples/s · new tokens/s | "
                 f"{g['examples_per_second']:.2f} · {g['new_tokens_per_second']:.1f} | – |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
