"""Splitting a causal LM into its backbone (hidden states) and LM head.

Scoring needs logits only at a few positions, SLOT optimises a vector added to the last hidden state before
the head, and training losses need logits only at the labelled (answer) positions; all call the backbone and head
separately. `answer_nll` is the one training loss: it equals the model's own `labels=` loss but applies the LM head
to the labelled positions only, so the (B, T, V) logits tensor and its gradient are never built (V = 49 152 for
SmolLM2: on a GSM8K support batch of 8 × 369 tokens that is 0.6 GB in float32, several times over in backward).
Works through a PeftModel wrapper (LoRA layers are injected in place, so the inner backbone still applies them).

`contiguous_head_inputs` (applied by `load_llm`) hands the head a contiguous input. transformers slices the last
position(s) out of the hidden states (`logits_to_keep`), a non-contiguous (B, k, d) view; once the head's weight
is frozen (PEFT freezes the base model while an adapter is attached), torch 2.13's CPU linear runs such an input as
a batched matmul against a weight broadcast per row: for B = 40 rows of SmolLM2 in bf16 that is a 2.2 GB temporary
and 6.2 s instead of 13 ms (fp32: 0.35 s instead of 36 ms). Measured 2026-12-07 on a Xeon with AMX, 1 thread;
`tests/models/test_heads.py` checks the hook keeps the logits.
"""

from __future__ import annotations

import torch


def unwrap_peft(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a PeftModel (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _contiguous_input(module: torch.nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:]) if args and isinstance(args[0], torch.Tensor) else args


def contiguous_head_inputs(model: torch.nn.Module) -> None:
    """Make the LM head copy a non-contiguous input before its matmul (once per model; see the module doc)."""
    head = unwrap_peft(model).get_output_embeddings()
    if head is not None and not getattr(head, "_degaml_contiguous_input", False):
        head.register_forward_pre_hook(_contiguous_input)
        head._degaml_contiguous_input = True


def backbone_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(decoder returning `last_hidden_state` (B, T, d), LM head mapping (…, d) → (…, V))."""
    inner = unwrap_peft(model)
    backbone = inner.get_decoder() if hasattr(inner, "get_decoder") else getattr(inner, "model")
    head = inner.get_output_embeddings()
    if backbone is None or head is None:
        raise TypeError(f"{type(inner).__name__} does not expose a decoder and an LM head")
    return backbone, head


def labelled_logprobs(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(target) at each labelled position (N,), the row (B index) of each (N,)), the head applied there only.

    input_ids, attention_mask, labels: (B, T); labels[b, t] is the target of position t (predicted at t - 1).
    """
    backbone, head = backbone_and_head(model)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state  # (B, T, d)
    targets = labels[:, 1:]  # (B, T-1)
    keep = targets != -100  # (B, T-1)
    logits = head(hidden[:, :-1][keep]).float()  # (N, V)
    logp = torch.log_softmax(logits, dim=-1).gather(1, targets[keep].unsqueeze(1)).squeeze(1)  # (N,)
    return logp, keep.nonzero()[:, 0]


def answer_nll(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL over the positions whose label is not -100 (HF's shifted `labels=` loss), a scalar.

    input_ids, attention_mask, labels: (B, T); labels[b, t] is the target of position t (predicted at t - 1).
    """
    backbone, head = backbone_and_head(model)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state  # (B, T, d)
    targets = labels[:, 1:]  # (B, T-1): the token each position 0..T-2 predicts
    keep = targets != -100  # (B, T-1)
    logits = head(hidden[:, :-1][keep])  # (N, V), N = labelled positions
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])
