"""Splitting a causal LM into its backbone (hidden states) and LM head.

Scoring needs logits only at a few positions, and SLOT optimises a vector added to the last hidden state before
the head; both call the backbone and head separately. Works through a PeftModel wrapper (LoRA layers are
injected in place, so the inner backbone still applies them).
"""

from __future__ import annotations

import torch


def unwrap_peft(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a PeftModel (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def backbone_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(decoder returning `last_hidden_state` (B, T, d), LM head mapping (…, d) → (…, V))."""
    inner = unwrap_peft(model)
    backbone = inner.get_decoder() if hasattr(inner, "get_decoder") else getattr(inner, "model")
    head = inner.get_output_embeddings()
    if backbone is None or head is None:
        raise TypeError(f"{type(inner).__name__} does not expose a decoder and an LM head")
    return backbone, head
