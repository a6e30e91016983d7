"""Attention for a chunk of decoding positions computed row by row, each row exactly as a one-token step computes it.

Jump-forward decoding (`jump_decoding`) checks several proposed tokens in one forward call, where `generate` would
run one call per token. Mathematically the same, but not bit for bit: for a chunk of R > 1 query rows SDPA gets a
materialised causal mask (and no grouped-query fast path), for one row it gets no mask and only the keys up to that
row — different kernels, different rounding. In bfloat16 the logits are coarse (1/8 apart near 20) and the top two
allowed tokens of a JSON decision are often one rounding step apart, so a chunked check flips greedy choices the
one-token path would make (measured on SmolLM2: 3 of 6 decisions differed at a tie one bf16 step wide).

`stepwise_attention(model)` switches the model, for the duration of a `with` block, to an attention implementation
registered with transformers' `AttentionInterface` that calls the model's own implementation once per query row,
with no mask and the keys up to that row — the call a one-token decoding step makes. The other layers are per row
already (norms, rotary, elementwise) or matrix products whose rows do not depend on the other rows for the chunk
sizes used (`jump_decoding.MAX_CHUNK`). Implementations not in the interface (eager) are left as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

PREFIX = "degaml_stepwise_"
_LOCK = threading.Lock()


def _row_by_row(original: Callable[..., tuple[torch.Tensor, Any]]) -> Callable[..., tuple[torch.Tensor, None]]:
    def attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
        # query (B, H, R, D); key, value (B, KVH, S, D) with S = past + R (the cache already holds this chunk)
        rows = query.shape[2]
        if rows == 1:
            return original(module, query, key, value, attention_mask, **kwargs)[0], None
        past = key.shape[2] - rows
        out = [original(module, query[:, :, i : i + 1], key[:, :, : past + i + 1], value[:, :, : past + i + 1], None,
                        **kwargs)[0] for i in range(rows)]  # each (B, 1, H, D)
        return torch.cat(out, dim=1), None  # (B, R, H, D)

    return attention


@contextmanager
def stepwise_attention(model: torch.nn.Module) -> Iterator[bool]:
    """Within the block, `model`'s attention runs row by row (yields False when its implementation is not wrapped)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    config = getattr(model, "get_base_model", lambda: model)().config
    original = getattr(config, "_attn_implementation", None)
    if original not in ALL_ATTENTION_FUNCTIONS or original not in ALL_MASK_ATTENTION_FUNCTIONS:
        yield False
        return
    name = PREFIX + original
    with _LOCK:
        if name not in ALL_ATTENTION_FUNCTIONS:
            AttentionInterface.register(name, _row_by_row(ALL_ATTENTION_FUNCTIONS[original]))
            AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[original])  # built, then unused
        config._attn_implementation = name
        try:
            yield True
        finally:
            config._attn_implementation = original
