"""Hardware limits measured in the benchmark's own process: matmul GFLOP/s and memory bandwidth, and the
decoding/scoring speed they allow for a causal LM.

- matmul roofline: fastest of many `linear` calls at the model's shapes (rows × hidden → intermediate) per dtype;
- bandwidth: fastest of several reductions over a 512 MiB buffer (bytes read per second);
- a decoding step of B rows costs ≥ max(2·P·B / roofline, weight bytes / bandwidth) (P = parameters used per
  token incl. the LM head; weights are read once per step), so tokens/s ≤ B / that; scoring (prefill) tokens/s
  ≤ roofline / (2·P_backbone) with the head only on the scored positions.
"""

from __future__ import annotations

import time

import torch


def _fastest(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def matmul_gflops(dtype: torch.dtype, rows: int, hidden: int = 576, out: int = 1536, reps: int = 30) -> float:
    a, w = torch.randn(rows, hidden, dtype=dtype), torch.randn(out, hidden, dtype=dtype)
    torch.nn.functional.linear(a, w)
    return 2 * rows * hidden * out / _fastest(lambda: torch.nn.functional.linear(a, w), reps) / 1e9


@torch.inference_mode()
def bandwidth_gbs(mib: int = 512, reps: int = 5) -> float:
    x = torch.ones(mib * 2**20 // 4, dtype=torch.float32)
    x.sum()
    return x.numel() * 4 / _fastest(lambda: x.sum(), reps) / 1e9


def model_sizes(model: torch.nn.Module) -> dict[str, float]:
    """Parameters per token (backbone without embeddings, head) and weight bytes read per decoding step."""
    head = model.get_output_embeddings().weight
    backbone = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and p is not head)
    elem = next(model.parameters()).element_size()
    return {"backbone_params": backbone, "head_params": head.numel(), "step_bytes": (backbone + head.numel()) * elem}


def decode_limit(sizes: dict[str, float], rows: int, gflops: float, gbs: float) -> float:
    """Upper bound on new tokens/s for greedy decoding with `rows` rows per step."""
    flop = 2 * (sizes["backbone_params"] + sizes["head_params"]) * rows
    return rows / max(flop / (gflops * 1e9), sizes["step_bytes"] / (gbs * 1e9))


def prefill_limit(sizes: dict[str, float], gflops: float) -> float:
    """Upper bound on tokens/s through the backbone (scoring)."""
    return gflops * 1e9 / (2 * sizes["backbone_params"])
