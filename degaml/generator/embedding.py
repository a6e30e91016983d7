"""Task embedding (paper App. E.1): sentence-encoder token embeddings of a batch of N unlabeled prompts.

Output shape (N, L, C): N prompts (cycled when fewer are given, as upstream does), each truncated/zero-padded to
L tokens, C = the encoder's hidden size (384 for all-MiniLM-L6-v2). L may not exceed the encoder's position
embeddings (512 for MiniLM); a text longer than L tokens is cut to its first L (`truncated_fraction` measures how
often), which is why a spec's `generator_input` puts what identifies the task first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class PromptEmbedder:
    """Wraps a sentence-transformers encoder to produce fixed-shape prompt-batch embeddings."""

    def __init__(self, encoder, num_prompts: int, prompt_tokens: int) -> None:
        self.encoder = encoder
        self.num_prompts = num_prompts
        self.prompt_tokens = prompt_tokens
        limit = encoder_max_tokens(encoder)
        if limit is not None and prompt_tokens > limit:
            raise ValueError(f"generator.prompt_tokens: {prompt_tokens} exceeds the encoder's {limit} positions")
        encoder.max_seq_length = prompt_tokens
        dim = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
        self.dim = int(dim())

    @torch.inference_mode()
    def embed(self, prompts: Sequence[str]) -> torch.Tensor:
        """(N, L, C) for one prompt batch."""
        if not prompts:
            raise ValueError("cannot embed an empty prompt batch")
        batch = [prompts[i % len(prompts)] for i in range(self.num_prompts)]
        tokens = self.encoder.encode(batch, output_value="token_embeddings", convert_to_tensor=False, show_progress_bar=False)
        out = torch.zeros(self.num_prompts, self.prompt_tokens, self.dim)
        for i, t in enumerate(tokens):
            n = min(len(t), self.prompt_tokens)
            out[i, :n] = t[:n].float().cpu()
        return out

    def truncated_fraction(self, texts: Sequence[str]) -> float:
        """Share of `texts` longer than the L encoder tokens kept (special tokens included)."""
        lengths = [len(ids) for ids in self.encoder.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
        return sum(n > self.prompt_tokens for n in lengths) / max(1, len(lengths))

    def embed_many(self, batches: Sequence[Sequence[str]]) -> torch.Tensor:
        """(B, N, L, C) for several prompt batches."""
        return torch.stack([self.embed(b) for b in batches])


def encoder_max_tokens(encoder) -> int | None:
    """Positions the sentence encoder's transformer has (None when it does not say)."""
    config = getattr(getattr(encoder[0], "auto_model", None), "config", None) if len(encoder) else None
    return getattr(config, "max_position_embeddings", None)
