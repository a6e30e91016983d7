"""What every adaptation strategy (paper App. F.1) receives and returns.

A strategy family is a pydantic params model (with a `family` literal; numeric params are `Literal` grids because
Outlines does not enforce numeric bounds) plus a function `run(params, ctx, split) -> Outcome`:

- `ctx` (StrategyContext) holds the frozen base LLM, the task spec and data, the frozen generator (an
  AdapterSampler that yields θ₀ and further samples of q_φ), a work directory, a seed, and an optional progress hook;
- `split` is the labelled split being scored: "validation" during adaptation (rewards), "test" once at the end.
  Strategies may read the *inputs* of that split (TTT, SLOT, TTS routers do — test-time methods), never its labels
  except through the evaluator's final scoring;
- the Outcome carries the scored EvalResult, the adapted artifact (an adapter directory, or None for
  prediction-time methods), the cost (seconds, tokens processed) and a human-readable log.

Failures a strategy is expected to have never raise: NaN/inf loss or divergence reverts to the initial parameters
and returns `ok=False` with the reason; a precondition the task cannot meet (too few prompts to draw distinct
batches, no labelled support) raises `StrategyError`, which `run_strategy` turns into such an outcome. Anything else
(a bug, out of memory, a full disk) propagates and stops the run: it is never scored as a strategy's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from degaml.data import Example, TaskData
from degaml.evaluation import EvalResult, evaluate
from degaml.generator.sampler import AdapterSampler
from degaml.models import LoadedModel
from degaml.specs.model import TaskSpec

ScoredSplit = Literal["validation", "test"]
ProgressFn = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])


class StrategyError(Exception):
    """An expected failure of a strategy on this task (recorded as `ok=False`; any other exception stops the run)."""


def _family_required(schema: dict[str, Any]) -> None:
    """`family` is the union's discriminator: the policy must always write it, though Python defaults it."""
    required = schema.setdefault("required", [])
    if "family" not in required:
        required.insert(0, "family")


class ParamsBase(BaseModel):
    """Base of every family's params model: unknown keys are errors, `family` is required in the JSON Schema."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=_family_required)


@dataclass
class StrategyContext:
    loaded: LoadedModel  # frozen base LLM + tokenizer
    spec: TaskSpec
    task: TaskData
    sampler: AdapterSampler | None  # the frozen generator (None: strategies that only refine a given θ₀)
    work_dir: Path  # strategies write their artifacts under here
    seed: int = 0
    progress: ProgressFn | None = None
    _initial: Path | None = field(default=None, repr=False)
    _phase: str = field(default="scoring", repr=False)  # the last reported phase: labels scoring progress

    def initial_adapter(self) -> Path:
        """θ₀: the generator's adapter for the support prompts (in order) — the baseline every strategy refines."""
        if self._initial is None:
            if self.sampler is None:
                raise ValueError("no generator and no initial adapter: give one of them")
            self._initial = self.sampler.adapter_for(self.generator_prompts())
        return self._initial

    def generator_prompts(self, split: ScoredSplit | None = None) -> list[str]:
        """What the generator reads (the spec's `generator_input`) for the support items, or for `split`'s items."""
        from degaml.evaluation.prompts import generator_inputs

        return generator_inputs(self.spec, self.task.support if split is None else self.task.split(split))

    def support_prompts(self) -> list[str]:
        return self.task.support_prompts()

    def examples(self, split: ScoredSplit) -> tuple[Example, ...]:
        return self.task.split(split)

    def unlabeled_inputs(self, split: ScoredSplit) -> list[str]:
        """The questions of `split` without answers (what test-time methods may see)."""
        return [ex.question for ex in self.task.split(split)]

    def evaluate(self, split: ScoredSplit, adapter: Path | None, examples: Sequence[Example] | None = None,
                 label: str | None = None, spec: TaskSpec | None = None, fewshot_pool: Sequence[Example] | None = None,
                 select_demos: Callable[[Example], list[Example]] | None = None) -> EvalResult:
        """Score the base model + `adapter` on `split` (or the given subset of it; with another `spec`, few-shot pool
        or demonstration selector where given); with `progress` set, reports `<label or current phase> · <split>
        done/total` as the items are scored."""
        items = self.examples(split) if examples is None else examples
        advance = None
        if self.progress is not None and items:
            what, total, done = f"{label or self._phase} · {split}", len(items), [0]

            def advance(n: int) -> None:
                done[0] += n
                self.progress(f"{what} {int(min(done[0], total))}/{total}", min(1.0, done[0] / total))  # type: ignore[misc]

            self.progress(f"{what} 0/{total}", 0.0)
        pool = self.task.fewshot_pool() if fewshot_pool is None else fewshot_pool
        return evaluate(self.loaded, spec or self.spec, items, split, fewshot_pool=pool, adapter=adapter,
                        progress=advance, select_demos=select_demos)

    def report(self, what: str, fraction: float) -> None:
        self._phase = what
        if self.progress is not None:
            self.progress(what, min(1.0, max(0.0, fraction)))


@dataclass
class Outcome:
    family: str
    params: dict[str, Any]
    split: str
    ok: bool  # False: the strategy failed (reverted); `accuracy` is then θ₀'s if it was scored, else None
    accuracy: float | None
    result: EvalResult | None = None
    artifact: Path | None = None  # adapted adapter directory (TTT, mixing); None for prediction-time methods
    seconds: float = 0.0
    tokens: int = 0  # tokens processed (training + scoring)
    log: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready record (no per-item predictions)."""
        return {
            "family": self.family,
            "params": self.params,
            "split": self.split,
            "ok": self.ok,
            "accuracy": self.accuracy,
            "ci95": list(self.result.ci95) if self.result else None,
            "n": self.result.n if self.result else 0,
            "answers": self.result.answers.model_dump() if self.result and self.result.answers else None,
            "artifact": str(self.artifact) if self.artifact else None,
            "seconds": self.seconds,
            "tokens": self.tokens,
            "log": self.log,
            "error": self.error,
        }


def adapter_outcome(family: str, params: dict[str, Any], ctx: StrategyContext, split: ScoredSplit, adapter: Path,
                    log: list[str], seconds: Callable[[], float], tokens: int = 0, fraction: float = 0.8) -> Outcome:
    """The Outcome of a strategy that produced `adapter`: it is scored on `split` (the log gets the accuracy)."""
    ctx.report(f"{family} scoring", fraction)
    result = ctx.evaluate(split, adapter)
    log.append(f"{split} accuracy {result.accuracy:.4f} (n={result.n})")
    ctx.report(f"{family} done", 1.0)
    return Outcome(family, params, split, ok=True, accuracy=result.accuracy, result=result, artifact=adapter,
                   seconds=seconds(), tokens=tokens + result.tokens, log=log)


class Timer:
    """Wall-clock seconds since construction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
