"""Device and dtype resolution: `device: auto|cpu|cuda`, `dtype: auto|float32|bfloat16`.

`auto` picks CUDA when present. The automatic dtype is bfloat16 on CUDA (where supported). On CPU it is decided
by measurement, never from the CPU's name: `degaml.models.dtype_probe` times bf16 vs fp32 matmuls at the model's
shapes (cached per machine) and picks bf16 only where it is measurably faster and accurate — on CPUs with
AMX / AVX512-BF16 bf16 is several times faster, on AVX2-only CPUs several times slower. A spec can still ask
for `dtype: float32` or `bfloat16` explicitly. `benchmarks/speed/evaluator_throughput.py` measures both end to end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from degaml.errors import ModelLoadError

if TYPE_CHECKING:  # torch is imported where used: specs import the names below without loading torch
    import torch

DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["auto", "float32", "bfloat16"]
DEFAULT_SHAPES = (576, 1536)  # SmolLM2-135M (hidden, intermediate): the probe's shapes when the model's are unknown


def resolve_device(name: DeviceName) -> torch.device:
    """Map a spec's device name to a torch device; `cuda` without a GPU is a user error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device: 'cuda' was requested but no CUDA device is available; use device: auto or cpu")
    return torch.device(name)


def choose_dtype(name: DtypeName, device: torch.device, shapes: tuple[int, int] = DEFAULT_SHAPES) -> tuple[torch.dtype, str]:
    """(dtype, why) for a spec's dtype name on `device`; `shapes` = the model's (hidden, intermediate) sizes."""
    import torch

    if name == "float32":
        return torch.float32, "float32 (asked for)"
    if name == "bfloat16":
        return torch.bfloat16, "bfloat16 (asked for)"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "bfloat16 (auto: CUDA with bf16 support)"
        return torch.float32, "float32 (auto: CUDA without bf16 support)"
    if device.type != "cpu":
        return torch.float32, f"float32 (auto: {device.type})"
    from degaml.models.dtype_probe import cpu_probe

    probe = cpu_probe(*shapes)
    return (torch.bfloat16 if probe.choice == "bfloat16" else torch.float32), "auto: " + probe.describe()


def resolve_dtype(name: DtypeName, device: torch.device, shapes: tuple[int, int] = DEFAULT_SHAPES) -> torch.dtype:
    """Map a spec's dtype name to a torch dtype for `device` (see `choose_dtype`)."""
    return choose_dtype(name, device, shapes)[0]
