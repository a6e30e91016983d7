"""The records of an adaptation run, as they are written to its trajectory store (one JSON object per line).

An episode writes, in order:
    baseline                    θ₀'s validation accuracy (the reward threshold)
    decision(step t)            the state the policy saw, its chat prompt, raw constrained JSON, parsed action
    progress(step t)*           what the running strategy is doing (throttled; for live viewers only)
    step(step t)                the strategy's outcome, reward, delta, the configuration after it — the durable
                                end of step t (episodes are cumulative: see controller.rollout)
    ... (t = 0..T-1)
    final                       the accepted chain replayed on the test split (read once), and θ₀ on test
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
    """An accuracy with its Wilson 95% interval and the answer metrics (degaml.stats.AnswerMetrics)."""

    accuracy: float
    ci95: tuple[float, float]
    n: int
    correct: str = ""  # per-item correctness ('0'/'1', item order of the split) where a paired test needs it
    answers: dict[str, Any] | None = None  # balanced accuracy, macro-F1, per-answer recall, collapse rate
    predicted: list[Any] | None = None  # per-item chosen answers, where `correct` is stored (the final test scoring)
    gold: list[Any] | None = None


class BaselineEvent(_Event):
    kind: Literal["baseline"] = "baseline"
    adapter: str  # θ₀'s adapter directory
    validation: Score
    seconds: float
    correct: str = ""  # θ₀'s per-item validation correctness ('0'/'1'), for paired rewards
    noise: dict[str, Any] | None = None  # degaml.stats.NoiseFloor of the validation split
    compute: dict[str, Any] | None = None  # where the run scored: device, dtype and why (`dtype: auto`'s probe), threads, CPU


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
    accuracy: float | None  # validation accuracy of the candidate configuration (None: failed / reverted)
    delta: float | None  # accuracy − θ₀'s validation accuracy (signed)
    reward: int  # 1 iff the candidate beats the current configuration (adapt.reward: strict or paired)
    best_step: int | None  # last accepted step = the current configuration (None: θ₀ is still current)
    best_accuracy: float  # the current configuration's validation accuracy
    seconds: float  # strategy wall-clock
    comparison: dict[str, Any] | None = None  # controller.reward.Comparison against the configuration it started from
    configuration: dict[str, Any] | None = None  # controller.rollout.Configuration after this step


class FinalEvent(_Event):
    kind: Literal["final"] = "final"
    best_step: int | None  # the last accepted step; None: no strategy beat θ₀, the baseline adapter is the result
    best_action: dict[str, Any] | None  # its action (the whole accepted chain is `chain_actions`)
    best_validation: float
    baseline_validation: float
    test: Score  # the best configuration on the test split
    baseline_test: Score | None  # θ₀ on the test split (None when best is θ₀: same number)
    artifact: str | None
    seconds: float  # whole run
    chain: list[int] = []  # accepted steps replayed on test, in order
    chain_actions: list[dict[str, Any]] = []
    reverted: bool = False  # a step of the chain failed on test and reverted: the result is not what validation chose
    failures: int = 0  # steps whose strategy failed or reverted on validation
    reward_rule: str = "strict"


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
