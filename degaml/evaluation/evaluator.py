"""Scoring a model (optionally with a PEFT adapter) on a list of task examples.

Multiple choice: log-likelihood of each choice → `acc` (argmax of summed log-prob) and `acc_norm` (argmax of
log-prob divided by the choice's character length), as lm-evaluation-harness reports them; the spec's `metric`
picks which one is `accuracy`. Generative formats: greedy generation → answer filter → comparison.

Labels are read only here (and in evaluation.results, for strategies that form predictions themselves), inside
`degaml.data.guard.scoring()`, so the split-discipline tests can tell the evaluator's reads from a leak.
Non-finite log-probs (a NaN model or adapter) are an error, never a score: NaN compares false with everything, so
argmax would silently pick choice 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from degaml.data.example import Example
from degaml.data.guard import scoring
from degaml.evaluation.answers import apply_filter, is_correct
from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.loglikelihood import score_continuations
from degaml.evaluation.metrics import wilson_interval
from degaml.evaluation.prompts import PromptBuilder
from degaml.models.adapters import NonFiniteError, attached_adapter
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
    return [choice_prediction(ex, [lp for lp, _ in item], [n for _, n in item], spec.metric)
            for ex, item in zip(examples, per_item)]


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
    return [generated_prediction(ex, gen.text, spec) for ex, gen in zip(examples, gens)]


def choice_prediction(example: Example, raw: Sequence[float], lengths: Sequence[int], metric: str) -> Prediction:
    """A multiple-choice Prediction from per-choice summed log-probs and continuation character lengths."""
    if not all(math.isfinite(lp) for lp in raw):
        raise NonFiniteError(f"item {example.id}: non-finite log-probabilities {list(raw)} (a NaN/inf model or adapter)")
    norm = [lp / max(1, n) for lp, n in zip(raw, lengths)]
    chosen = _argmax(norm) if metric == "acc_norm" else _argmax(raw)
    with scoring():
        gold = example.answer
    return Prediction(example.id, chosen, gold, chosen == gold, list(raw), norm)


def generated_prediction(example: Example, text: str, spec: TaskSpec) -> Prediction:
    """A generative Prediction: the spec's answer filter on `text`, compared with the gold answer."""
    answer = apply_filter(text, spec.answer_filter, spec.format)
    with scoring():
        return Prediction(example.id, answer, example.answer, is_correct(answer, example, spec.format), output=text)


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
        with scoring():
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
