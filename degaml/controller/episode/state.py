"""The policy's observation s_t and its rendering into a chat prompt (paper eq. 4, App. F.2).

s_t = task description and format, a few unlabeled support questions, the answer profile of the labelled support
(how many items, how many distinct answers, the most common one and its share: an answer-prior signal), θ₀'s
validation accuracy, the current configuration (what it is made of), its accuracy (the reward threshold), balanced
accuracy and collapse rate (share of its most common prediction: a prior shift shows as collapse up, balanced flat),
the reward rule and metric, the history of actions with their accuracy, delta, reward and cost, and the remaining budget (steps;
minutes left after the test scoring's reserve, and each strategy family's estimated minutes on this machine). Both
classes are pydantic dataclasses: typed and validated, and their JSON Schema comes from pydantic. The system message describes the action space from the strategies' JSON Schema (the same
schema Outlines constrains the output to — one source of truth).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, field
from typing import Any

from pydantic.dataclasses import dataclass

from degaml.data.example import Example

MAX_QUESTION_CHARS = 240


@dataclass
class HistoryItem:
    step: int
    action: dict[str, Any] | None
    accuracy: float | None
    delta: float | None
    reward: int
    seconds: float


@dataclass
class PolicyState:
    task: str
    description: str
    format: str
    examples: list[str]
    baseline: float  # θ₀'s validation accuracy
    best: float
    n_validation: int
    step: int
    steps_total: int
    minutes_left: float | None
    history: list[HistoryItem] = field(default_factory=list)
    current: str = "θ₀"  # what the current configuration is made of (controller.rollout.Configuration.describe)
    reward_rule: str = "strict"
    support_answers: str = ""  # answer_profile() of the labelled support ("" when there is none)
    family_minutes: dict[str, float] = field(default_factory=dict)  # estimated minutes of each family's cheapest action
    reserve_minutes: float | None = None  # kept back for the final test scoring (included in minutes_left's budget)
    metric: str = "acc"  # what the reward compares: acc | balanced_acc (spec adapt.metric)
    balanced: float | None = None  # the current configuration's validation balanced accuracy (classification-like)
    collapse: float | None = None  # share of the current configuration's most common validation prediction

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyState:
        data = dict(data)
        data["history"] = [HistoryItem(**h) for h in data.get("history", [])]
        return cls(**data)


def answer_profile(labelled: Sequence[Example]) -> str:
    """'20 labelled; 2 distinct answers; most common "Yes" (14 of 20)' — multiple-choice answers as letters."""
    answers = [chr(65 + a) if isinstance(a, int) else " ".join(str(a).split()) for a in (ex.answer for ex in labelled)
               if a is not None]
    if not answers:
        return ""
    top, count = Counter(answers).most_common(1)[0]
    distinct = len(set(answers))
    return f"{len(answers)} labelled; {distinct} distinct answer{'s' * (distinct != 1)}; most common {json.dumps(_clip(top, 40))} ({count} of {len(answers)})"


def _clip(text: str, limit: int = MAX_QUESTION_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_action_space(schema: dict[str, Any]) -> str:
    """One line per strategy family: its fields, allowed values and descriptions, read from the JSON Schema."""
    defs = schema.get("$defs", {})
    lines = []
    for ref in schema["properties"]["strategy"].get("oneOf", schema["properties"]["strategy"].get("anyOf", [])):
        family_schema = defs[ref["$ref"].split("/")[-1]]
        props = family_schema["properties"]
        family = props["family"].get("const") or props["family"].get("enum", ["?"])[0]
        parts = []
        for name, prop in props.items():
            if name == "family":
                continue
            values = prop.get("enum") or ([prop["const"]] if "const" in prop else None)
            allowed = "|".join(json.dumps(v) for v in values) if values else prop.get("type", "value")
            if prop.get("type") == "boolean":
                allowed = "true|false"
            parts.append(f"{name} ∈ {allowed}")
        doc = " ".join(family_schema.get("description", "").split()).split(". ")[0]
        lines.append(f"- {family}: {', '.join(parts)} — {doc}")
    return "\n".join(lines)


def system_prompt(schema: dict[str, Any]) -> str:
    return (
        "You are the adaptation policy of DeGAML-LLM. A parameter generator produced a LoRA adapter for a new task "
        "from unlabeled examples. Pick ONE adaptation strategy to improve its validation accuracy. "
        "Answer with JSON {\"strategy\": {...}} using one family:\n" + describe_action_space(schema)
    )


def _history_line(h: HistoryItem) -> str:
    action = json.dumps((h.action or {}).get("strategy", h.action), separators=(",", ":")) if h.action else "invalid output"
    if h.accuracy is None:
        return f"step {h.step}: {action} → failed (reward 0, {h.seconds:.0f} s)"
    return f"step {h.step}: {action} → accuracy {h.accuracy:.3f} (delta {h.delta:+.3f}, reward {h.reward}, {h.seconds:.0f} s)"


def user_prompt(state: PolicyState) -> str:
    """What is constant within an episode comes first, what changes each step last: the next decision reuses the
    KV cache of everything before the newest history line (`policy_decoding`)."""
    lines = [f"Task: {state.task} ({state.format}). {state.description}".strip()]
    if state.examples:
        lines.append("Unlabeled examples:")
        lines += [f"  {i + 1}. {_clip(q)}" for i, q in enumerate(state.examples)]
    if state.support_answers:
        lines.append(f"Labelled support answers: {state.support_answers}.")
    lines.append(f"Validation accuracy of the generated adapter: {state.baseline:.3f} on {state.n_validation} items.")
    rule = "a significant paired gain on the same items" if state.reward_rule == "paired" else "any gain"
    measure = " in balanced accuracy (mean recall over the gold answers)" if state.metric == "balanced_acc" else ""
    lines.append(f"Each strategy starts from the current configuration and is kept only for {rule}{measure}.")
    if state.history:
        lines.append("Tried so far:")
        lines += [f"  {_history_line(h)}" for h in state.history]
    if state.family_minutes:
        costs = ", ".join(f"{family} {minutes:.1f}" for family, minutes in state.family_minutes.items())
        lines.append(f"Estimated minutes per strategy (cheapest setting, on this machine): {costs}.")
    budget = f"Current: {state.current}, accuracy {state.best:.3f}"
    if state.balanced is not None:
        budget += f", balanced accuracy {state.balanced:.3f}"
    if state.collapse is not None:
        budget += f", most common prediction on {state.collapse:.0%} of items"
    budget += f". Step {state.step + 1} of {state.steps_total}"
    if state.minutes_left is not None:
        budget += f", {state.minutes_left:.1f} min left"
        if state.reserve_minutes is not None:
            budget += f" after {state.reserve_minutes:.1f} min reserved for the test split"
    lines.append(budget + ". Choose a strategy not tried yet that should beat the current accuracy.")
    return "\n".join(lines)


def render_messages(state: PolicyState, schema: dict[str, Any]) -> list[dict[str, str]]:
    """The chat prompt of s_t."""
    return [{"role": "system", "content": system_prompt(schema)}, {"role": "user", "content": user_prompt(state)}]
