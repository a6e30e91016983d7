"""Device and dtype resolution: `device: auto|cpu|cuda`, `dtype: auto|float32|bfloat16`.

`auto` picks CUDA when present. The automatic dtype is bfloat16 on CUDA (where supported) and float32 on CPU:
on CPUs without native bf16 matmul (no AVX512-BF16/AMX, as on this project's machines) bf16 is several times
slower than fp32, and bf16 rounding shifts log-likelihoods; `benchmarks/evaluator_throughput.py` measures both
(speed against the matmul roofline, and how often bf16 picks the same answer as fp32). A spec can still ask for
`dtype: bfloat16`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from degaml.errors import ModelLoadError

if TYPE_CHECKING:  # torch is imported where used: specs import the names below without loading torch
    import torch

DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["auto", "float32", "bfloat16"]


def resolve_device(name: DeviceName) -> torch.device:
    """Map a spec's device name to a torch device; `cuda` without a GPU is a user error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device: 'cuda' was requested but no CUDA device is available; use device: auto or cpu")
    return torch.device(name)


def resolve_dtype(name: DtypeName, device: torch.device) -> torch.dtype:
    """Map a spec's dtype name to a torch dtype for `device`."""
    import torch

    if name == "float32":
        return torch.float32
    if name == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
