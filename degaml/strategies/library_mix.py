"""`library_mix`: LoraHub-style composition (Huang et al. 2023) of the current adapter with a library of task LoRAs.

Members: the current adapter θ (weight 1 at the start) and the library's task LoRAs L_1..L_M (weight 0), all of
one LoRA shape. A weight vector w composes every LoRA tensor element-wise, A = Σ w_i A_i and B = Σ w_i B_i (what
LoraHub does; the result stays a rank-r PEFT adapter), and is optimised gradient-free (nevergrad's NGOpt, `budget`
evaluations, seeded) on
    loss(w) = answer NLL of the labelled support items under the composed adapter + L1 · mean_i |w_i|.
The best w is written as a PEFT adapter and scored. The library is `adapt.library` (a meta spec whose collection
gives one LoRA per task: degaml.generator.library), the target left out of it when it is one of its tasks.
Only the labelled support is fitted on; the scored split's labels are read by the evaluator only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file

from degaml.evaluation.prompts import PromptBuilder
from degaml.generator.collect import build_batch
from degaml.io import atomic_directory
from degaml.models.heads import answer_nll
from degaml.strategies.base import (Outcome, ParamsBase, ScoredSplit, StrategyContext, StrategyError, Timer,
                                   adapter_outcome)

L1 = 0.05  # LoraHub's regulariser weight
WEIGHT_BOUND = 1.5
ADAPTER_WEIGHTS, ADAPTER_CONFIG = "adapter_model.safetensors", "adapter_config.json"


class LibraryMixParams(ParamsBase):
    """Gradient-free composition of the current adapter with the library of meta-training task LoRAs."""

    family: Literal["library_mix"] = Field("library_mix", description=(
        "Strategy family: compose the current adapter with the meta-training tasks' LoRAs (LoraHub), weights "
        "optimised gradient-free on the labelled support."))
    budget: Literal[20, 40] = Field(description="Loss evaluations of the gradient-free optimiser.")


def library_for(ctx: StrategyContext) -> dict[str, Path]:
    """The task LoRAs of `adapt.library` without the target task."""
    from degaml.generator.library import task_lora_library
    from degaml.specs import load_meta_spec

    if ctx.spec.adapt.library is None:
        raise StrategyError(f"library_mix: task '{ctx.spec.task}' has no LoRA library (set adapt.library to a meta spec)")
    meta = load_meta_spec(Path(ctx.spec.adapt.library))
    return task_lora_library(meta, meta.leave_one_out(ctx.spec.task))


def compose(states: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """Σ_i w_i · state_i, key by key (every LoRA tensor: A and B alike)."""
    return {k: sum(w * s[k].float() for w, s in zip(weights, states)) for k in states[0]}


def _support_loss(ctx: StrategyContext, peft_model, batches) -> float:
    with torch.no_grad():
        total = sum(float(answer_nll(peft_model, b.input_ids.to(ctx.loaded.device), b.attention_mask.to(ctx.loaded.device),
                                     b.labels.to(ctx.loaded.device))) * len(b.input_ids) for b in batches)
    return total / sum(len(b.input_ids) for b in batches)


def optimise_weights(ctx: StrategyContext, start: Path, states: list[dict[str, torch.Tensor]], budget: int) -> tuple[list[float], float, float]:
    """(best w, its loss, the loss at w = (1, 0, …, 0)) by nevergrad on the labelled support; the start when the
    optimiser's recommendation is no better than it."""
    import nevergrad as ng
    from peft import PeftModel, set_peft_model_state_dict

    items = list(ctx.task.labelled_support)
    builder = PromptBuilder(ctx.spec.model_copy(update={"num_fewshot": 0}))
    pairs = [builder.training_pair(ex) for ex in items]
    batches = [build_batch(ctx.loaded.tokenizer, pairs[i:i + 8], ctx.spec.max_length) for i in range(0, len(pairs), 8)]
    peft_model = PeftModel.from_pretrained(ctx.loaded.model, str(start))
    try:
        peft_model.eval()

        def loss(w) -> float:
            set_peft_model_state_dict(peft_model, compose(states, list(w)))
            value = _support_loss(ctx, peft_model, batches) + L1 * float(sum(abs(x) for x in w)) / len(w)
            return value if value == value else float("inf")  # NaN → the worst value

        init = [1.0] + [0.0] * (len(states) - 1)
        start_loss = loss(init)
        param = ng.p.Array(init=init).set_bounds(-WEIGHT_BOUND, WEIGHT_BOUND)
        param.random_state.seed(ctx.seed)
        optimizer = ng.optimizers.NGOpt(parametrization=param, budget=budget)
        for i in range(budget):
            candidate = optimizer.ask()
            optimizer.tell(candidate, loss(candidate.value))
            ctx.report(f"library_mix evaluation {i + 1}/{budget}", 0.8 * (i + 1) / budget)
        best = [float(x) for x in optimizer.provide_recommendation().value]
        best_loss = loss(best)
        return (best, best_loss, start_loss) if best_loss <= start_loss else (init, start_loss, start_loss)
    finally:
        peft_model.unload()


def run_library_mix(params: LibraryMixParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Compose, save and score the best composition of the current adapter with the library."""
    items = list(ctx.task.labelled_support)
    if not items or any(ex.answer is None for ex in items):
        raise StrategyError(f"library_mix: task '{ctx.spec.task}' has no labelled support items to fit on")
    timer = Timer()
    start = ctx.initial_adapter()
    library = library_for(ctx)
    states = [load_file(str(start / ADAPTER_WEIGHTS))] + [load_file(str(p / ADAPTER_WEIGHTS)) for p in library.values()]
    if any(s.keys() != states[0].keys() or any(s[k].shape != states[0][k].shape for k in s) for s in states[1:]):
        raise StrategyError("library_mix: the library's LoRAs do not have the current adapter's shape (rank, modules)")
    weights, best_loss, start_loss = optimise_weights(ctx, start, states, params.budget)
    composed = compose(states, weights)
    if not all(torch.isfinite(t).all() for t in composed.values()):
        raise StrategyError("library_mix: the composed adapter is not finite")
    key = json.dumps([str(start), sorted(map(str, library.values())), params.model_dump(), ctx.seed], sort_keys=True)
    out_dir = ctx.work_dir / f"library_mix-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    with atomic_directory(out_dir) as tmp:
        shutil.copy(start / ADAPTER_CONFIG, tmp / ADAPTER_CONFIG)
        save_file({k: v.to(states[0][k].dtype).contiguous() for k, v in composed.items()}, str(tmp / ADAPTER_WEIGHTS))
    log = [f"library_mix of {start.name} with {len(library)} task LoRAs ({', '.join(library)})",
           "weights " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(["current", *library], weights)),
           f"support loss {start_loss:.4f} → {best_loss:.4f} (with L1 {L1})"]
    return adapter_outcome("library_mix", params.model_dump(by_alias=True), ctx, split, out_dir, log, lambda: timer.seconds)
