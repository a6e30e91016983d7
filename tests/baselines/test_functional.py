"""Meta-gradients of the bi-level baselines on a quadratic with a known answer: second order vs first order."""

from __future__ import annotations

import pytest
import torch

from degaml.baselines.functional import accumulate_outer_grads, sgd_inner_loop


@pytest.mark.parametrize("first_order,factor", [(False, lambda a: (1 - a) ** 2), (True, lambda a: 1 - a)])
def test_meta_gradient_of_one_inner_step(first_order, factor):
    alpha = 0.3
    theta = {"w": torch.tensor([2.0, -1.0], requires_grad=True)}
    adapted = sgd_inner_loop(lambda p: 0.5 * (p["w"] ** 2).sum(), theta, 1, alpha, create_graph=not first_order)
    torch.testing.assert_close(adapted["w"].detach(), (1 - alpha) * theta["w"].detach())
    loss = 0.5 * (adapted["w"] ** 2).sum()  # L_Q(θ') with θ' = (1-α)θ
    accumulate_outer_grads(loss, theta, adapted, first_order, scale=0.5)
    torch.testing.assert_close(theta["w"].grad, 0.5 * factor(alpha) * theta["w"].detach())


def test_first_order_keeps_direct_dependence_on_the_meta_parameters():
    prior = {"w": torch.tensor([1.0], requires_grad=True)}
    q = sgd_inner_loop(lambda p: (p["w"] ** 2).sum(), prior, 1, 0.1, create_graph=False)
    loss = (q["w"] ** 2).sum() + ((q["w"] - prior["w"]) ** 2).sum()  # NLL-like term + a KL-like term to the prior
    accumulate_outer_grads(loss, prior, q, True, 1.0)
    w_q, w_p = 0.8, 1.0
    expected = 2 * w_q + 2 * (w_q - w_p) - 2 * (w_q - w_p)  # through q (first order) + direct
    torch.testing.assert_close(prior["w"].grad, torch.tensor([expected]))
