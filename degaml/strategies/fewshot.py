"""`fewshot`: in-context demonstrations drawn from the labelled support — what a practitioner tries first.

The current adapter scores every item with k demonstrations of the task's labelled support items in its prompt
(rendered as the spec renders few-shot examples: `doc_to_text` + the gold answer), chosen either
- random: k support items, seeded by (spec seed, item id), or
- nearest (KATE-style retrieval): the k support items whose questions are closest to the item's by cosine similarity
  of sentence embeddings (the generator's encoder), the closest placed last, next to the item.
Only the labelled support is shown (the target's labelled budget); the scored split's inputs are read to build
their own prompts and, for `nearest`, to embed them — never their labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field

from degaml.data.example import Example
from degaml.strategies.base import Outcome, ParamsBase, ScoredSplit, StrategyContext, StrategyError, Timer


class FewshotParams(ParamsBase):
    """In-context demonstrations from the labelled support, on top of the current adapter."""

    family: Literal["fewshot"] = Field("fewshot", description=(
        "Strategy family: put k labelled support examples in every prompt as demonstrations (no training)."))
    k: Literal[1, 3, 5] = Field(description="Demonstrations per prompt.")
    selection: Literal["random", "nearest"] = Field(description=(
        "random: seeded draw from the support; nearest: the support items most similar to the question."))


def _embed(ctx: StrategyContext, texts: list[str]) -> torch.Tensor:
    """(len(texts), C) unit-norm sentence embeddings with the generator's encoder (the default one without it)."""
    if ctx.sampler is not None:
        emb = ctx.sampler.sentence_embeddings(texts)
    else:
        from degaml.models import DEFAULT_ENCODER, load_encoder  # lazy: only `nearest` without a generator needs it

        emb = load_encoder(DEFAULT_ENCODER).encode(texts, convert_to_tensor=True, show_progress_bar=False).float().cpu()
    return torch.nn.functional.normalize(emb, dim=-1)


def nearest_demos(ctx: StrategyContext, support: list[Example], items: tuple[Example, ...],
                  k: int) -> Callable[[Example], list[Example]]:
    """Selector: the k support items closest to an item's question (ascending similarity: the closest last)."""
    sims = _embed(ctx, [ex.question for ex in items]) @ _embed(ctx, [ex.question for ex in support]).T  # (n, S)
    chosen: dict[str, list[Example]] = {}
    for i, ex in enumerate(items):
        order = [j for j in sims[i].argsort(descending=True).tolist() if support[j].question != ex.question][:k]
        chosen[ex.id] = [support[j] for j in reversed(order)]
    return lambda ex: chosen[ex.id]


def run_fewshot(params: FewshotParams, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Score the current adapter on `split` with k support demonstrations per prompt."""
    timer = Timer()
    support = list(ctx.task.labelled_support)
    if len(support) < params.k + 1 or any(ex.answer is None for ex in support):
        raise StrategyError(f"fewshot: task '{ctx.spec.task}' needs at least {params.k + 1} labelled support items "
                            f"for k={params.k} (has {len(support)})")
    adapter = ctx.initial_adapter()
    spec = ctx.spec.model_copy(update={"num_fewshot": params.k})
    select = nearest_demos(ctx, support, ctx.examples(split), params.k) if params.selection == "nearest" else None
    result = ctx.evaluate(split, adapter, label=f"fewshot k={params.k} {params.selection}", spec=spec,
                          fewshot_pool=support, select_demos=select)
    log = [f"fewshot k={params.k} ({params.selection}) from {len(support)} labelled support items on {adapter.name}",
           f"{split} accuracy {result.accuracy:.4f} (n={result.n})"]
    ctx.report("fewshot: done", 1.0)
    return Outcome("fewshot", params.model_dump(by_alias=True), split, ok=True, accuracy=result.accuracy,
                   result=result, artifact=None, seconds=timer.seconds, tokens=result.tokens, log=log)
