"""Hyper-convolutional decoder (paper App. E.3, eq. 9): task embedding (N, L, C) → parameter tokens (T, r, chunk).

The input is the sentence encoder's token embeddings of a batch of N unlabeled prompts, viewed as a 2D map with
N channels, height L (tokens) and width C (features). Each block changes (channels, height, width):

    c_W = Conv_H¹(Conv_W¹(x))          Conv_W: depthwise conv along the width, then a linear resize of the width
    c_H = Conv_W²(Conv_H²(x))          Conv_H: depthwise conv along the height, then a linear resize of the height
    y   = Conv_L((c_W + tanh(c_H) + b) / 3)   Conv_L: 1×1 conv over channels (the prompt / token axis)

with a LayerNorm over the width before, GELU between blocks and a residual when shapes match. The last block
outputs channels = number of parameter tokens T, height = LoRA rank r, width = chunk. A learned projection of the
tokenizer's 2D sinusoidal position embedding is added per token.
"""

from __future__ import annotations

import torch
from torch import nn


class AxisConv(nn.Module):
    """Depthwise conv along one spatial axis, then a linear resize of that axis: (B, c, h, w) → resized."""

    def __init__(self, channels: int, n_in: int, n_out: int, axis: str, kernel: int) -> None:
        super().__init__()
        self.axis = axis
        shape = (1, kernel) if axis == "w" else (kernel, 1)
        pad = (0, kernel // 2) if axis == "w" else (kernel // 2, 0)
        self.conv = nn.Conv2d(channels, channels, shape, padding=pad, groups=channels)
        self.resize = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.axis == "w":
            return self.resize(x)  # (B, c, h, w_out)
        return self.resize(x.transpose(-1, -2)).transpose(-1, -2)  # (B, c, h_out, w)


class HyperConvBlock(nn.Module):
    """One decoder layer of eq. 9: (B, c_in, h_in, w_in) → (B, c_out, h_out, w_out)."""

    def __init__(self, dims_in: tuple[int, int, int], dims_out: tuple[int, int, int], kernel: int, last: bool) -> None:
        super().__init__()
        (c_in, h_in, w_in), (c_out, h_out, w_out) = dims_in, dims_out
        self.norm = nn.LayerNorm(w_in)
        self.w1 = AxisConv(c_in, w_in, w_out, "w", kernel)
        self.h1 = AxisConv(c_in, h_in, h_out, "h", kernel)
        self.h2 = AxisConv(c_in, h_in, h_out, "h", kernel)
        self.w2 = AxisConv(c_in, w_in, w_out, "w", kernel)
        self.bias = nn.Parameter(torch.zeros(c_in, h_out, w_out))
        self.conv_l = nn.Conv2d(c_in, c_out, 1)
        self.act = nn.Identity() if last else nn.GELU()
        self.residual = dims_in == dims_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.norm(x)
        c_w = self.h1(self.w1(z))
        c_h = self.w2(self.h2(z))
        y = self.conv_l((c_w + torch.tanh(c_h) + self.bias) / 3)
        y = self.act(y)
        return x + y if self.residual else y


class HyperConvGenerator(nn.Module):
    """Stack of HyperConvBlocks following `dims` = [(N, L, C), ..., (T, r, chunk)]."""

    def __init__(self, dims: list[tuple[int, int, int]], kernel: int, position_embedding: torch.Tensor) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError("dims needs at least input and output shapes")
        n_tokens, rank, chunk = dims[-1]
        if position_embedding.shape[0] != n_tokens:
            raise ValueError(f"position embedding has {position_embedding.shape[0]} rows for {n_tokens} tokens")
        self.dims = [tuple(d) for d in dims]
        self.blocks = nn.ModuleList(
            HyperConvBlock(dims[i], dims[i + 1], kernel, last=i == len(dims) - 2) for i in range(len(dims) - 1)
        )
        self.register_buffer("position_embedding", position_embedding.float(), persistent=False)  # (T, P)
        self.position_proj = nn.Linear(position_embedding.shape[1], rank * chunk)

    def reset_variance_preserving(self) -> None:
        """Re-initialise every conv and linear weight as N(0, 1/fan_in), biases 0 (LeCun normal).

        With PyTorch's default init (variance 1/(3·fan_in)) each of a block's four axis maps and its 1×1 conv
        divides the input-dependent variance by ~3, so the last block's output moves with the prompts ~1e-4 as
        much as the targets do at the start. Variance-preserving weights start it at the targets' scale; on the broad
        set training still collapsed to the mean checkpoint (docs/findings/generator.md, "Why no prompt-conditioned
        generator…")."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                nn.init.normal_(module.weight, std=fan_in**-0.5)
                nn.init.zeros_(module.bias)

    def forward(self, task_embedding: torch.Tensor) -> torch.Tensor:
        """(B, N, L, C) prompt-token embeddings → (B, T, r, chunk) normalised parameter tokens."""
        if tuple(task_embedding.shape[1:]) != self.dims[0]:
            raise ValueError(f"expected task embedding (B, {self.dims[0]}), got {tuple(task_embedding.shape)}")
        x = task_embedding
        for block in self.blocks:
            x = block(x)
        n_tokens, rank, chunk = self.dims[-1]
        return x + self.position_proj(self.position_embedding).view(1, n_tokens, rank, chunk)
