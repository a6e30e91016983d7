"""Rows that run one adaptation strategy family with fixed parameters under the protocol — what a practitioner
would run instead of degaml's controller (calibration, in-context demonstrations, T-Few-style training, LoRA-library
composition), from a fixed start: the base model (a fresh LoRA, B = 0, whose predictions are the base model's) or θ₀.

    start adapter ─ candidates (params) ─ run_strategy on validation ─ best on validation ─▶ predictor
    weight family:      the trained adapter, scored on test by the protocol (like every adapter row)
    prediction family:  the strategy re-run on the released test items (its own scorer), once

The strategy sees a TaskData built from the ProtocolTask: labelled support, validation, and — only inside the final
scoring — the released test items; never the target's train pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from degaml.baselines.config import BaselineConfig
from degaml.baselines.lora import save_adapter, trainable_lora
from degaml.baselines.method import Fitted, RunContext
from degaml.data import Example, TaskData
from degaml.evaluation.result import EvalResult
from degaml.generator.pipeline import resolve_generator
from degaml.generator.sampler import AdapterSampler
from degaml.protocol import ProtocolTask, SplitScore
from degaml.strategies.base import Outcome, StrategyContext
from degaml.strategies.registry import WEIGHT_FAMILIES, run_strategy


class StrategyRowConfig(BaselineConfig):
    """The start of a strategy row; the LoRA shape and seed give the fresh LoRA of `start: base`."""

    start: Literal["base", "generator"] = Field("base", description="base: the base model (a fresh LoRA); generator: θ₀")
    generator: str | None = Field(None, description="generator directory for start=generator; None: the spec's")


def start_adapter(ptask: ProtocolTask, config: StrategyRowConfig, ctx: RunContext) -> Path:
    """θ₀ for the support prompts, or a fresh (seeded A, zero B) LoRA that leaves the base model's outputs as they are."""
    if config.start == "generator":
        path = resolve_generator(ctx.generator or config.generator or ptask.spec.generator)
        sampler = AdapterSampler.load(path, ctx.work_dir / "adapters", encoder=ctx.encoder)
        return sampler.adapter_for(ptask.support_prompts())
    out = ctx.work_dir / f"fresh-lora-s{config.seed}"
    if not (out / "adapter_model.safetensors").is_file():
        with trainable_lora(ctx.model(), config.lora, config.seed) as model:
            save_adapter(model, out)
    return out


def strategy_context(ptask: ProtocolTask, ctx: RunContext, start: Path, spec=None,
                     test: Sequence[Example] = ()) -> StrategyContext:
    """A StrategyContext over the protocol's view of the target (`test`: the protocol's sealed test split, readable
    only while final_score has released it)."""
    spec = spec or ptask.spec
    if spec.num_fewshot and spec.fewshot_from != "support":  # the protocol: prompt demonstrations from the support
        spec = spec.model_copy(update={"fewshot_from": "support"})  # (the target's train pool is outside the budget)
    support = tuple(ex.unlabeled() for ex in ptask.support)
    source = next((s for s in ptask.spec.dataset if s.source == ptask.data_source), ptask.spec.dataset[0])
    task = TaskData(spec, source, (), support, ptask.validation, test, (), ptask.provenance, ptask.support)
    return StrategyContext(ctx.model(), spec, task, None, ctx.work_dir / "strategy", seed=ptask.spec.seed, _initial=start)


def split_score(result: EvalResult) -> SplitScore:
    """The protocol's SplitScore of a strategy's EvalResult."""
    return SplitScore.of(result.predictions)


def run_row(candidates: list[BaseModel], ptask: ProtocolTask, config: StrategyRowConfig, ctx: RunContext,
            spec=None, info: dict[str, Any] | None = None) -> Fitted:
    """Run every candidate on validation from the start adapter, keep the best (the first on ties), return its
    predictor. A candidate that failed (reverted) counts as its start adapter's score."""
    start = start_adapter(ptask, config, ctx)
    sctx = strategy_context(ptask, ctx, start, spec)
    best: tuple[float, BaseModel, Outcome] | None = None
    tried = []
    for params in candidates:
        outcome = run_strategy(params, sctx, "validation")
        tried.append({"params": outcome.params, "ok": outcome.ok, "validation": outcome.accuracy, "error": outcome.error})
        if outcome.result is not None and (best is None or outcome.accuracy > best[0]):
            best = (outcome.accuracy, params, outcome)
    if best is None:
        raise RuntimeError(f"task '{ptask.task}': no candidate of the row produced a score ({tried})")
    _, params, outcome = best
    info = (info or {}) | {"start": config.start, "chosen": outcome.params, "ok": outcome.ok, "candidates": tried,
                           "log": outcome.log}
    validation = split_score(outcome.result)
    if params.family in WEIGHT_FAMILIES:  # type: ignore[attr-defined]
        return Fitted([outcome.artifact or start], info | {"artifact": str(outcome.artifact or start)}, validation)

    def score(items: Sequence[Example]) -> SplitScore:
        tctx = strategy_context(ptask, ctx, start, spec, test=ptask.test)  # the released seal itself: still guarded
        result = run_strategy(params, tctx, "test")
        if result.result is None:
            raise RuntimeError(f"task '{ptask.task}': {params.family} failed on the test items: {result.error}")  # type: ignore[attr-defined]
        return split_score(result.result)

    return Fitted([], info, validation, scorer=score)
