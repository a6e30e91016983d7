"""A per-machine cost model of the strategy families: what a scored item, a training step and a decision cost here.

    rates (per machine key)   score_item       seconds per scored item (θ₀'s validation scoring measures it)
                              train_row_step   seconds per training row-step (one batch row through forward+backward,
                                               at this task's sequence length; the weight families measure it)
                              decision         seconds per policy decision, by policy
                              scale            per family: measured / estimated seconds (what the work units miss)

An action's work is counted in scoring passes over the split and training row-steps (`work_units`); its estimate is
`scale[family] × (passes × n × score_item + rows × train_row_step)`. Rates are measured as the episode runs (from
its stored events, so a resumed run rebuilds them) and kept between runs in one small JSON file per machine
(`cost_file()`: $DEGAML_COST_FILE, else <degaml cache>/costs.json), keyed by the CPU flags, model, device, dtype and
task (the task fixes the sequence length). The file is written atomically; a corrupt one is a one-line error naming
it (`DegamlError`), never silently overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from degaml.errors import DegamlError
from degaml.io import write_json

EMA = 0.5  # weight of a new measurement
PRIOR_DECISION_SECONDS = 30.0  # an LLM decision before any was measured (the first one also compiles the index)
PRIOR_SCORE_ITEM = 1.0  # seconds per scored item before θ₀'s scoring measured it


class Rates(BaseModel):
    """Measured rates of one machine key (None: not measured yet)."""

    model_config = ConfigDict(extra="forbid")
    score_item: float | None = Field(None, ge=0)
    train_row_step: float | None = Field(None, ge=0)
    decision: dict[str, float] = Field(default_factory=dict)
    scale: dict[str, float] = Field(default_factory=dict)
    observations: int = Field(0, ge=0)


class CostFile(BaseModel):
    """The cost file: rates by machine key."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    entries: dict[str, Rates] = Field(default_factory=dict)


def cost_file() -> Path:
    """Where this machine's cost model lives: $DEGAML_COST_FILE, else <degaml cache>/costs.json."""
    from degaml.models.cache import cache_root

    return Path(os.environ.get("DEGAML_COST_FILE") or cache_root() / "costs.json")


def machine_key(cpu_flags: list[str], model: str, device: str, dtype: str, task: str) -> str:
    """The key rates are kept under: the matmul-relevant CPU flags, model, device, dtype and task."""
    return "|".join([",".join(sorted(cpu_flags)) or "-", model, device, dtype, task])


def read_costs(path: Path) -> CostFile:
    """The cost file at `path` (empty when there is none); a corrupt file raises a one-line `DegamlError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return CostFile()
    except OSError as exc:
        raise DegamlError(f"{path}: cannot read the cost file ({exc.strerror or exc})") from exc
    try:
        return CostFile.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "file"
        raise DegamlError(f"{path}: corrupt cost file ({where}: {first.get('msg', 'invalid')}); delete it to start "
                          "afresh") from exc


def _ema(old: float | None, new: float) -> float:
    return new if old is None else (1 - EMA) * old + EMA * new


def work_units(action: dict[str, Any], n_items: int, n_labelled: int) -> tuple[float, float]:
    """(scoring passes over the split, training row-steps) of one run of `action` on a split of `n_items`."""
    s = action.get("strategy", action)
    family = s.get("family")
    labelled = max(1, n_labelled)
    if family == "ttt":
        return 1.0, float(s["ttl_steps"] * s["batch_size"])
    if family in ("support_sft", "tfew"):
        return 1.0, float(s["steps"] * min(s["batch_size"], labelled))
    if family == "tts":
        return float(s["num_prompt_batches"]), 0.0
    if family == "slot":
        return 1.0 + 0.5 * s["times"], 0.0
    if family == "fewshot":
        return 1.0 + 0.3 * s["k"], 0.0
    if family == "library_mix":
        return 1.0 + 0.05 * s["budget"], 0.0
    if family == "calibrate":
        return 1.2, 0.0
    return 1.0, 0.0  # lora_mix and any family without a better count: one scoring pass


class CostModel:
    """Rates of one machine key, updated by measurements, saved to the cost file (atomically)."""

    def __init__(self, key: str, path: Path | None = None) -> None:
        self.key = key
        self.path = path
        self.rates = read_costs(path).entries.get(key, Rates()) if path is not None else Rates()

    # -- estimates ------------------------------------------------------------------------------------------------
    def score_item(self) -> float:
        return self.rates.score_item if self.rates.score_item is not None else PRIOR_SCORE_ITEM

    def train_row_step(self) -> float:
        """Seconds per training row-step; before any training was measured, one scored item's time."""
        return self.rates.train_row_step if self.rates.train_row_step is not None else self.score_item()

    def decision(self, policy: str, prior: float = PRIOR_DECISION_SECONDS) -> float:
        return self.rates.decision.get(policy, prior)

    def action_seconds(self, action: dict[str, Any], n_items: int, n_labelled: int) -> float:
        passes, rows = work_units(action, n_items, n_labelled)
        family = action.get("strategy", action).get("family", "")
        return self.rates.scale.get(family, 1.0) * (passes * n_items * self.score_item() + rows * self.train_row_step())

    # -- measurements ---------------------------------------------------------------------------------------------
    def observe_scoring(self, seconds: float, n_items: int) -> None:
        if n_items > 0 and seconds > 0:
            self.rates.score_item = _ema(self.rates.score_item, seconds / n_items)
            self.rates.observations += 1

    def observe_decision(self, policy: str, seconds: float) -> None:
        self.rates.decision[policy] = _ema(self.rates.decision.get(policy), max(0.0, seconds))
        self.rates.observations += 1

    def observe_action(self, action: dict[str, Any], seconds: float, n_items: int, n_labelled: int) -> None:
        """A strategy run of `seconds` (from θ₀'s scoring on, the score rate is known): the training rate from the
        part scoring does not explain, then the family's scale from what is still off."""
        if seconds <= 0 or n_items <= 0:
            return
        passes, rows = work_units(action, n_items, n_labelled)
        family = action.get("strategy", action).get("family", "")
        if rows > 0:
            training = max(seconds - passes * n_items * self.score_item(), 0.05 * seconds)
            self.rates.train_row_step = _ema(self.rates.train_row_step, training / rows)
        unscaled = passes * n_items * self.score_item() + rows * self.train_row_step()
        if unscaled > 0:
            self.rates.scale[family] = _ema(self.rates.scale.get(family), seconds / unscaled)
        self.rates.observations += 1

    def save(self) -> None:
        """Merge this key's rates into the cost file (re-read first: other keys are kept), atomically."""
        if self.path is None:
            return
        data = read_costs(self.path)
        data.entries[self.key] = self.rates
        write_json(self.path, data.model_dump(mode="json"), indent=1)
