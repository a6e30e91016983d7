"""The four strategy families as one discriminated union — the single source of the policy's JSON Schema.

`Action` is what the policy LLM emits (`{"strategy": {"family": ..., ...}}`; Outlines needs the union wrapped in a
model). `run_strategy` dispatches on the family; an exception becomes a failed Outcome, except an I/O failure
(a full disk while saving), which is re-raised as OSError: it stops the run and is never recorded as an outcome.
"""

from __future__ import annotations

import traceback
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field

from degaml.io import as_os_error
from degaml.strategies.base import Outcome, ScoredSplit, StrategyContext, Timer
from degaml.strategies.mixing import MixingParams, run_mixing
from degaml.strategies.slot import SlotParams, run_slot
from degaml.strategies.ttt import TTTParams, run_ttt
from degaml.strategies.tts import TTSParams, run_tts

StrategyParams = Annotated[Union[TTTParams, TTSParams, MixingParams, SlotParams], Field(discriminator="family")]
RUNNERS = {"ttt": run_ttt, "tts": run_tts, "lora_mix": run_mixing, "slot": run_slot}
FAMILIES: tuple[str, ...] = tuple(RUNNERS)


class Action(BaseModel):
    """One decision of the adaptation policy: which strategy to run, with which parameters."""

    model_config = ConfigDict(extra="forbid")
    strategy: StrategyParams


def action_json_schema() -> dict[str, Any]:
    """JSON Schema of `Action` (what Outlines constrains the policy's output to)."""
    return Action.model_json_schema()


def run_strategy(params: BaseModel, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Run one strategy and score it on `split`; failures come back as `ok=False`, never as exceptions."""
    family = params.family  # type: ignore[attr-defined]
    timer = Timer()
    try:
        return RUNNERS[family](params, ctx, split)
    except Exception as exc:  # noqa: BLE001 - a failing strategy must not crash the controller
        if (io_error := as_os_error(exc)) is not None:  # a full disk is not the strategy's outcome: stop the run
            raise io_error from exc
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Outcome(family, params.model_dump(by_alias=True), split, ok=False, accuracy=None,
                       seconds=timer.seconds, log=[f"failed: {last}"], error=last[:500])
