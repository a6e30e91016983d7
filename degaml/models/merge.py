"""Merged-LoRA inference: fold a fixed adapter into the base weights for the duration of a block, restore exactly.

A PEFT-wrapped model pays the LoRA side path (two small matmuls plus dispatch per adapted layer) at every
forward; when the adapter is fixed (scoring, generation) W' = W + s·B·A computes the same function in one
matmul. `merged_lora` merges every active, unmerged LoRA layer in place and, on exit, copies the saved base
weights back (bit-exact: the base model is shared by every strategy of an episode, so PEFT's `unmerge`, which
subtracts the delta again and drifts by rounding, is not used). Memory: one copy of the adapted weights while
merged. Outside a PEFT model (or with adapters disabled) it does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _mergeable_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft absent: nothing can be attached either
        return []
    return [m for m in model.modules()
            if isinstance(m, LoraLayer) and not m.merged and not m.disable_adapters and m.active_adapters]


@contextmanager
def merged_lora(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Yield `model` with its active LoRA adapters merged into the base weights; restore them exactly after."""
    layers = _mergeable_layers(model)
    if not layers:
        yield model
        return
    saved = [(layer, layer.get_base_layer().weight.detach().clone()) for layer in layers]
    try:
        with torch.no_grad():
            for layer in layers:
                layer.merge()
        yield model
    finally:
        with torch.no_grad():
            for layer, weight in saved:
                layer.get_base_layer().weight.copy_(weight)
                layer.merged_adapters.clear()
