"""What an episode's stored events say: the work recorded so far, the current configuration, the configuration a
step started from, and the adapter each step's validation run wrote (reused by the test replay)."""

from __future__ import annotations

from degaml.controller.episode.rollout import Configuration
from degaml.controller.store.events import BaselineEvent, StepEvent


def elapsed_seconds(events: list) -> float:
    """Seconds of work recorded in the store (a resumed run keeps counting from there)."""
    total = 0.0
    for e in events:
        if e.kind == "baseline":
            total += e.seconds
        elif e.kind == "decision":
            total += e.policy_seconds
        elif e.kind == "step":
            total += e.seconds
    return total


def configuration_after(base: BaselineEvent, steps: list[StepEvent]) -> Configuration:
    """The current configuration of an episode: the one stored with its last step, else θ₀'s."""
    for s in reversed(steps):
        if s.configuration is not None:
            return Configuration.model_validate(s.configuration)
    answers = base.validation.answers or {}
    return Configuration(adapter=base.adapter, accuracy=base.validation.accuracy, correct=base.correct,
                         balanced_accuracy=answers.get("balanced_accuracy"), collapse_rate=answers.get("collapse_rate"))


def fitted_adapters(steps: list[StepEvent]) -> dict[int, str]:
    """The adapter each step's validation run wrote (a weight step followed by a predictor re-run: its first part)."""
    out: dict[int, str] = {}
    for s in steps:
        outcome = s.outcome or {}
        first = (outcome.get("parts") or [outcome])[0]
        if first.get("artifact"):
            out[s.step] = str(first["artifact"])
    return out


def started_from(step: StepEvent, steps: list[StepEvent]) -> list[int]:
    """The chain of the configuration `step` started from (the configuration stored with the step before it)."""
    before = [s for s in steps if s.step < step.step and s.configuration is not None]
    return list(before[-1].configuration["chain"]) if before else []
