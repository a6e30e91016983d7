"""Attaching a saved PEFT LoRA adapter to a loaded base model for the duration of a block, and refusing adapters
whose weights are not finite or implausibly large (such an adapter would otherwise score as a silently wrong number).

`check_adapter_weights(dir, what)` checks a saved adapter's tensors up front (user artifacts: one line, exit 2);
`check_adapter_fits(dir, model, what)` checks up front that its LoRA shapes fit a base model;
`require_finite(tensors, what)` checks a state dict before it is written (produced artifacts); `attached_adapter`
checks the LoRA parameters it loaded, so no adapter with non-finite or huge weights is ever scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

from degaml.errors import ModelLoadError

ADAPTER_WEIGHTS = "adapter_model.safetensors"


MAX_ABS_WEIGHT = 1e3  # trained LoRA factors and generator weights are O(1) (shipped ones: ≤ 1.5); 1e3 is far outside


class NonFiniteError(ModelLoadError):
    """Weights or scores that are NaN, infinite or implausibly large: a corrupt artifact or a diverged run."""


def first_bad_weight(tensors: Mapping[str, torch.Tensor], limit: float = MAX_ABS_WEIGHT) -> tuple[str, str] | None:
    """(tensor name, problem) of the first tensor holding a NaN, ±inf or a weight beyond ±`limit`; None when all are fine."""
    for name, tensor in tensors.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        if not bool(torch.isfinite(tensor).all()):
            return name, "non-finite (NaN/inf) weights"
        largest = float(tensor.detach().abs().max())
        if largest > limit:
            return name, f"implausibly large weights (|w| up to {largest:.3g} > {limit:.0e})"
    return None


def require_finite(tensors: Mapping[str, torch.Tensor], what: str, limit: float = MAX_ABS_WEIGHT) -> None:
    """Raise NonFiniteError naming `what` and the tensor when any weight is NaN, infinite or beyond ±`limit`."""
    bad = first_bad_weight(tensors, limit)
    if bad is not None:
        raise NonFiniteError(f"{what}: {bad[1]} in '{bad[0]}' (a corrupt artifact or a diverged run)")


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


def _lora_module(key: str) -> tuple[str, str] | None:
    """('model.layers.0.self_attn.q_proj', 'A') for a PEFT saved key; None for a key that is not a LoRA factor."""
    for factor in ("A", "B"):
        marker = f".lora_{factor}."
        if marker in key:
            return key.split(marker)[0].removeprefix("base_model.model."), factor
    return None


def check_adapter_fits(adapter_dir: str | Path, model_config, what: str) -> None:
    """Refuse (one line naming `what`) an adapter whose LoRA factors do not fit the base model of `model_config`
    (a transformers config): checked on a weightless (meta-device) copy of the model, before anything is loaded."""
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    path = Path(adapter_dir) / ADAPTER_WEIGHTS
    if not path.is_file():
        return
    with torch.device("meta"):
        modules = dict(AutoModelForCausalLM.from_config(model_config).named_modules())
    with safe_open(str(path), framework="pt") as handle:
        for key in handle.keys():
            parsed = _lora_module(key)
            if parsed is None:
                continue
            module = modules.get(parsed[0])
            shape = tuple(handle.get_slice(key).get_shape())
            if not isinstance(module, torch.nn.Linear):
                raise ModelLoadError(f"{what}: '{adapter_dir}' adapts '{parsed[0]}', which this base model does not have as a linear layer")
            rank = shape[0] if parsed[1] == "A" else shape[-1]
            expected = (rank, module.in_features) if parsed[1] == "A" else (module.out_features, rank)
            if shape != expected:
                raise ModelLoadError(f"{what}: '{adapter_dir}' does not fit the base model: '{key}' has shape "
                                     f"{list(shape)}, the model needs {list(expected)}")


@contextmanager
def attached_adapter(model: torch.nn.Module, adapter_dir: str | Path | None, what: str = "--adapter") -> Iterator[torch.nn.Module]:
    """Yield `model` with the adapter in `adapter_dir` applied (or `model` itself when None); restore after.
    `what` names the option the adapter came from in error messages."""
    if adapter_dir is None:
        yield model
        return
    from peft import PeftModel

    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise ModelLoadError(f"{what}: '{adapter_dir}' has no adapter_config.json (not a PEFT adapter directory)")
    try:
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except Exception as exc:  # noqa: BLE001 - incompatible adapter → one line
        raise ModelLoadError(f"{what}: cannot load '{adapter_dir}' onto this model ({str(exc).splitlines()[0][:160]})") from None
    try:
        require_finite({n: p for n, p in peft_model.named_parameters() if "lora_" in n}, f"{what} '{adapter_dir}'")
        peft_model.eval()
        yield peft_model
    finally:
        peft_model.unload()  # removes the LoRA layers, leaving the base model as it was
