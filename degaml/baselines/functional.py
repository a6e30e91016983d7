"""Functional LoRA losses for the bi-level baselines (MAML, ABMLL): the PEFT model is called with LoRA tensors
passed in (`torch.func.functional_call`), so inner-loop updates stay differentiable w.r.t. the meta-parameters.
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from degaml.generator.collect import build_batch
from degaml.models.heads import answer_nll
from degaml.models.llm import LoadedModel

Params = dict[str, torch.Tensor]  # LoRA parameter name → tensor (may carry a graph)


def pairs_loss(model: torch.nn.Module, loaded: LoadedModel, params: Params, pairs: list[tuple[str, str]], max_length: int) -> torch.Tensor:
    """Mean answer-token NLL of `pairs` under the model with LoRA tensors `params` (a scalar with a graph)."""
    batch = build_batch(loaded.tokenizer, pairs, max_length)  # (B, T) ids / mask / labels
    kwargs = {
        "input_ids": batch.input_ids.to(loaded.device),
        "attention_mask": batch.attention_mask.to(loaded.device),
        "labels": batch.labels.to(loaded.device),
    }
    wrapped = _AnswerNLL(model)  # its parameters are the model's, under the prefix "model."
    return functional_call(wrapped, {f"model.{name}": t for name, t in params.items()}, args=(), kwargs=kwargs, strict=False)


class _AnswerNLL(torch.nn.Module):
    """`answer_nll` of a model as a module's forward, so `functional_call` can substitute the model's tensors."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return answer_nll(self.model, input_ids, attention_mask, labels)


def second_order_attention(enabled: bool):
    """Attention kernels with a double backward: fused SDPA kernels (flash/CPU) have none, the math one does."""
    from contextlib import nullcontext

    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH]) if enabled else nullcontext()


def sgd_inner_loop(loss_fn, params: Params, steps: int, lr: float, create_graph: bool) -> Params:
    """`steps` plain gradient steps θ ← θ − lr ∇L(θ); with create_graph the result stays differentiable."""
    current = dict(params)
    names = list(current)
    for _ in range(steps):
        loss = loss_fn(current)
        grads = torch.autograd.grad(loss, [current[n] for n in names], create_graph=create_graph)
        current = {n: current[n] - lr * g for n, g in zip(names, grads)}
        if not create_graph:
            current = {n: v.detach().requires_grad_(True) for n, v in current.items()}
    return current


def accumulate_outer_grads(loss: torch.Tensor, meta: Params, adapted: Params, first_order: bool, scale: float) -> None:
    """Add ∂loss/∂meta × scale into meta[*].grad. First order: gradients at the adapted tensors stand in for
    the meta-gradients (FOMAML), plus any direct dependence of `loss` on `meta` (e.g. ABMLL's KL to the prior)."""
    names = list(meta)
    direct = torch.autograd.grad(loss, [meta[n] for n in names], retain_graph=first_order, allow_unused=True)
    through = [None] * len(names)
    if first_order:
        keys = [n for n in adapted if adapted[n].requires_grad and adapted[n].is_leaf]
        got = dict(zip(keys, torch.autograd.grad(loss, [adapted[k] for k in keys], allow_unused=True)))
        through = [got.get(n) for n in names]
    for n, d, t in zip(names, direct, through):
        total = sum(g for g in (d, t) if g is not None)
        if isinstance(total, torch.Tensor):
            meta[n].grad = total * scale if meta[n].grad is None else meta[n].grad + total * scale
