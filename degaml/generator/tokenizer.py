"""Parameter tokenizer (paper App. E.2): a LoRA state dict ↔ a grid of uniform parameter tokens, exactly invertible.

1. Split by layer: every LoRA factor belongs to a transformer layer (`layers.<i>.`).
2. Layer-wise normalisation: each (layer, factor kind A/B) is standardised with a mean and std fitted over the
   checkpoint collection (`fit`), kept in the tokenizer so generated tokens can be mapped back.
3. Uniform tokens: a factor is viewed as rank × width (A as r × d_in, B transposed as r × d_out) and cut along
   its width into chunks of `chunk` columns; the last chunk of a factor is zero-padded, and `mask` marks real
   entries. Token grid: (T, r, chunk).
4. A 2D sinusoidal position embedding per token: half the channels encode the layer index, half the in-layer
   token index (base 10000), for the generator to add to its output.

`detokenize(tokenize(sd)) == sd` to float tolerance for any rank, target modules and widths (tested).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from degaml.io import write_json

_LAYER = re.compile(r"\.layers\.(\d+)\.")


@dataclass(frozen=True)
class Slot:
    """Where one LoRA factor lives in the token grid."""

    key: str  # state-dict key
    layer: int
    kind: str  # "A" (r × d_in) or "B" (d_out × r, stored transposed)
    width: int  # d_in for A, d_out for B
    first_token: int
    n_tokens: int
    layer_token: int  # index of the first token within its layer (for the position embedding)


def _factor_kind(key: str) -> str:
    if ".lora_A." in key:
        return "A"
    if ".lora_B." in key:
        return "B"
    raise ValueError(f"not a LoRA factor: {key}")


def _layer_of(key: str) -> int:
    match = _LAYER.search(key)
    if match is None:
        raise ValueError(f"LoRA key has no layer index (.layers.<i>.): {key}")
    return int(match.group(1))


class LoraTokenizer:
    """Maps LoRA state dicts with one fixed layout to token grids and back."""

    def __init__(self, slots: list[Slot], rank: int, chunk: int, stats: torch.Tensor | None = None) -> None:
        self.slots = slots
        self.rank = rank
        self.chunk = chunk
        self.n_layers = max(s.layer for s in slots) + 1
        # stats[layer, kind] = (mean, std); identity until fitted.  (n_layers, 2, 2)
        self.stats = stats if stats is not None else torch.tensor([[0.0, 1.0]]).repeat(self.n_layers, 2, 1)

    # ---- layout -------------------------------------------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor], chunk: int) -> LoraTokenizer:
        """Build the layout from one LoRA state dict (keys ordered by layer, then name)."""
        if chunk < 1:
            raise ValueError("chunk must be ≥ 1")
        keys = sorted(state_dict, key=lambda k: (_layer_of(k), k))
        ranks = {state_dict[k].shape[0] if _factor_kind(k) == "A" else state_dict[k].shape[1] for k in keys}
        if len(ranks) != 1:
            raise ValueError(f"all LoRA factors must share one rank, found {sorted(ranks)}")
        rank = ranks.pop()
        slots, first, per_layer = [], 0, {}
        for key in keys:
            kind, layer = _factor_kind(key), _layer_of(key)
            tensor = state_dict[key]
            width = tensor.shape[1] if kind == "A" else tensor.shape[0]
            n_tokens = math.ceil(width / chunk)
            slots.append(Slot(key, layer, kind, width, first, n_tokens, per_layer.get(layer, 0)))
            first += n_tokens
            per_layer[layer] = per_layer.get(layer, 0) + n_tokens
        return cls(slots, rank, chunk)

    @property
    def n_tokens(self) -> int:
        return self.slots[-1].first_token + self.slots[-1].n_tokens

    @property
    def token_shape(self) -> tuple[int, int]:
        return self.rank, self.chunk

    def _check(self, state_dict: dict[str, torch.Tensor]) -> None:
        missing = {s.key for s in self.slots} - set(state_dict)
        extra = set(state_dict) - {s.key for s in self.slots}
        if missing or extra:
            raise ValueError(f"state dict does not match the tokenizer layout (missing {sorted(missing)[:2]}, extra {sorted(extra)[:2]})")

    def _rows(self, state_dict: dict[str, torch.Tensor], slot: Slot) -> torch.Tensor:
        tensor = state_dict[slot.key].float()
        return tensor if slot.kind == "A" else tensor.T  # (r, width)

    # ---- normalisation ------------------------------------------------------------------------------------------
    def fit(self, state_dicts: Iterable[dict[str, torch.Tensor]], centre: bool = True) -> LoraTokenizer:
        """Fit per-(layer, factor kind) mean/std over a checkpoint collection (iterated once: may be streamed).
        `centre=False` keeps the mean at 0 and uses the root mean square as scale, so the zero token is exactly the
        zero parameter (residual generators: a zero output is a zero Δ, i.e. θ_union bit for bit)."""
        sums = torch.zeros(self.n_layers, 2, 3, dtype=torch.float64)  # count, sum, sum of squares
        for sd in state_dicts:
            self._check(sd)
            for slot in self.slots:
                values = self._rows(sd, slot).double()
                k = 0 if slot.kind == "A" else 1
                sums[slot.layer, k] += torch.stack([torch.tensor(values.numel(), dtype=torch.float64), values.sum(), (values**2).sum()])
        count = sums[..., 0].clamp(min=1)
        mean = sums[..., 1] / count if centre else torch.zeros_like(count)
        std = (sums[..., 2] / count - mean**2).clamp(min=0).sqrt()
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        self.stats = torch.stack([mean, std], dim=-1).float()
        return self

    # ---- tokens -------------------------------------------------------------------------------------------------
    def tokenize(self, state_dict: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (T, r, chunk) float32, mask (T, r, chunk) bool — False on padding)."""
        self._check(state_dict)
        tokens = torch.zeros(self.n_tokens, self.rank, self.chunk)
        mask = torch.zeros(self.n_tokens, self.rank, self.chunk, dtype=torch.bool)
        for slot in self.slots:
            mean, std = self.stats[slot.layer, 0 if slot.kind == "A" else 1]
            rows = (self._rows(state_dict, slot) - mean) / std  # (r, width)
            padded = torch.zeros(self.rank, slot.n_tokens * self.chunk)
            padded[:, : slot.width] = rows
            tokens[slot.first_token : slot.first_token + slot.n_tokens] = padded.view(self.rank, slot.n_tokens, self.chunk).transpose(0, 1)
            real = torch.zeros(self.rank, slot.n_tokens * self.chunk, dtype=torch.bool)
            real[:, : slot.width] = True
            mask[slot.first_token : slot.first_token + slot.n_tokens] = real.view(self.rank, slot.n_tokens, self.chunk).transpose(0, 1)
        return tokens, mask

    def detokenize(self, tokens: torch.Tensor, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The LoRA state dict a token grid (T, r, chunk) stands for (padding ignored)."""
        if tuple(tokens.shape) != (self.n_tokens, self.rank, self.chunk):
            raise ValueError(f"expected tokens of shape {(self.n_tokens, self.rank, self.chunk)}, got {tuple(tokens.shape)}")
        out = {}
        for slot in self.slots:
            mean, std = self.stats[slot.layer, 0 if slot.kind == "A" else 1]
            block = tokens[slot.first_token : slot.first_token + slot.n_tokens].float()  # (n, r, chunk)
            rows = block.transpose(0, 1).reshape(self.rank, -1)[:, : slot.width] * std + mean  # (r, width)
            out[slot.key] = (rows if slot.kind == "A" else rows.T).contiguous().to(dtype)
        return out

    def position_embedding(self, dim: int) -> torch.Tensor:
        """2D sinusoidal embedding (T, dim): first half encodes the layer index, second half the in-layer index."""
        if dim % 4:
            raise ValueError("position embedding dim must be a multiple of 4")
        layer_idx, in_layer = [], []
        for slot in self.slots:
            layer_idx += [slot.layer] * slot.n_tokens
            in_layer += range(slot.layer_token, slot.layer_token + slot.n_tokens)
        return torch.cat([_sinusoid(torch.tensor(layer_idx), dim // 2), _sinusoid(torch.tensor(in_layer), dim // 2)], -1)

    # ---- persistence --------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"rank": self.rank, "chunk": self.chunk, "slots": [asdict(s) for s in self.slots]}
        write_json(directory / "tokenizer.json", meta, indent=None)
        save_file({"stats": self.stats.contiguous()}, str(directory / "tokenizer_stats.safetensors"))

    @classmethod
    def load(cls, directory: Path) -> LoraTokenizer:
        meta = json.loads((directory / "tokenizer.json").read_text())
        stats = load_file(str(directory / "tokenizer_stats.safetensors"))["stats"]
        return cls([Slot(**s) for s in meta["slots"]], meta["rank"], meta["chunk"], stats)


def _sinusoid(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """(n,) integer positions → (n, dim) [sin | cos] features."""
    freqs = base ** (-torch.arange(0, dim // 2, dtype=torch.float32) / (dim // 2))
    angles = positions.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], -1)
