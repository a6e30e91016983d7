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


def input_dependent_variance(gen: HyperConvGenerator, dims) -> float:
    """Mean over output units of the variance across inputs (how much the output moves with the prompts)."""
    with torch.no_grad():
        out = gen(torch.randn(32, *dims[0], generator=torch.Generator().manual_seed(1)))
    return float(out.var(0).mean())


def test_variance_preserving_init_keeps_the_output_moving_with_the_input():
    dims = [(6, 12, 48), (16, 8, 32), (32, 8, 24), (64, 4, 16), (10, 4, 8)]
    default = make(dims)
    preserving = make(dims)
    preserving.reset_variance_preserving()
    assert all(float(m.bias.abs().max()) == 0 for m in preserving.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    # PyTorch's default init shrinks the input-dependent part ~3× per axis map; N(0, 1/fan_in) keeps its scale
    assert input_dependent_variance(preserving, dims) > 0.05
    assert input_dependent_variance(preserving, dims) > 20 * input_dependent_variance(default, dims)


def test_generator_recipe_names_a_bad_init():
    from pydantic import ValidationError

    from degaml.specs.meta import PROFILES, GeneratorRecipe

    with pytest.raises(ValidationError) as info:
        GeneratorRecipe(**PROFILES["cpu"]["generator"], init="xavier")
    assert "init" in str(info.value)
