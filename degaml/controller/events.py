"""The records of an adaptation run, as they are written to its trajectory store (one JSON object per line).

An episode writes, in order:
    baseline                    θ₀'s validation accuracy (the reward threshold)
    decision(step t)            the state the policy saw, its chat prompt, raw constrained JSON, parsed action
    progress(step t)*           what the running strategy is doing (throttled; for live viewers only)
    step(step t)                the strategy's outcome, reward, delta — the durable end of step t
    ... (t = 0..T-1)
    final                       the best configuration and its test accuracy (read once)
    status                      running / cancelled / finished / failed (any time)

`step` is the commit point: a resumed run continues after the last `step`; a `decision` without its `step`
is replayed with the same action (the policy is not asked again), so no step is lost or duplicated.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time: float = Field(default_factory=time.time, description="unix seconds when written")


class Score(BaseModel):
    """An accuracy with its Wilson 95% interval."""

    accuracy: float
    ci95: tuple[float, float]
    n: int


class BaselineEvent(_Event):
    kind: Literal["baseline"] = "baseline"
    adapter: str  # θ₀'s adapter directory
    validation: Score
    seconds: float


class DecisionEvent(_Event):
    kind: Literal["decision"] = "decision"
    step: int
    state: dict[str, Any]  # the observation s_t (see controller.state)
    messages: list[dict[str, str]]  # the chat prompt the policy saw
    raw: str  # the policy's raw (constrained) output text
    action: dict[str, Any] | None  # parsed Action (None when the output did not validate)
    parse_error: str | None = None
    attempts: int = 1
    policy_seconds: float = 0.0


class ProgressEvent(_Event):
    kind: Literal["progress"] = "progress"
    step: int
    what: str
    fraction: float


class StepEvent(_Event):
    kind: Literal["step"] = "step"
    step: int
    action: dict[str, Any] | None
    outcome: dict[str, Any]  # Outcome.summary()
    accuracy: float | None  # validation accuracy after the strategy (None: failed)
    delta: float | None  # accuracy − baseline accuracy (signed)
    reward: int  # 1 iff accuracy > baseline accuracy (strictly)
    best_step: int | None  # step of the best configuration so far (None: θ₀ is still best)
    best_accuracy: float
    seconds: float  # strategy wall-clock


class FinalEvent(_Event):
    kind: Literal["final"] = "final"
    best_step: int | None  # None: no strategy beat θ₀; the baseline adapter is the result
    best_action: dict[str, Any] | None
    best_validation: float
    baseline_validation: float
    test: Score  # the best configuration on the test split
    baseline_test: Score | None  # θ₀ on the test split (None when best is θ₀: same number)
    artifact: str | None
    seconds: float  # whole run


class StatusEvent(_Event):
    kind: Literal["status"] = "status"
    status: Literal["running", "cancelled", "finished", "failed"]
    message: str = ""


Event = Annotated[
    Union[BaselineEvent, DecisionEvent, ProgressEvent, StepEvent, FinalEvent, StatusEvent], Field(discriminator="kind")
]
EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)


def parse_event(line: str) -> BaselineEvent | DecisionEvent | ProgressEvent | StepEvent | FinalEvent | StatusEvent:
    """One JSON line → its typed event (raises pydantic.ValidationError on a malformed record)."""
    return EVENT_ADAPTER.validate_json(line)


class RunHeader(BaseModel):
    """run.json: what this run is (written once, atomically, when the run is created)."""

    model_config = ConfigDict(extra="forbid")
    run_id: str
    created: float
    spec_path: str
    spec: dict[str, Any]  # the resolved spec, so a run is self-describing
    task: str
    model: str
    generator: str
    policy: str
    budget_steps: int
    budget_minutes: float | None
    seed: int
    degaml_version: str
    data: dict[str, Any] | None = None  # DataProvenance of the task data (source used, sha256, skipped sources)
