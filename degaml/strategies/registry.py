"""The strategy families as one discriminated union — the single source of the policy's JSON Schema.

`Action` is what the policy LLM emits (`{"strategy": {"family": ..., ...}}`; Outlines needs the union wrapped in a
model). `run_strategy` dispatches on the family; an expected failure (`StrategyError`) becomes a failed Outcome,
anything else propagates (see `strategies.base`) — an I/O failure hidden in a library's exception (a full disk
while saving) is re-raised as the OSError it is, so the run stops with one line and `--resume` retries the step.

Families that produce a new adapter from the current one (`WEIGHT_FAMILIES`) compose in a cumulative episode;
prediction-time families (`PREDICTION_FAMILIES`) change how the current adapter predicts; those that depend on the
adapter (`ADAPTER_PREDICTORS`) are re-run when a later step refines it, a tts ensemble (over generated adapters) is not.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field

from degaml.io import as_os_error
from degaml.specs.model import TaskSpec
from degaml.strategies.base import Outcome, ScoredSplit, StrategyContext, StrategyError, Timer
from degaml.strategies.calibrate import CalibrateParams, run_calibrate
from degaml.strategies.fewshot import FewshotParams, run_fewshot
from degaml.strategies.library_mix import LibraryMixParams, run_library_mix
from degaml.strategies.mixing import MixingParams, run_mixing
from degaml.strategies.slot import SlotParams, run_slot
from degaml.strategies.support_sft import SupportSFTParams, run_support_sft
from degaml.strategies.tfew import TFewParams, run_tfew
from degaml.strategies.ttt import TTTParams, run_ttt
from degaml.strategies.tts import TTSParams, run_tts

StrategyParams = Annotated[Union[TTTParams, TTSParams, MixingParams, SlotParams, SupportSFTParams, TFewParams,
                                 LibraryMixParams, CalibrateParams, FewshotParams], Field(discriminator="family")]
RUNNERS = {"ttt": run_ttt, "tts": run_tts, "lora_mix": run_mixing, "slot": run_slot, "support_sft": run_support_sft,
           "tfew": run_tfew, "library_mix": run_library_mix, "calibrate": run_calibrate, "fewshot": run_fewshot}
WEIGHT_FAMILIES = frozenset({"ttt", "lora_mix", "support_sft", "tfew", "library_mix"})  # new adapter from the current one
PREDICTION_FAMILIES = frozenset({"tts", "slot", "calibrate", "fewshot"})  # how the current adapter predicts
ADAPTER_PREDICTORS = frozenset({"slot", "calibrate", "fewshot"})  # predictors re-run on a refined adapter (not tts)
# weight families whose adapter depends only on the starting adapter, the labelled support and the seed — never on the
# scored split: the test replay scores the adapter validation chose instead of training it again (TTT reads the split)
SUPPORT_FITTED = frozenset({"lora_mix", "support_sft", "tfew", "library_mix"})
FAMILIES: tuple[str, ...] = tuple(RUNNERS)
MULTIPLE_CHOICE_ONLY = frozenset({"calibrate", "tfew"})  # they score or train on the answer options


def unavailable_families(spec: TaskSpec) -> frozenset[str]:
    """Families that cannot run on `spec` (known from the spec alone): `calibrate` and `tfew` need answer options,
    `library_mix` needs a LoRA library (`adapt.library`). Policies are not offered their actions."""
    out = set() if spec.format == "multiple_choice" else set(MULTIPLE_CHOICE_ONLY)
    if spec.adapt.library is None:
        out.add("library_mix")
    return frozenset(out)


class Action(BaseModel):
    """One decision of the adaptation policy: which strategy to run, with which parameters."""

    model_config = ConfigDict(extra="forbid")
    strategy: StrategyParams


def action_json_schema() -> dict[str, Any]:
    """JSON Schema of `Action` (what Outlines constrains the policy's output to)."""
    return Action.model_json_schema()


def run_strategy(params: BaseModel, ctx: StrategyContext, split: ScoredSplit) -> Outcome:
    """Run one strategy and score it on `split`; an expected failure comes back as `ok=False`, anything else raises."""
    family = params.family  # type: ignore[attr-defined]
    timer = Timer()
    try:
        return RUNNERS[family](params, ctx, split)
    except StrategyError as exc:
        return Outcome(family, params.model_dump(by_alias=True), split, ok=False, accuracy=None,
                       seconds=timer.seconds, log=[f"failed: {exc}"], error=str(exc)[:500])
    except Exception as exc:
        if (io_error := as_os_error(exc)) is not None:  # e.g. safetensors' ENOSPC: report it as the I/O error it is
            raise io_error from exc
        raise
