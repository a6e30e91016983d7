"""`fewshot`: demonstrations come from the labelled support only (random or nearest), never the item itself; no
label of the scored split is read outside the evaluator."""

from __future__ import annotations

import pytest

from degaml.data.guard import AccessLog, guard_task_data
from degaml.strategies.base import StrategyContext
from degaml.strategies.fewshot import FewshotParams, nearest_demos
from degaml.strategies.registry import run_strategy


@pytest.mark.parametrize("selection", ["random", "nearest"])
@pytest.mark.parametrize("context", ["mc_context", "numeric_context"])
def test_fewshot_scores_with_support_demonstrations_without_peeking(selection, context, request):
    ctx = request.getfixturevalue(context)
    log = AccessLog()
    guarded = StrategyContext(ctx.loaded, ctx.spec, guard_task_data(ctx.task, log), ctx.sampler, ctx.work_dir, seed=0)
    out = run_strategy(FewshotParams(k=3, selection=selection), guarded, "validation")
    assert out.ok and out.result.n == len(ctx.task.validation) and out.artifact is None
    assert not log.test_reads() and not log.label_reads(scoring=False)


def test_nearest_picks_k_support_items_closest_last(mc_context):
    support = list(mc_context.task.labelled_support)
    items = mc_context.task.validation[:5]
    select = nearest_demos(mc_context, support, items, 3)
    for ex in items:
        demos = select(ex)
        assert len(demos) == 3 and all(d in support for d in demos) and ex.question not in {d.question for d in demos}


def test_more_demonstrations_than_support_items_is_a_failed_step(mc_context):
    small = StrategyContext(mc_context.loaded, mc_context.spec, mc_context.task.__class__(
        **{**mc_context.task.__dict__, "labelled_support": mc_context.task.labelled_support[:3]}), mc_context.sampler,
        mc_context.work_dir, seed=0)
    out = run_strategy(FewshotParams(k=3, selection="random"), small, "validation")
    assert not out.ok and "at least 4" in out.error
