"""What a run computed on: device, the dtype (and how `auto` chose it), torch threads and the CPU's matmul flags.

Results depend on the dtype, and `dtype: auto` chooses per machine (degaml.models.dtype_probe): bf16 where the
CPU has fast bf16 kernels (AVX512-BF16, AMX), fp32 where it has only AVX2. Every stored result records this.
"""

from __future__ import annotations

from typing import Any

MATMUL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def matmul_flags() -> list[str]:
    """The CPU flags among MATMUL_FLAGS this machine has (what decides bf16 vs fp32 speed)."""
    from degaml.models.dtype_probe import cpu_flags

    flags = set(cpu_flags().split())
    return [f for f in MATMUL_FLAGS if f in flags]


def compute_record(loaded: Any) -> dict[str, Any]:
    """Device, dtype (and why), torch threads, torch version and matmul flags of a loaded model's run."""
    import torch

    return {"device": str(loaded.device), "dtype": str(getattr(loaded.model, "dtype", "")).replace("torch.", ""),
            "dtype_reason": getattr(loaded, "dtype_reason", ""), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cpu_flags": matmul_flags()}
