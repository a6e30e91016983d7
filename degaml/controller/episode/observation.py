"""The policy's observation s_t of an episode's current configuration — one function for `degaml adapt` and the
ReST^EM E-step, so the policy is trained on the states it sees at inference — and a transition's history line."""

from __future__ import annotations

from degaml.controller.episode.rollout import Configuration, Rollout, Transition
from degaml.controller.episode.state import HistoryItem, PolicyState, answer_profile


def observe(rollout: Rollout, config: Configuration, baseline: float, n_validation: int, step: int, steps_total: int,
            history: list[HistoryItem], examples: int, minutes_left: float | None = None) -> PolicyState:
    """s_t — the same observation for `degaml adapt` and the ReST^EM E-step."""
    spec = rollout.ctx.spec
    support = rollout.ctx.support_prompts()[:examples]
    return PolicyState(spec.task, spec.description, spec.format, support, baseline, config.accuracy, n_validation, step,
                       steps_total, minutes_left, list(history), current=config.describe(), reward_rule=rollout.reward_rule,
                       support_answers=answer_profile(rollout.ctx.task.labelled_support), metric=rollout.metric,
                       balanced=_round(config.balanced_accuracy), collapse=_round(config.collapse_rate))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def history_item(step: int, t: Transition, baseline: float) -> HistoryItem:
    acc = t.accuracy
    return HistoryItem(step, t.action, acc, None if acc is None else acc - baseline, t.reward, t.seconds)
