"""ABMLL: amortized Bayesian meta-learning for LoRA (Zhang, Snell & Griffiths 2025; no public code), following
ABML (Ravi & Beatson 2019).

What is implemented: a global diagonal Gaussian prior p(φ) = N(μ, σ²) over the LoRA tensors (μ starts at the
seeded PEFT initialisation, log σ at `init_log_sigma`). For a task, the posterior q_i = N(m_i, s_i²) starts at
(μ, σ) and takes `inner_steps` SGD steps on L_S = NLL(S; φ ~ q_i) + β·KL(q_i‖p)/|S| (one reparameterised sample
per step). Outer loss on the query batch: NLL(Q; φ ~ q_i) + β·KL(q_i‖p)/|Q| + `hyper_weight`·(½‖μ‖² + ½‖log σ −
init_log_sigma‖²) averaged per parameter (a Gaussian hyper-prior on the global parameters, our choice). Meta-test:
the same inner loop on the target's labelled support, then the prediction averages per-choice log-probs over
`eval_samples` posterior samples (generative formats: the posterior mean, one adapter).
Simplification: the prior's mean and scale are full diagonal tensors, not themselves low-rank.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from degaml.baselines.artifacts import (artifact_dir, base_manifest, is_complete, load_meta, load_state, meta_tasks,
                                        resumable_meta_training, sample_episode, target_exclusion)
from degaml.baselines.config import BaselineConfig
from degaml.baselines.functional import second_order_attention, Params, accumulate_outer_grads, pairs_loss, sgd_inner_loop
from degaml.baselines.lora import save_adapter, set_lora, trainable_lora
from degaml.baselines.method import Fitted, RunContext
from degaml.generator.collect import training_pairs
from degaml.protocol import ProtocolTask

SEEDED = True
USES_GENERATOR = False


class AbmllConfig(BaselineConfig):
    PROFILES = {
        "cpu": {"meta_steps": 60, "meta_batch": 2, "inner_steps": 2, "inner_lr": 1e-2, "outer_lr": 1e-3,
                "support_size": 4, "query_size": 4, "first_order": True, "test_inner_steps": 5, "beta": 1e-3,
                "init_log_sigma": -6.0, "eval_samples": 3, "max_length": 256},
        "paper": {"meta_steps": 500, "meta_batch": 4, "inner_steps": 5, "inner_lr": 1e-3, "outer_lr": 1e-4,
                  "support_size": 8, "query_size": 8, "first_order": False, "test_inner_steps": 5, "beta": 1e-3,
                  "init_log_sigma": -6.0, "eval_samples": 5, "max_length": 512},
        "tiny": {"meta_steps": 2, "meta_batch": 2, "inner_steps": 1, "inner_lr": 1e-2, "outer_lr": 1e-2,
                 "support_size": 2, "query_size": 2, "first_order": False, "test_inner_steps": 1, "beta": 1e-3,
                 "init_log_sigma": -6.0, "eval_samples": 2, "max_length": 32},
    }
    meta: str = Field("specs/meta/in_domain.yaml", description="meta spec whose tasks (minus the target) meta-train the prior")
    meta_steps: int = Field(ge=1, le=1_000_000)
    meta_batch: int = Field(ge=1, le=256)
    inner_steps: int = Field(ge=1, le=100)
    inner_lr: float = Field(gt=0, le=10.0)
    outer_lr: float = Field(gt=0, le=1.0)
    support_size: int = Field(ge=1, le=4096)
    query_size: int = Field(ge=1, le=4096)
    first_order: bool
    test_inner_steps: int = Field(ge=0, le=1000)
    beta: float = Field(ge=0, description="weight of KL(q‖p)")
    init_log_sigma: float = Field(ge=-20, le=2)
    hyper_weight: float = Field(1e-4, ge=0)
    eval_samples: int = Field(ge=1, le=64, description="posterior samples averaged at prediction")
    max_length: int = Field(ge=8, le=131072)
    max_samples: int = Field(2000, ge=2)
    save_every: int = Field(10, ge=1)

    def training_key(self) -> str:
        return self.model_dump_json(exclude={"test_inner_steps", "eval_samples", "save_every", "profile"})


def kl_diag(m: Params, s: Params, mu: Params, rho: Params) -> torch.Tensor:
    """KL(N(m, e^{2s}) ‖ N(mu, e^{2rho})) summed over every LoRA element (keys are the LoRA names)."""
    total = 0.0
    for n in m:
        var_ratio = torch.exp(2 * (s[n] - rho[n]))
        total = total + 0.5 * (var_ratio + (m[n] - mu[n]) ** 2 / torch.exp(2 * rho[n]) - 1 - 2 * (s[n] - rho[n])).sum()
    return total


def split_params(flat: Params) -> tuple[Params, Params]:
    return ({k[3:]: v for k, v in flat.items() if k.startswith("mu.")}, {k[4:]: v for k, v in flat.items() if k.startswith("rho.")})


def sample_weights(m: Params, s: Params, gen: torch.Generator) -> Params:
    return {n: m[n] + torch.exp(s[n]) * torch.randn(m[n].shape, generator=gen).to(m[n]) for n in m}


def task_loss(model, loaded, config: AbmllConfig, q: Params, prior: Params, pairs, gen: torch.Generator) -> torch.Tensor:
    m, s = split_params(q)
    mu, rho = split_params(prior)
    nll = pairs_loss(model, loaded, sample_weights(m, s, gen), pairs, config.max_length)
    return nll + config.beta * kl_diag(m, s, mu, rho) / len(pairs)


Config = AbmllConfig


def build_prior(loaded, config: AbmllConfig, exclude: list[str], progress=None) -> Path:
    """Meta-train (or reuse) the global prior without the excluded tasks; returns its artifact dir."""
    meta = load_meta(config.meta)
    out = artifact_dir(meta, "abmll", exclude, config.training_key())
    if is_complete(out):
        return out
    tasks = meta_tasks(meta, exclude, config.max_samples)
    with trainable_lora(loaded, config.lora, config.seed) as model, second_order_attention(not config.first_order):
        init = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        prior = {f"mu.{n}": v.clone().requires_grad_(True) for n, v in init.items()}
        prior |= {f"rho.{n}": torch.full_like(v, config.init_log_sigma).requires_grad_(True) for n, v in init.items()}
        n_elems = sum(v.numel() for v in init.values())

        def step_fn(step: int) -> float:
            gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            total = 0.0
            episode = sample_episode(tasks, config.meta_batch, config.support_size, config.query_size, config.seed, step)
            for task, s_idx, q_idx in episode:
                support = [task.pairs[i] for i in s_idx]
                query = [task.pairs[i] for i in q_idx]
                q = sgd_inner_loop(lambda p: task_loss(model, loaded, config, p, prior, support, gen), prior,
                                   config.inner_steps, config.inner_lr, create_graph=not config.first_order)
                loss = task_loss(model, loaded, config, q, prior, query, gen)
                accumulate_outer_grads(loss, prior, q, config.first_order, 1.0 / len(episode))
                total += float(loss.detach()) / len(episode)
            mu, rho = split_params(prior)
            hyper = sum(0.5 * (mu[n] ** 2).sum() + 0.5 * ((rho[n] - config.init_log_sigma) ** 2).sum() for n in mu) / n_elems
            (config.hyper_weight * hyper).backward()
            return total

        manifest = base_manifest("abmll", meta, tasks, exclude, config.model_dump())
        resumable_meta_training(out, prior, config.outer_lr, config.meta_steps, step_fn, manifest, config.save_every, progress)
    return out


def meta_test(loaded, ptask: ProtocolTask, config: AbmllConfig, prior_dir: Path, out_dir: Path) -> list[Path]:
    """Posterior on the target's labelled support; adapters of `eval_samples` posterior samples (or its mean)."""
    pairs = training_pairs(ptask.spec, list(ptask.support))
    gen = torch.Generator().manual_seed(config.seed)
    with trainable_lora(loaded, config.lora, config.seed) as model:
        device = next(p for p in model.parameters() if p.requires_grad).device
        prior = {k: v.to(device) for k, v in load_state(prior_dir).items()}
        start = {k: v.clone().requires_grad_(True) for k, v in prior.items()}
        q = sgd_inner_loop(lambda p: task_loss(model, loaded, config, p, prior, pairs, gen), start,
                           config.test_inner_steps, config.inner_lr, create_graph=False)
        m, s = split_params({k: v.detach() for k, v in q.items()})
        if ptask.spec.format != "multiple_choice":
            set_lora(model, m)
            return [save_adapter(model, out_dir / "posterior-mean")]
        adapters = []
        for k in range(config.eval_samples):
            set_lora(model, sample_weights(m, s, gen))
            adapters.append(save_adapter(model, out_dir / f"sample-{k}"))
        return adapters


build_artifact = build_prior


def artifact_steps(config: AbmllConfig) -> int:
    return config.meta_steps


def fit(ptask: ProtocolTask, config: AbmllConfig, ctx: RunContext) -> Fitted:
    """The meta-learned prior (built or reused, the target left out); posterior samples on the support."""
    exclude = target_exclusion(config.meta, ptask.task, ctx.spec_path)
    art = build_prior(ctx.model(), config, exclude)
    return Fitted(meta_test(ctx.model(), ptask, config, art, ctx.work_dir / "abmll"), {"artifact": str(art), "excluded": exclude})
