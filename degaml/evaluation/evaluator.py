"""Scoring a model (optionally with a PEFT adapter) on a list of task examples.

Multiple choice: log-likelihood of each choice → `acc` (argmax of summed log-prob) and `acc_norm` (argmax of
log-prob divided by the choice's character length), as lm-evaluation-harness reports them; the spec's `metric`
picks which one is `accuracy`. Generative formats: greedy generation → answer filter → comparison.

Labels are read only here (and in evaluation.result, for strategies that form predictions themselves), inside
`degaml.data.guard.scoring()`, so the split-discipline tests can tell the evaluator's reads from a leak.
Non-finite log-probs (a NaN model or adapter) are an error, never a score: NaN compares false with everything, so
argmax would silently pick choice 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from degaml.data.example import Example
from degaml.data.guard import scoring
from degaml.evaluation.generation import generate_greedy
from degaml.evaluation.loglikelihood import score_continuations
from degaml.evaluation.prompts import PromptBuilder
from degaml.evaluation.result import EvalResult, Prediction, build_result, choice_prediction, generated_prediction
from degaml.models.adapters import attached_adapter
from degaml.models.llm import LoadedModel
from degaml.specs.model import TaskSpec

ProgressFn = Callable[[int], None]  # called with the number of examples just finished


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


def evaluate(
    loaded: LoadedModel,
    spec: TaskSpec,
    examples: Sequence[Example],
    split: str,
    fewshot_pool: Sequence[Example] = (),
    adapter: str | Path | None = None,
    progress: ProgressFn | None = None,
    select_demos: Callable[[Example], list[Example]] | None = None,
) -> EvalResult:
    """Score `examples` (labelled) and return accuracy with a Wilson 95% CI, answer metrics, speed, and per-item
    predictions."""
    builder = PromptBuilder(spec, fewshot_pool, select_demos)
    counter = _Counter(progress)
    start = time.perf_counter()
    with attached_adapter(loaded.model, adapter) as model:
        score = _score_multiple_choice if spec.format == "multiple_choice" else _score_generative
        with scoring():
            predictions = score(model, loaded, spec, builder, list(examples), counter) if examples else []
    seconds = time.perf_counter() - start
    dtype = loaded.dtype_reason or str(loaded.dtype).removeprefix("torch.")
    return build_result(spec, loaded.name, split, str(adapter) if adapter else None, predictions, seconds,
                        counter.tokens, dtype=dtype)
