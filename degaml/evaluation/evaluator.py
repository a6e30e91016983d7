"""Scoring a model (optionally with a PEFT adapter) on a list of task examples.

Multiple choice: log-likelihood of each choice → `acc` (argmax of summed log-prob) and `acc_norm` (argmax of
log-prob divided by the choice's character length), as lm-evaluation-harness reports them; the spec's `metric`
picks which one is `accuracy`. Generative formats: greedy generation → answer filter → comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from degaml.data.example import Example
from degaml.evaluation.answers import apply_filter, is_correct
from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.loglikelihood import score_continuations
from degaml.evaluation.metrics import wilson_interval
from degaml.evaluation.prompts import PromptBuilder
from degaml.models.adapters import attached_adapter
from degaml.models.llm import LoadedModel
from degaml.specs.model import TaskSpec

ProgressFn = Callable[[int], None]  # called with the number of examples just finished


@dataclass
class Prediction:
    id: str
    prediction: Any  # chosen index (multiple choice) or extracted answer string
    gold: Any
    correct: bool
    scores: list[float] | None = None  # per-choice summed log-probs
    scores_norm: list[float] | None = None  # per-choice log-prob / character length
    output: str | None = None  # raw generated text (generative formats)


@dataclass
class EvalResult:
    task: str
    split: str
    model: str
    adapter: str | None
    metric: str
    n: int
    accuracy: float
    ci95: tuple[float, float]
    acc: float
    acc_norm: float | None
    seconds: float
    examples_per_second: float
    tokens: int
    tokens_per_second: float
    dtype: str = ""  # the model's dtype and how it was chosen (`LoadedModel.dtype_reason`)
    predictions: list[Prediction] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (without per-item predictions)."""
        data = asdict(self)
        data.pop("predictions")
        data["ci95"] = list(self.ci95)
        return data


class _Counter:
    def __init__(self, progress: ProgressFn | None) -> None:
        self.tokens = 0
        self.progress = progress

    def rows(self, per_example: int) -> Callable[[int, int], None]:
        def on_batch(rows: int, tokens: int) -> None:
            self.tokens += tokens
            if self.progress is not None:
                self.progress(rows / per_example)

        return on_batch


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _score_multiple_choice(model, loaded, spec, builder, examples, counter) -> list[Prediction]:
    pairs, owners = [], []
    for k, ex in enumerate(examples):
        for pair in builder.choice_pairs(ex):
            pairs.append(pair)
            owners.append(k)
    mean_choices = len(pairs) / max(1, len(examples))
    scores = score_continuations(
        model, loaded.tokenizer, pairs, spec.batch_size, spec.max_length, counter.rows(mean_choices)
    )
    per_item: list[list[tuple[float, int]]] = [[] for _ in examples]
    for (_, continuation), owner, score in zip(pairs, owners, scores):
        per_item[owner].append((score.logprob, max(1, len(continuation) - len(spec.target_delimiter))))
    predictions = []
    for ex, item in zip(examples, per_item):
        raw = [lp for lp, _ in item]
        norm = [lp / length for lp, length in item]
        chosen = _argmax(norm) if spec.metric == "acc_norm" else _argmax(raw)
        predictions.append(Prediction(ex.id, chosen, ex.answer, chosen == ex.answer, raw, norm))
    return predictions


def _score_generative(model, loaded, spec, builder, examples, counter) -> list[Prediction]:
    prompts = [builder.context(ex) for ex in examples]
    gens = generate_greedy(
        model,
        loaded.tokenizer,
        prompts,
        spec.generation.until,
        spec.generation.max_new_tokens,
        spec.batch_size,
        spec.max_length,
        counter.rows(1),
    )
    predictions = []
    for ex, gen in zip(examples, gens):
        answer = apply_filter(gen.text, spec.answer_filter, spec.format)
        predictions.append(Prediction(ex.id, answer, ex.answer, is_correct(answer, ex, spec.format), output=gen.text))
    return predictions


def evaluate(
    loaded: LoadedModel,
    spec: TaskSpec,
    examples: Sequence[Example],
    split: str,
    fewshot_pool: Sequence[Example] = (),
    adapter: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> EvalResult:
    """Score `examples` (labelled) and return accuracy with a Wilson 95% CI, speed, and per-item predictions."""
    builder = PromptBuilder(spec, fewshot_pool)
    counter = _Counter(progress)
    start = time.perf_counter()
    with attached_adapter(loaded.model, adapter) as model:
        score = _score_multiple_choice if spec.format == "multiple_choice" else _score_generative
        predictions = score(model, loaded, spec, builder, list(examples), counter) if examples else []
    seconds = time.perf_counter() - start
    n = len(predictions)
    correct = sum(p.correct for p in predictions)
    acc, acc_norm = (correct / n if n else 0.0), None
    if spec.format == "multiple_choice":
        acc = sum(_argmax(p.scores) == p.gold for p in predictions) / max(1, n)
        acc_norm = sum(_argmax(p.scores_norm) == p.gold for p in predictions) / max(1, n)
    return EvalResult(
        task=spec.task,
        split=split,
        model=loaded.name,
        adapter=str(adapter) if adapter else None,
        metric=spec.metric if spec.format == "multiple_choice" else "exact_match",
        n=n,
        accuracy=correct / n if n else 0.0,
        ci95=wilson_interval(correct, n),
        acc=acc,
        acc_norm=acc_norm,
        seconds=seconds,
        examples_per_second=n / seconds if seconds > 0 else 0.0,
        tokens=counter.tokens,
        tokens_per_second=counter.tokens / seconds if seconds > 0 else 0.0,
        dtype=loaded.dtype_reason or str(loaded.dtype).removeprefix("torch."),
        predictions=predictions,
    )
