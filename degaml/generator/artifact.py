"""A trained generator on disk: weights (safetensors), config + provenance (JSON), parameter tokenizer.

Layout of a generator directory:
    generator.json               shapes, LoRA config the tokens stand for, encoder, base model, training metrics
    generator.safetensors        HyperConvGenerator weights
    tokenizer.json, tokenizer_stats.safetensors   the LoraTokenizer (layout + normalisation statistics)
    union.safetensors            residual mode only: θ_union (PEFT saved keys); its sha256 is in generator.json
    manifest.json                optional; its `sha256` entries are checked on load

`mode` (absent in older generator.json files: direct) says what the generator outputs: the LoRA itself (`direct`),
or Δ with the adapter θ_union + Δ (`residual`, degaml.generator.residual); a residual generator carries θ_union, so
loading and `degaml adapt` work unchanged.

Loading validates every file before anything uses it: a missing, truncated or garbled file, one whose hash
differs from the manifest, or one holding NaN/inf or implausibly large values (a diverged training run), is a
`ModelLoadError` naming that file (one line, exit 2), never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from degaml.errors import ModelLoadError
from degaml.generator.model import HyperConvGenerator
from degaml.generator.tokenizer import LoraTokenizer, Slot
from degaml.io import atomic_path, file_sha256, verify_manifest, write_json
from degaml.models.adapters import require_finite


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
    mode: str = "direct"  # direct | residual
    union_sha256: str | None = None  # residual: sha256 of union.safetensors (θ_union)
    union_artifact: str | None = None  # residual: θ_union's artifact directory name (…/baselines/<name>)


UNION_FILE = "union.safetensors"


@dataclass
class GeneratorBundle:
    config: GeneratorConfig
    tokenizer: LoraTokenizer
    model: HyperConvGenerator
    union: dict[str, torch.Tensor] | None = None  # residual mode: θ_union (PEFT saved keys)

    @classmethod
    def create(cls, config: GeneratorConfig, tokenizer: LoraTokenizer) -> GeneratorBundle:
        model = HyperConvGenerator(config.dims, config.kernel, tokenizer.position_embedding(config.position_dim))
        return cls(config, tokenizer, model)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.config.mode == "residual":
            if self.union is None:
                raise ValueError("a residual generator needs its θ_union (bundle.union)")
            with atomic_path(directory / UNION_FILE) as tmp:
                save_file({k: v.detach().float().contiguous() for k, v in self.union.items()}, str(tmp))
            self.config.union_sha256 = file_sha256(directory / UNION_FILE)
        self.tokenizer.save(directory)
        state = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / "generator.safetensors"))
        write_json(directory / "generator.json", asdict(self.config), indent=2)

    @classmethod
    def load(cls, directory: Path) -> GeneratorBundle:
        """Load and validate a generator directory (manifest hashes, every file, tensor shapes)."""
        directory = Path(directory)
        if not (directory / "generator.json").is_file():
            raise ModelLoadError(f"generator: '{directory}' has no generator.json (not a degaml generator directory)")
        verify_manifest(directory, "generator")
        config = read_generator_config(directory)
        tokenizer = _load_tokenizer(directory)
        weights_file = directory / "generator.safetensors"
        weights = _read_safetensors(weights_file)
        require_finite(weights, f"generator: {weights_file}")
        try:
            bundle = cls.create(config, tokenizer)
            bundle.model.load_state_dict(weights)
        except (RuntimeError, ValueError, KeyError, IndexError) as exc:
            raise ModelLoadError(f"generator: {weights_file} does not fit {directory / 'generator.json'} "
                                 f"({str(exc).strip().splitlines()[0][:120]})") from None
        bundle.model.eval()
        if config.mode == "residual":
            bundle.union = _load_union(directory, config)
        elif config.mode != "direct":
            raise ModelLoadError(f"generator: {directory / 'generator.json'} has unknown mode {config.mode!r} (direct | residual)")
        return bundle


def _corrupt(path: Path, exc: BaseException) -> ModelLoadError:
    detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(f"generator: {path} is corrupt or unreadable ({detail})")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"generator: {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, exc) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelLoadError(f"generator: {path} is missing")
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - SafetensorError / OSError on a truncated or garbled file → one line
        raise _corrupt(path, exc) from None


def _load_union(directory: Path, config: GeneratorConfig) -> dict[str, torch.Tensor]:
    """θ_union of a residual generator, checked against the sha256 its generator.json records."""
    path = directory / UNION_FILE
    if not path.is_file():
        raise ModelLoadError(f"generator: {path} is missing (a residual generator carries its θ_union)")
    if config.union_sha256 != file_sha256(path):
        raise ModelLoadError(f"generator: {path} does not match the sha256 in {directory / 'generator.json'}")
    union = _read_safetensors(path)
    require_finite(union, f"generator: {path}")
    return union


def read_generator_config(directory: Path) -> GeneratorConfig:
    """The validated `generator.json` of a generator directory (cheap: no weights are read)."""
    path = Path(directory) / "generator.json"
    raw = _read_json(path)
    try:
        raw["dims"] = [tuple(int(x) for x in d) for d in raw["dims"]]
        config = GeneratorConfig(**raw)
        if not config.dims or any(len(d) != 3 for d in config.dims) or not isinstance(config.base_model, str):
            raise ValueError("dims must be (N, L, C) triples and base_model a string")
    except (TypeError, KeyError, ValueError) as exc:
        raise _corrupt(path, exc) from None
    return config


def _load_tokenizer(directory: Path) -> LoraTokenizer:
    meta_path, stats_path = directory / "tokenizer.json", directory / "tokenizer_stats.safetensors"
    meta = _read_json(meta_path)
    stats = _read_safetensors(stats_path)
    require_finite(stats, f"generator: {stats_path}")
    try:
        slots = [Slot(**s) for s in meta["slots"]]
        tokenizer = LoraTokenizer(slots, int(meta["rank"]), int(meta["chunk"]), stats["stats"])
    except (TypeError, KeyError, ValueError) as exc:
        raise _corrupt(meta_path, exc) from None
    if tuple(tokenizer.stats.shape) != (tokenizer.n_layers, 2, 2):
        raise ModelLoadError(f"generator: {stats_path} has stats of shape {tuple(tokenizer.stats.shape)}, "
                             f"expected {(tokenizer.n_layers, 2, 2)} for {meta_path}")
    return tokenizer


def same_model(a: str, b: str) -> bool:
    """Whether two model names denote the same base model (equal names, or the same local path)."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def check_base_model(directory: Path, model: str) -> GeneratorConfig:
    """Fail (one line) when the generator in `directory` was trained for another base model than `model`."""
    config = read_generator_config(directory)
    if not same_model(config.base_model, model):
        raise ModelLoadError(
            f"generator: '{directory}' was trained for base model '{config.base_model}', but the spec's model is "
            f"'{model}'; its adapters would not fit — use a generator trained for '{model}' or set model: {config.base_model}"
        )
    return config
