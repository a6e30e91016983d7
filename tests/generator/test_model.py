"""Hyper-convolutional generator: shapes through the stack, gradients, prompt dependence, residuals."""

from __future__ import annotations

import pytest
import torch

from degaml.generator.model import HyperConvBlock, HyperConvGenerator

DIMS = [(6, 12, 16), (8, 8, 12), (8, 8, 12), (10, 4, 8)]


def make(dims=DIMS, kernel=3):
    torch.manual_seed(0)
    return HyperConvGenerator(dims, kernel, torch.randn(dims[-1][0], 8))


def test_output_shape_and_gradients_reach_every_parameter():
    gen = make()
    out = gen(torch.randn(2, 6, 12, 16))
    assert out.shape == (2, 10, 4, 8)
    out.pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())


def test_different_prompt_batches_give_different_tokens():
    gen = make().eval()
    a, b = gen(torch.randn(1, 6, 12, 16)), gen(torch.randn(1, 6, 12, 16))
    assert not torch.allclose(a, b)


def test_batch_items_are_independent():
    gen = make().eval()
    x = torch.randn(3, 6, 12, 16)
    torch.testing.assert_close(gen(x)[1], gen(x[1:2])[0], rtol=1e-4, atol=1e-5)


def test_block_residual_only_when_shapes_match():
    assert HyperConvBlock((8, 8, 12), (8, 8, 12), 3, last=False).residual
    assert not HyperConvBlock((6, 12, 16), (8, 8, 12), 3, last=False).residual


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match="expected task embedding"):
        make()(torch.randn(1, 5, 12, 16))
    with pytest.raises(ValueError, match="position embedding"):
        HyperConvGenerator(DIMS, 3, torch.randn(3, 8))
