"""A trained generator on disk: weights (safetensors), config + provenance (JSON), parameter tokenizer.

Layout of a generator directory:
    generator.json               shapes, LoRA config the tokens stand for, encoder, base model, training metrics
    generator.safetensors        HyperConvGenerator weights
    tokenizer.json, tokenizer_stats.safetensors   the LoraTokenizer (layout + normalisation statistics)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from degaml.errors import ModelLoadError
from degaml.generator.model import HyperConvGenerator
from degaml.generator.tokenizer import LoraTokenizer


@dataclass
class GeneratorConfig:
    dims: list[tuple[int, int, int]]  # (N, L, C) → ... → (T, r, chunk)
    kernel: int
    position_dim: int
    lora_rank: int
    lora_alpha: int
    target_modules: list[str]
    encoder: str
    base_model: str
    meta: dict[str, Any] = field(default_factory=dict)  # provenance and metrics


@dataclass
class GeneratorBundle:
    config: GeneratorConfig
    tokenizer: LoraTokenizer
    model: HyperConvGenerator

    @classmethod
    def create(cls, config: GeneratorConfig, tokenizer: LoraTokenizer) -> GeneratorBundle:
        model = HyperConvGenerator(config.dims, config.kernel, tokenizer.position_embedding(config.position_dim))
        return cls(config, tokenizer, model)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(directory)
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / "generator.safetensors"))
        (directory / "generator.json").write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, directory: Path) -> GeneratorBundle:
        directory = Path(directory)
        if not (directory / "generator.json").is_file():
            raise ModelLoadError(f"generator: '{directory}' has no generator.json (not a degaml generator directory)")
        raw = json.loads((directory / "generator.json").read_text())
        raw["dims"] = [tuple(d) for d in raw["dims"]]
        bundle = cls.create(GeneratorConfig(**raw), LoraTokenizer.load(directory))
        bundle.model.load_state_dict(load_file(str(directory / "generator.safetensors")))
        bundle.model.eval()
        return bundle
