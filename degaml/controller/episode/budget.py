"""The time budget of an episode: which actions still fit, what each family costs, when to stop.

    left(t)      = budget − work recorded in the store (θ₀'s scoring, decisions, steps: a resumed run counts on)
    fits(a | c)  ⇔ decision + cost(a from c on validation) + final(c + a) ≤ left(t)
    final(c)     = θ₀ on test + the accepted chain of c replayed on test      (reserved up front; a support-fitted
                   step reuses its validation adapter: scoring only)

Costs come from the per-machine `CostModel`, measured from this run's stored events (so a resume rebuilds them) on
top of earlier runs on this machine. Actions that do not fit are excluded from the policy's constraint exactly as
tried ones are (`Episode.decide` passes them with the tried set); when none fits, the episode stops and scores its
accepted chain. A policy that still returns one (a fixed policy) is stopped before the action starts.
"""

from __future__ import annotations

from typing import Any

from degaml.controller.episode.cost_model import PRIOR_DECISION_SECONDS, CostModel, cost_file, machine_key
from degaml.controller.episode.rollout import next_predictor
from degaml.controller.policy.action_language import all_actions, canonical
from degaml.models.compute import matmul_flags
from degaml.strategies.registry import ADAPTER_PREDICTORS, SUPPORT_FITTED, WEIGHT_FAMILIES


def episode_budget(ctx: Any, policy: Any, minutes: float | None) -> Budget:
    """The budget of an episode on `ctx` (a StrategyContext), its cost model read from this machine's cost file (a
    corrupt file: one line naming it)."""

    flags = matmul_flags()
    dtype = str(getattr(ctx.loaded.model, "dtype", "")).replace("torch.", "")
    key = machine_key(flags, ctx.spec.model, str(ctx.loaded.device), dtype, ctx.spec.task)
    return Budget(CostModel(key, cost_file()), minutes, len(ctx.task.validation), len(ctx.task.test),
                  len(ctx.task.labelled_support), str(getattr(policy, "name", type(policy).__name__)),
                  float(getattr(policy, "decision_prior_seconds", PRIOR_DECISION_SECONDS)))


class Budget:
    """The budget arithmetic of one episode (`minutes` None: no limit, everything fits)."""

    def __init__(self, costs: CostModel, minutes: float | None, n_validation: int, n_test: int, n_labelled: int,
                 policy: str, decision_prior: float) -> None:
        self.costs = costs
        self.seconds = None if minutes is None else minutes * 60
        self.n_validation, self.n_test, self.n_labelled = n_validation, n_test, n_labelled
        self.policy, self.decision_prior = policy, decision_prior

    def decision(self) -> float:
        return self.costs.decision(self.policy, self.decision_prior)

    def step_seconds(self, action: dict[str, Any], predictor: dict[str, Any] | None, n: int) -> float:
        """One run of `action` from a configuration with `predictor` on `n` items (a weight step re-runs the
        predictor on the new adapter)."""

        family = action["strategy"]["family"]
        return self.costs.action_seconds(action, n, self.n_labelled) + (
            self.predictor_rerun(predictor, n) if family in WEIGHT_FAMILIES else 0.0)

    def predictor_rerun(self, predictor: dict[str, Any] | None, n: int) -> float:
        """A predictor that depends on the adapter, re-run on a new adapter over `n` items (0 for none or tts)."""

        if predictor is None or predictor["strategy"]["family"] not in ADAPTER_PREDICTORS:
            return 0.0
        return self.costs.action_seconds(predictor, n, self.n_labelled)

    def final_seconds(self, chain_actions: list[dict[str, Any]]) -> float:
        """θ₀ scored on test, then the chain replayed on test (support-fitted steps before any step that read the
        split reuse their validation adapter: one scoring pass, no training)."""

        seconds = self.n_test * self.costs.score_item()
        predictor, reused = None, True
        for action in chain_actions:
            family = action["strategy"]["family"]
            if reused and family in SUPPORT_FITTED:
                seconds += self.n_test * self.costs.score_item() + self.predictor_rerun(predictor, self.n_test)
            else:
                seconds += self.step_seconds(action, predictor, self.n_test)
                reused &= family not in WEIGHT_FAMILIES
            predictor = next_predictor(predictor, action, family in WEIGHT_FAMILIES)
        return seconds

    def left(self, elapsed: float) -> float | None:
        return None if self.seconds is None else self.seconds - elapsed

    def cost(self, action: dict[str, Any], chain_actions: list[dict[str, Any]], predictor: dict[str, Any] | None) -> float:
        """Seconds `action` commits from a configuration (chain, predictor): its run on validation plus the growth of
        the final replay were it accepted."""
        return self.step_seconds(action, predictor, self.n_validation) + self.final_seconds([*chain_actions, action])

    def unaffordable(self, elapsed: float, chain_actions: list[dict[str, Any]], predictor: dict[str, Any] | None,
                     with_decision: bool = True) -> set[str]:
        """Canonical texts of the actions that do not fit in what is left (after a decision, when `with_decision`)."""
        left = self.left(elapsed)
        if left is None:
            return set()
        left -= self.decision() if with_decision else 0.0
        return {canonical(a) for a in all_actions() if self.cost(a, chain_actions, predictor) > left}

    def family_minutes(self, predictor: dict[str, Any] | None) -> dict[str, float]:
        """Estimated minutes of each family's cheapest action from this configuration (its validation run)."""
        out: dict[str, float] = {}
        for action in all_actions():
            family = action["strategy"]["family"]
            minutes = self.step_seconds(action, predictor, self.n_validation) / 60
            out[family] = min(out.get(family, minutes), minutes)
        return out

    def reserve_minutes(self, chain_actions: list[dict[str, Any]]) -> float:
        return self.final_seconds(chain_actions) / 60

    def observe(self, event: Any) -> bool:
        """Learn from a stored event (θ₀'s scoring, a decision, a strategy run that was not a reused repeat); True
        when the cost model changed."""
        if event.kind == "baseline":
            self.costs.observe_scoring(event.seconds, self.n_validation)
        elif event.kind == "decision":
            self.costs.observe_decision(self.policy, event.policy_seconds)
        elif event.kind == "step" and event.action is not None and event.accuracy is not None:
            if any(str(line).startswith("repeat of step") for line in (event.outcome or {}).get("log", [])):
                return False
            self.costs.observe_action(event.action, event.seconds, self.n_validation, self.n_labelled)
        else:
            return False
        return True

    def nothing_fits(self, tried: set[str], unaffordable: set[str]) -> bool:
        """True when a budget is set and every action is tried or does not fit (the episode stops)."""
        return self.seconds is not None and not {canonical(a) for a in all_actions()} - tried - unaffordable

    def blocks(self, action: dict[str, Any] | None, tried: set[str], unaffordable: set[str]) -> bool:
        """True when `action` must not start: it does not fit (a repeat of a tried action is free: reused)."""
        return action is not None and canonical(action) not in tried and canonical(action) in unaffordable
