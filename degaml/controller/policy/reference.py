"""Reference policies for judging a trained one: a uniformly random action, and one fixed action.

Both answer `decide(messages, config, seed, tried)` like `Policy`, so an episode runs them unchanged
(`adapt.policy: random` in a spec, or `Runtime(ctx, FixedPolicy(action))` in code). The random policy draws a
family uniformly, then each parameter uniformly from its Literal grid (read from the action JSON Schema, the same
one the LLM policy is constrained to), avoiding the actions in `tried` (tried ones, and those the episode's budget
rules out) when the grid allows: by redrawing, then — when redraws keep hitting excluded actions — uniformly over
the families that have an allowed action and their allowed actions. The fixed policy ignores `tried`; an episode
does not start its action when it does not fit in the budget.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from degaml.controller.policy.action_language import all_actions
from degaml.controller.policy.model import Decision, canonical
from degaml.specs.model import AdaptConfig, TaskSpec


def random_action(schema: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A uniformly random family, then uniformly random values of its parameters."""
    defs = schema["$defs"]
    ref = rng.choice(schema["properties"]["strategy"]["oneOf"])["$ref"].split("/")[-1]
    out: dict[str, Any] = {}
    for name, prop in defs[ref]["properties"].items():
        values = prop.get("enum") or ([prop["const"]] if "const" in prop else [True, False])
        out[name] = rng.choice(values)
    return {"strategy": out}


class RandomPolicy:
    """Uniformly random actions, seeded by (`salt`, `offset`, the episode's step seed).

    `salt` (the task name in an episode) keeps draws independent across tasks; `offset` selects an independent
    stream for the same task (several random baselines).
    """

    name = "random"
    decision_prior_seconds = 0.0  # what a decision costs before one was measured (the budget's estimate)

    def __init__(self, offset: int = 0, salt: str = "") -> None:
        from degaml.strategies.registry import action_json_schema

        self.schema = action_json_schema()
        self.offset = offset
        self.salt = salt

    def decide(self, messages: list[dict[str, str]], config: AdaptConfig, seed: int, tried: set[str],
               progress: object = None) -> Decision:
        start = time.perf_counter()
        rng = random.Random(f"random-policy:{self.salt}:{self.offset}:{seed}")
        action = random_action(self.schema, rng)
        for _ in range(100):  # the grid has > 100 actions: a fresh one is found unless nearly all were tried
            if canonical(action) not in tried:
                break
            action = random_action(self.schema, rng)
        else:
            action = allowed_action(tried, rng) or action
        return Decision(json.dumps(action), action, None, 1, time.perf_counter() - start)


def allowed_action(excluded: set[str], rng: random.Random) -> dict[str, Any] | None:
    """A uniformly random family among those with an action outside `excluded`, then one of its allowed actions
    uniformly; None when every action is excluded."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for action in all_actions():
        if canonical(action) not in excluded:
            by_family.setdefault(action["strategy"]["family"], []).append(action)
    if not by_family:
        return None
    return rng.choice(by_family[rng.choice(sorted(by_family))])


class FixedPolicy:
    """Always the same action (a 'single fixed strategy' baseline)."""

    def __init__(self, action: dict[str, Any]) -> None:
        from degaml.strategies.registry import Action

        self.action = Action.model_validate(action).model_dump(mode="json", by_alias=True)
        self.name = f"fixed:{self.action['strategy']['family']}"
        self.decision_prior_seconds = 0.0

    def decide(self, messages: list[dict[str, str]], config: AdaptConfig, seed: int, tried: set[str],
               progress: object = None) -> Decision:
        return Decision(json.dumps(self.action), self.action, None, 1, 0.0)


def unavailable_actions(spec: TaskSpec) -> set[str]:
    """The canonical actions of the families that cannot run on `spec` (excluded from what a policy is offered)."""
    from degaml.strategies.registry import unavailable_families

    families = unavailable_families(spec)
    return {canonical(a) for a in all_actions() if a["strategy"]["family"] in families}
