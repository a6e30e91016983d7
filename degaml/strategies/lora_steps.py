"""Gradient steps on an existing LoRA adapter — the one training loop of the weight-space strategies (TTT, support SFT,
T-Few-style rank classification).

    adapter dir ──PeftModel.from_pretrained(is_trainable)──▶ AdamW × steps on loss(batch_t) ──▶ saved PEFT adapter

Batches come from a caller-given function of the step (a pure function of seed and step, so runs are reproducible).
Memory: with the default loss a step's batch is run in micro-batches of at most `MICRO_TOKENS` padded tokens (rows
trimmed to their own padding), each backward-ed with its share of the labelled positions, so the gradient is the
one of the whole batch (up to summation order) while activations are held for one micro-batch only — a GSM8K
support batch (8 × ~370 tokens) no longer holds the activations of all 8 rows at once.
Guard: a non-finite loss, a loss above `DIVERGENCE_FACTOR` × the first loss, or non-finite adapted weights stop
training and nothing is saved (`error` says why; the caller reverts to its initial adapter). The shared base model is
always left as it was (LoRA layers unloaded, `requires_grad` flags, checkpointing and train/eval mode restored) in a
`finally`. With the spec's `gradient_checkpointing` each layer's activations are recomputed in the backward pass:
a GSM8K support SFT step (8 × 369 tokens, fp32) peaks at 1.89 instead of 2.68 GiB with the same losses
(`benchmarks/speed/strategy_step_memory.py --families support_sft`, docs/benchmarks.md § Main job).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from degaml.generator.collect import TrainingBatch
from degaml.io import atomic_directory
from degaml.models.heads import answer_nll
from degaml.models.llm import LoadedModel

DIVERGENCE_FACTOR = 4.0  # a loss above this multiple of the first loss counts as divergence
MICRO_TOKENS = 768  # padded tokens per micro-batch (at least one row) of the default loss


def micro_batches(batch: TrainingBatch, max_tokens: int | None = None) -> list[tuple[TrainingBatch, int]]:
    """Consecutive row slices of a right-padded batch with ≤ `max_tokens` padded tokens each (≥ 1 row), trimmed to
    their longest row, with the labelled positions each holds (the loss of position t is predicted at t - 1)."""
    max_tokens = max_tokens or MICRO_TOKENS
    lengths = batch.attention_mask.sum(dim=1).tolist()
    out, start = [], 0
    while start < len(lengths):
        end = start + 1
        while end < len(lengths) and (end + 1 - start) * max(lengths[start:end + 1]) <= max_tokens:
            end += 1
        width = max(1, int(max(lengths[start:end])))
        part = TrainingBatch(batch.input_ids[start:end, :width], batch.attention_mask[start:end, :width],
                             batch.labels[start:end, :width])
        out.append((part, int((part.labels[:, 1:] != -100).sum())))
        start = end
    return out


def accumulated_loss(model: torch.nn.Module, batch: TrainingBatch, device: torch.device) -> float:
    """The mean answer NLL of `batch`, its gradient accumulated micro-batch by micro-batch (see module doc)."""
    parts = micro_batches(batch)
    total = sum(n for _, n in parts)
    value = 0.0
    for part, n in parts:
        if n == 0:
            continue
        loss = batch_loss(model, part, device) * (n / total)
        loss.backward()
        value += float(loss.detach())
    return value if total else float("nan")


@dataclass
class StepsResult:
    error: str | None  # None: trained and saved to the output directory
    tokens: int = 0  # non-padding tokens trained on
    losses: list[float] = field(default_factory=list)


def batch_loss(model: torch.nn.Module, batch: TrainingBatch, device: torch.device) -> torch.Tensor:
    """Mean next-token NLL over the positions of `batch` whose label is not -100 (logits only there)."""
    return answer_nll(model, batch.input_ids.to(device), batch.attention_mask.to(device), batch.labels.to(device))


def _checkpointing_api(model: torch.nn.Module, name: str) -> Any:
    """transformers' activation-checkpointing attribute `name` ("activation_…"; "gradient_…" before it was renamed)."""
    current = name.format("activation")
    return getattr(model, current) if hasattr(type(model), current) else getattr(model, name.format("gradient"))


def train_lora_steps(loaded: LoadedModel, adapter: Path, out_dir: Path, batch_for_step: Callable[[int], TrainingBatch],
                     steps: int, learning_rate: float, seed: int, report: Callable[[int], None] | None = None,
                     loss_fn: Callable[[torch.nn.Module, Any, torch.device], torch.Tensor] | None = None,
                     checkpointing: bool = False) -> StepsResult:
    """`steps` AdamW steps on `adapter`'s LoRA weights minimising `loss_fn(model, batch, device)` (the answer tokens'
    NLL by default); the result is saved (atomically) to `out_dir` unless it failed. `checkpointing`: activations
    are recomputed in the backward pass (non-reentrant: same gradients, less memory, more time)."""
    from peft import PeftModel

    base = loaded.model
    was_training = base.training
    grad_flags = {name: p.requires_grad for name, p in base.named_parameters()}
    was_checkpointing = bool(_checkpointing_api(base, "is_{}_checkpointing"))
    result = StepsResult(error=None)
    peft_model = None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout (if the adapter has any) is seeded; the global RNG is left untouched
            peft_model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
            if checkpointing:
                _checkpointing_api(base, "{}_checkpointing_enable")({"use_reentrant": False})
            trainable = [p for p in peft_model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
            peft_model.train()
            for step in range(1, steps + 1):
                batch = batch_for_step(step - 1)
                optimizer.zero_grad(set_to_none=True)
                if loss_fn is None:  # backward happens inside, micro-batch by micro-batch
                    loss, value = None, accumulated_loss(peft_model, batch, loaded.device)
                else:
                    loss = loss_fn(peft_model, batch, loaded.device)
                    value = float(loss.detach())
                result.tokens += int(batch.attention_mask.sum())
                result.losses.append(value)
                if not math.isfinite(value):
                    result.error = f"non-finite loss ({value}) at step {step}/{steps}"
                    break
                first = result.losses[0]
                if first > 0 and value > DIVERGENCE_FACTOR * first:
                    result.error = (f"loss diverged at step {step}/{steps} ({value:.4f} > {DIVERGENCE_FACTOR:g} × "
                                    f"first loss {first:.4f})")
                    break
                if loss is not None:
                    loss.backward()
                optimizer.step()
                if report is not None:
                    report(step)
            if result.error is None and not all(torch.isfinite(p).all() for p in trainable):
                result.error = "adapted LoRA weights are not finite"
            if result.error is None:
                peft_model.eval()
                with atomic_directory(out_dir) as tmp:
                    peft_model.save_pretrained(str(tmp), save_embedding_layers=False)  # LoRA only; no vocab lookup
    finally:
        if peft_model is not None:
            peft_model.unload()  # removes the LoRA layers: the shared base model is as it was
        for name, p in base.named_parameters():
            p.requires_grad_(grad_flags.get(name, p.requires_grad))
        if checkpointing and not was_checkpointing:
            _checkpointing_api(base, "{}_checkpointing_disable")()
        base.train(was_training)
    return result


def score_trained(family: str, params: dict, ctx, split, start: Path, out_dir: Path, trained: StepsResult, log: list[str],
                  seconds: Callable[[], float], fraction: float, reverted_to: str):
    """The Outcome of a weight-space strategy after `train_lora_steps`: the saved adapter scored on `split`, or —
    when training failed — the starting adapter scored instead (`ok=False`, `artifact=None`, the reason in `error`)."""
    from degaml.strategies.base import Outcome, adapter_outcome

    if trained.error is not None:
        error = f"{trained.error}; reverted to {reverted_to}"
        log.append(f"failed: {error}")
        ctx.report(f"{family} scoring {reverted_to} (reverted)", fraction)
        result = ctx.evaluate(split, start)
        ctx.report(f"{family} done", 1.0)
        return Outcome(family, params, split, ok=False, accuracy=result.accuracy, result=result, artifact=None,
                       seconds=seconds(), tokens=trained.tokens + result.tokens, log=log, error=error)
    return adapter_outcome(family, params, ctx, split, out_dir, log, seconds, trained.tokens, fraction)
