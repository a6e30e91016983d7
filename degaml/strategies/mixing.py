"""Two-subspace LoRA mixing (paper App. F.1, after MoSLoRA, Wu et al. 2024): rotate θ₀'s two rank subspaces.

Every LoRA pair of θ₀ has ΔW = B·A with A (r × d_in) and B (d_out × r). Split the rank into two halves of
h = ⌊r/2⌋ components, A = [A1; A2] (rows), B = [B1, B2] (columns), so ΔW = B1·A1 + B2·A2. Like MoSLoRA's
mixer ΔW = B·W_mix·A, we insert a fixed r × r mixer M(λ) and fold it into A (A' = M(λ)·A, B unchanged), so
the result is still a standard rank-r PEFT LoRA adapter (same config, same scaling α/r):

    θ = (1 − λ)·π/2,   M(λ) = [[cos θ·I_h, −sin θ·I_h],
                               [sin θ·I_h,  cos θ·I_h]]      (I_1 appended for an odd r: that component is kept)

    A' = [cos θ·A1 − sin θ·A2 ;  sin θ·A1 + cos θ·A2]

    ΔW'(λ) = B·M(λ)·A = cos θ·(B1·A1 + B2·A2) + sin θ·(B2·A1 − B1·A2)
           = cos θ·ΔW + sin θ·(B2·A1 − B1·A2)

λ = 1 gives θ = 0, M = I and the adapter unchanged (bit for bit: the tensors are copied as they are);
λ = 0 swaps the subspaces' pairing (ΔW' = B2·A1 − B1·A2); λ in between interpolates the direction of each
rank component inside the span of its pair while keeping its magnitude (M is orthogonal: ‖A'‖_F = ‖A‖_F).
Because M(λ) is invertible for every λ, rank(ΔW') = rank(ΔW) whenever A and B have full rank r.

Upstream instead computes M = λ·A1 + (1 − λ)·A2 and A' = [M; M], i.e. ΔW' = (B1 + B2)·(λ·A1 + (1 − λ)·A2):
that is a rank-h matrix (rank halved, the "still faulty" version), and even λ = 1 does not return θ₀.
`upstream_mix_state_dict` reproduces it for comparison in the tests only.

The math needs no model: it runs on the adapter's safetensors state dict; the mixed adapter is written to a new
PEFT directory under `ctx.work_dir` (adapter_config.json copied) and scored with the evaluator.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, field_validator
from safetensors.torch import load_file, save_file

from degaml.io import atomic_directory
from degaml.strategies.base import Outcome, ParamsBase, ScoredSplit, StrategyContext, Timer, adapter_outcome

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"



class MixingParams(ParamsBase):
    """Two-subspace LoRA mixing: rotate the two halves of every LoRA's rank into each other by an angle set by λ."""


    family: Literal["lora_mix"] = Field("lora_mix", description="Strategy family: two-subspace LoRA mixing.")
    lam: Literal[0.0, 0.25, 0.5, 0.75, 1.0] = Field(
        alias="lambda",
        description=("Mixing ratio: 1.0 keeps the generated adapter unchanged, 0.0 fully swaps the pairing of its "
                     "two rank subspaces, values in between rotate them partially (rank is always preserved)."),
    )

    @field_validator("lam", mode="before")
    @classmethod
    def _no_bools(cls, value: object) -> object:
        if isinstance(value, bool):  # True == 1.0 would otherwise slip through
            raise ValueError("a number is required, not a boolean")
        return value


def mixer(rank: int, lam: float) -> torch.Tensor:
    """M(λ): the (rank, rank) orthogonal mixer of the module docstring (float64)."""
    theta = (1.0 - lam) * math.pi / 2
    h = rank // 2
    m = torch.eye(rank, dtype=torch.float64)
    if h == 0:
        return m
    eye = torch.eye(h, dtype=torch.float64)
    m[:h, :h] = math.cos(theta) * eye
    m[:h, h : 2 * h] = -math.sin(theta) * eye
    m[h : 2 * h, :h] = math.sin(theta) * eye
    m[h : 2 * h, h : 2 * h] = math.cos(theta) * eye
    return m


def _lora_pairs(state_dict: dict[str, torch.Tensor]) -> list[tuple[str, str]]:
    """(lora_A key, lora_B key) for every LoRA layer; a lone A or B is an error."""
    a_keys = sorted(k for k in state_dict if ".lora_A." in k)
    b_keys = {k for k in state_dict if ".lora_B." in k}
    pairs = []
    for a in a_keys:
        b = a.replace(".lora_A.", ".lora_B.")
        if b not in b_keys:
            raise ValueError(f"LoRA key '{a}' has no matching '{b}'")
        b_keys.discard(b)
        if state_dict[a].shape[0] != state_dict[b].shape[1]:
            raise ValueError(f"rank mismatch between '{a}' {tuple(state_dict[a].shape)} and '{b}' {tuple(state_dict[b].shape)}")
        pairs.append((a, b))
    if b_keys:
        raise ValueError(f"LoRA key '{sorted(b_keys)[0]}' has no matching lora_A")
    if not pairs:
        raise ValueError("state dict has no LoRA (lora_A/lora_B) weights")
    return pairs


def _map_a(state_dict: dict[str, torch.Tensor], fn: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in state_dict.items()}
    for a_key, _ in _lora_pairs(state_dict):
        a = state_dict[a_key]
        flat = a.reshape(a.shape[0], -1).to(torch.float64)  # (r, d_in) — conv LoRA A (r, c, k, k) is flattened
        out[a_key] = fn(flat).reshape(a.shape).to(a.dtype).contiguous()
    return out


def mix_state_dict(state_dict: dict[str, torch.Tensor], lam: float) -> dict[str, torch.Tensor]:
    """Two-subspace mixing of a PEFT LoRA state dict: every lora_A becomes M(λ)·A; everything else is copied."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    if lam == 1.0:
        _lora_pairs(state_dict)  # still validate the structure
        return {k: v.clone() for k, v in state_dict.items()}  # M = I: bit-for-bit unchanged
    return _map_a(state_dict, lambda a: mixer(a.shape[0], lam) @ a)  # (r, r) @ (r, d_in)


def upstream_mix_state_dict(state_dict: dict[str, torch.Tensor], lam: float) -> dict[str, torch.Tensor]:
    """Upstream's rank-halving form A' = [M; M], M = λ·A1 + (1 − λ)·A2 (for comparison only; needs an even r)."""

    def fn(a: torch.Tensor) -> torch.Tensor:
        if a.shape[0] % 2:
            raise ValueError(f"upstream mixing needs an even rank, got {a.shape[0]}")
        h = a.shape[0] // 2
        m = lam * a[:h] + (1 - lam) * a[h:]  # (h, d_in)
        return torch.cat([m, m], dim=0)  # (r, d_in)

    return _map_a(state_dict, fn)


def mix_adapter(adapter_dir: Path, lam: float, out_dir: Path) -> Path:
    """Write the mixed copy of the PEFT adapter in `adapter_dir` to `out_dir` (atomically); returns `out_dir`."""
    state = load_file(str(Path(adapter_dir) / ADAPTER_WEIGHTS))
    mixed = mix_state_dict(state, lam)
    with atomic_directory(Path(out_dir)) as tmp:
        shutil.copy2(Path(adapter_dir) / ADAPTER_CONFIG, tmp / ADAPTER_CONFIG)
        save_file({k: v.contiguous() for k, v in mixed.items()}, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    return Path(out_dir)


def run_mixing(params: MixingParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Mix θ₀'s two rank subspaces with λ, write the adapter under `ctx.work_dir`, score it on `split`."""
    timer = Timer()
    theta0 = ctx.initial_adapter()
    ctx.report("lora_mix: mixing", 0.0)
    state = load_file(str(theta0 / ADAPTER_WEIGHTS))
    pairs = _lora_pairs(state)
    ranks = sorted({state[a].shape[0] for a, _ in pairs})
    log = [f"mixing {len(pairs)} LoRA pairs of rank {'/'.join(map(str, ranks))} with lambda {params.lam}"]
    if any(r < 2 for r in ranks):
        log.append("rank-1 LoRA pairs have a single subspace and are left unchanged")
    if any(r % 2 for r in ranks):
        log.append("odd rank: the last rank component of each pair is left unmixed")
    out_dir = ctx.work_dir / f"lora_mix-{split}-{theta0.name}-lam{params.lam:g}"
    mix_adapter(theta0, params.lam, out_dir)
    return adapter_outcome("lora_mix", params.model_dump(by_alias=True), ctx, split, out_dir, log, lambda: timer.seconds,
                           fraction=0.2)
