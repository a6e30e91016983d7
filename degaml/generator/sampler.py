"""Drawing adapters θ ~ q_φ(·|D) from a frozen generator, one per prompt batch, cached on disk.

The adaptation module (controller, strategies) never touches the generator's weights: it asks this sampler for
the adapter of a prompt batch. Each batch's adapter is written once as a standard PEFT directory under
`out_dir/<content hash>` and re-used, so a strategy that draws the same batch twice (or a resumed run) pays once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from degaml.generator.artifact import GeneratorBundle
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import generate_state_dict, sample_prompt_batch, write_peft_adapter


class AdapterSampler:
    """The frozen generalization module as seen by the adaptation module."""

    def __init__(self, bundle: GeneratorBundle, embedder: PromptEmbedder, out_dir: Path, name: str = "") -> None:
        self.bundle = bundle
        self.embedder = embedder
        self.out_dir = Path(out_dir)
        self.name = name  # generator path, for logs and cache keys
        for p in bundle.model.parameters():
            p.requires_grad_(False)  # no gradient ever reaches the generator

    @classmethod
    def load(cls, generator_dir: Path, out_dir: Path, encoder=None) -> AdapterSampler:
        """Load a generator directory and the sentence encoder it was trained with (or the one given)."""
        from degaml.models import load_encoder

        bundle = GeneratorBundle.load(generator_dir)
        n, length, _ = bundle.config.dims[0]
        embedder = PromptEmbedder(encoder or load_encoder(bundle.config.encoder), n, length)
        return cls(bundle, embedder, out_dir, str(generator_dir))

    @property
    def num_prompts(self) -> int:
        """N: prompts per task-embedding batch."""
        return self.embedder.num_prompts

    @property
    def encoder(self):
        """The sentence encoder (routers embed questions with it)."""
        return self.embedder.encoder

    def draw(self, pool: Sequence[str], seed: int) -> list[str]:
        """A prompt batch of N prompts from `pool`, seeded (cycled when the pool is smaller than N)."""
        return sample_prompt_batch(pool, self.num_prompts, seed)

    def adapter_for(self, prompts: Sequence[str], noise: float = 0.0, seed: int = 0) -> Path:
        """PEFT adapter directory generated from this prompt batch (written on first use)."""
        if not prompts:
            raise ValueError("cannot generate an adapter from an empty prompt batch")
        key = hashlib.sha256(json.dumps([self.name, list(prompts), noise, seed]).encode()).hexdigest()[:16]
        out = self.out_dir / f"adapter-{key}"
        if not (out / "adapter_model.safetensors").is_file():
            state = generate_state_dict(self.bundle, self.embedder, prompts, noise=noise, seed=seed)
            write_peft_adapter(state, self.bundle, out, {"prompts.json": json.dumps(list(prompts))})
        return out

    def union_adapter(self) -> Path | None:
        """θ_union as a PEFT adapter directory (written once) for a residual generator; None for a direct one."""
        if self.bundle.config.mode != "residual" or self.bundle.union is None:
            return None
        out = self.out_dir / f"union-{(self.bundle.config.union_sha256 or 'unknown')[:16]}"
        if not (out / "adapter_model.safetensors").is_file():
            write_peft_adapter(self.bundle.union, self.bundle, out, {"what.txt": "θ_union: the residual generator's base\n"})
        return out

    @torch.inference_mode()
    def sentence_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), C) pooled sentence embeddings (the routers' similarity space)."""
        return self.encoder.encode(list(texts), convert_to_tensor=True, show_progress_bar=False).float().cpu()
