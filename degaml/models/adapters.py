"""Attaching a saved PEFT LoRA adapter to a loaded base model for the duration of a block, and refusing adapters
whose weights are not finite (a NaN/inf adapter would otherwise score as a silently wrong number).

`check_adapter_weights(dir, what)` checks a saved adapter's tensors up front (user artifacts: one line, exit 2);
`require_finite(tensors, what)` checks a state dict before it is written (produced artifacts); `attached_adapter`
checks the LoRA parameters it loaded, so no adapter with non-finite weights is ever scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

from degaml.errors import ModelLoadError

ADAPTER_WEIGHTS = "adapter_model.safetensors"


class NonFiniteError(ModelLoadError):
    """Weights or scores that are NaN or infinite: the artifact is corrupt or came from a diverged run."""


def first_non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """Name of the first tensor holding a NaN or ±inf (None when all are finite)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def require_finite(tensors: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise NonFiniteError naming `what` and the tensor when any weight is NaN or infinite."""
    bad = first_non_finite(tensors)
    if bad is not None:
        raise NonFiniteError(f"{what}: non-finite (NaN/inf) weights in '{bad}' (a corrupt artifact or a diverged run)")


def check_adapter_weights(adapter_dir: str | Path, what: str) -> None:
    """Read a saved adapter's safetensors and refuse it when unreadable or non-finite (one line naming the file)."""
    from safetensors.torch import load_file

    path = Path(adapter_dir) / ADAPTER_WEIGHTS
    if not path.is_file():
        return  # older .bin adapters: checked when attached
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - truncated/garbled file → one line
        raise ModelLoadError(f"{what}: cannot read '{path}' ({str(exc).splitlines()[0][:160]})") from None
    require_finite(tensors, f"{what} '{path}'")


@contextmanager
def attached_adapter(model: torch.nn.Module, adapter_dir: str | Path | None) -> Iterator[torch.nn.Module]:
    """Yield `model` with the adapter in `adapter_dir` applied (or `model` itself when None); restore after."""
    if adapter_dir is None:
        yield model
        return
    from peft import PeftModel

    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise ModelLoadError(f"--adapter: '{adapter_dir}' has no adapter_config.json (not a PEFT adapter directory)")
    try:
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except Exception as exc:  # noqa: BLE001 - incompatible adapter → one line
        raise ModelLoadError(f"--adapter: cannot load '{adapter_dir}' onto this model ({str(exc).splitlines()[0][:160]})") from None
    try:
        require_finite({n: p for n, p in peft_model.named_parameters() if "lora_" in n}, f"adapter '{adapter_dir}'")
        peft_model.eval()
        yield peft_model
    finally:
        peft_model.unload()  # removes the LoRA layers, leaving the base model as it was
