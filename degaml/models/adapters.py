"""Attaching a saved PEFT LoRA adapter to a loaded base model for the duration of a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from degaml.errors import ModelLoadError


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
    peft_model.eval()
    try:
        yield peft_model
    finally:
        peft_model.unload()  # removes the LoRA layers, leaving the base model as it was
