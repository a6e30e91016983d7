"""One adaptation episode (paper Algorithm 2 at test time, cumulative): θ₀ from the frozen generator, T decisions.

    θ₀ ← generator(support prompts)                      (no gradient reaches the generator)
    c₀ ← (θ₀, no predictor); acc(c₀, validation)          the baseline, with its per-item correctness
    for t in 0..T-1:  s_t (what c_t is made of, history, budget) → policy → action a_t (constrained JSON)
                      c' ← a_t applied to c_t (controller.rollout); r_t = reward(c' vs c_t) (strict or paired)
                      c_{t+1} ← c' if r_t = 1 else c_t
    final: the accepted chain of c_T is replayed on the test split once; θ₀ is scored on test too

Time budget (`adapt.budget_minutes`, `controller.episode.budget`): the final test scoring is reserved up front;
actions whose estimated cost (a per-machine cost model, measured as the run goes) does not fit what is left are
excluded from the policy's constraint like tried ones; when none fits the episode stops and scores its chain.

Every record goes through the TrajectoryStore before the next step starts; `run_episode` on a store that already
holds events continues where it stopped (a decision without its step is replayed with the same action; the current
configuration is the one stored with the last step). An action already tried from the same configuration is not
re-run: its transition is reused (strategies are seeded, so the outcome would be the same).
Failures: a strategy's expected failure (divergence, NaN, a precondition) is a step with reward 0; anything else
(a bug, out of memory, a full disk) is not a strategy outcome — the run stops as `failed` and `--resume` retries it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from degaml.controller.store.events import BaselineEvent, DecisionEvent, FinalEvent, ProgressEvent, Score, StatusEvent, StepEvent
from degaml.controller.policy.reference import unavailable_actions
from degaml.controller.policy.model import Decision, Policy, canonical
from degaml.controller.episode.budget import episode_budget
from degaml.models.compute import compute_record
from degaml.models.memory import release_freed_memory
from degaml.controller.episode.reward import bits
from degaml.stats import noise_floor
from degaml.controller.episode.start import choose_start
from degaml.controller.episode.history import configuration_after, elapsed_seconds, fitted_adapters, started_from
from degaml.controller.episode.rollout import Rollout, Transition, correctness, reward_metric
from degaml.controller.episode.observation import observe
from degaml.controller.episode.state import HistoryItem, PolicyState, render_messages
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.strategies.base import StrategyContext

PROGRESS_INTERVAL = 1.0  # seconds between stored progress events


@dataclass
class Runtime:
    """What an episode runs on: the strategy context (model, task, frozen generator) and the policy."""

    ctx: StrategyContext
    policy: Policy  # or a reference policy from controller.baselines (same decide())


def _score(result, per_item: bool = False) -> Score:
    """A stored Score of an EvalResult; `per_item` (the final test scoring) keeps correctness, predicted and gold
    answers per item for paired tests."""
    answers = result.answers.model_dump() if result.answers is not None else None
    if not per_item:
        return Score(accuracy=result.accuracy, ci95=tuple(result.ci95), n=result.n, answers=answers)
    return Score(accuracy=result.accuracy, ci95=tuple(result.ci95), n=result.n, answers=answers,
                 correct=bits(correctness(result)), predicted=[p.prediction for p in result.predictions],
                 gold=[p.gold for p in result.predictions])


class Episode:
    def __init__(self, store: TrajectoryStore, runtime: Runtime, cancel: threading.Event | None = None,
                 on_event: Callable[[object], None] | None = None) -> None:
        self.store = store
        self.rt = runtime
        self.spec = runtime.ctx.spec
        self.cancel = cancel or threading.Event()
        self.on_event = on_event
        self._last_progress = 0.0
        cfg = self.spec.adapt
        self.rollout = Rollout(runtime.ctx, cfg.reward, cfg.alpha, metric=reward_metric(cfg.metric, self.spec.format))
        self.budget = episode_budget(runtime.ctx, runtime.policy, cfg.budget_minutes)

    def _learn(self, event) -> None:
        if self.budget.observe(event):
            self.budget.costs.save()

    def _emit(self, event) -> None:
        if not isinstance(event, ProgressEvent):  # a phase ended: its freed pages back to the OS before the next
            release_freed_memory()
        self.store.append(event)
        self._learn(event)
        if self.on_event is not None:
            self.on_event(event)

    def _cancelled(self) -> bool:
        return self.cancel.is_set() or self.store.cancel_requested()

    def _progress(self, step: int) -> Callable[[str, float], None]:
        """Progress of step `step` (strategies, scoring, the policy's decision) as throttled ProgressEvents."""
        def report(what: str, fraction: float) -> None:
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_INTERVAL or fraction >= 1.0:
                self._last_progress = now
                self._emit(ProgressEvent(step=step, what=what[:200], fraction=fraction))
        return report

    # -- pieces ---------------------------------------------------------------------------------------------------
    def baseline(self) -> BaselineEvent:
        found = [e for e in self.store.events() if e.kind == "baseline"]
        if found:
            return found[0]
        start = time.perf_counter()
        adapter = self.rt.ctx.initial_adapter()
        result = replace(self.rt.ctx, progress=self._progress(0)).evaluate("validation", adapter, label="θ₀ baseline")
        adapter, result = choose_start(self.rt.ctx, adapter, result, self.spec.adapt.alpha, self._progress(0))  # residual: θ_union?
        correct = correctness(result)
        event = BaselineEvent(adapter=str(adapter), validation=_score(result), seconds=time.perf_counter() - start,
                              correct=bits(correct), noise=noise_floor(correct, self.spec.adapt.alpha).model_dump(),
                              compute=compute_record(self.rt.ctx.loaded))
        self._emit(event)
        return event

    def state(self, step: int, base: BaselineEvent, steps: list[StepEvent]) -> PolicyState:
        cfg = self.spec.adapt
        config = configuration_after(base, steps)
        left, reserve = self.budget.left(elapsed_seconds(self.store.events())), self.budget.reserve_minutes(config.actions)
        minutes_left = None if left is None else max(0.0, left / 60 - reserve)
        history = [HistoryItem(s.step, s.action, s.accuracy, s.delta, s.reward, s.seconds) for s in steps]
        state = observe(self.rollout, config, base.validation.accuracy, len(self.rt.ctx.task.validation),
                        step, cfg.steps, history, cfg.examples_in_state, minutes_left)
        if left is not None:
            state.family_minutes = {f: round(m, 2) for f, m in self.budget.family_minutes(config.predictor).items()}
            state.reserve_minutes = round(reserve, 2)
        return state

    def excluded(self, base: BaselineEvent, steps: list[StepEvent], with_decision: bool = True) -> tuple[set[str], set[str]]:
        """(actions tried from the current configuration, actions that do not fit in the budget left)."""
        current = configuration_after(base, steps)
        tried = {canonical(s.action) for s in steps if s.action is not None and started_from(s, steps) == current.chain}
        return tried, self.budget.unaffordable(elapsed_seconds(self.store.events()), current.actions, current.predictor,
                                               with_decision)

    def decide(self, step: int, base: BaselineEvent, steps: list[StepEvent]) -> DecisionEvent:
        from degaml.strategies.registry import action_json_schema

        state = self.state(step, base, steps)
        messages = render_messages(state, action_json_schema())
        tried, unaffordable = self.excluded(base, steps)
        offered_not = tried | unaffordable | unavailable_actions(self.spec)  # families that cannot run here: not offered
        d: Decision = self.rt.policy.decide(messages, self.spec.adapt, seed=self.spec.seed + step, tried=offered_not,
                                            progress=self._progress(step))
        event = DecisionEvent(step=step, state=state.to_dict(), messages=messages, raw=d.raw, action=d.action,
                              parse_error=d.error, attempts=d.attempts, policy_seconds=d.seconds)
        self._emit(event)
        return event

    def execute(self, decision: DecisionEvent, base: BaselineEvent, steps: list[StepEvent]) -> StepEvent:
        start = time.perf_counter()
        self.rollout.progress = self._progress(decision.step)
        config = configuration_after(base, steps)
        previous = {canonical(s.action): s for s in steps if s.action is not None and started_from(s, steps) == config.chain}
        if decision.action is None:
            transition = Transition({}, {"ok": False, "error": decision.parse_error or "no valid action",
                                         "log": ["policy output did not validate"]}, None, None)
        elif canonical(decision.action) in previous:
            before = previous[canonical(decision.action)]
            transition = Transition(decision.action, dict(before.outcome) | {"log": [f"repeat of step {before.step}: outcome reused"]},
                                    None, None)
        else:
            work = self.store.run_dir / "work" / f"validation-step-{decision.step:03d}"
            transition = self.rollout.step(decision.action, config, decision.step, work)
        accepted = transition.reward == 1 and transition.candidate is not None
        after = transition.candidate if accepted else config
        accuracy = transition.accuracy
        event = StepEvent(step=decision.step, action=decision.action, outcome=transition.outcome, accuracy=accuracy,
                          delta=None if accuracy is None else accuracy - base.validation.accuracy, reward=transition.reward,
                          best_step=after.chain[-1] if after.chain else None, best_accuracy=after.accuracy,
                          seconds=time.perf_counter() - start,
                          comparison=transition.comparison.model_dump() if transition.comparison else None,
                          configuration=after.model_dump())
        self._emit(event)
        return event

    def finish(self, base: BaselineEvent, steps: list[StepEvent]) -> FinalEvent:
        started = time.perf_counter()
        config = configuration_after(base, steps)
        self.rollout.progress = self._progress(len(steps))
        test_ctx = replace(self.rt.ctx, progress=self.rollout.progress)
        with test_ctx.task.test.released("final scoring"):  # the episode's only read of the test split
            base_test = test_ctx.evaluate("test", Path(base.adapter), label="θ₀ on the test split")
            artifact: str | None = base.adapter
            test, baseline_test, reverted = _score(base_test, per_item=True), None, False
            if config.chain:
                outcome, reverted = self.rollout.replay(config, "test", self.store.run_dir / "work", Path(base.adapter),
                                                        fitted_adapters(steps))
                if outcome is None or outcome.result is None:  # never report a crash as "test 0.0, n=0": a resume retries
                    raise RuntimeError("the accepted chain failed on the test split: "
                                       f"{outcome.error if outcome else 'no outcome'}")
                test, baseline_test = _score(outcome.result, per_item=True), _score(base_test, per_item=True)
                artifact = str(outcome.artifact) if outcome.artifact else None
        failures = sum(1 for s in steps if s.accuracy is None)
        event = FinalEvent(best_step=config.chain[-1] if config.chain else None,
                           best_action=config.actions[-1] if config.actions else None, best_validation=config.accuracy,
                           baseline_validation=base.validation.accuracy, test=test, baseline_test=baseline_test,
                           artifact=artifact, seconds=elapsed_seconds(self.store.events()) + time.perf_counter() - started,
                           chain=config.chain, chain_actions=config.actions, reverted=reverted, failures=failures,
                           reward_rule=self.spec.adapt.reward)
        self._emit(event)
        return event

    def _stop_for_budget(self, step: int, why: str) -> None:
        left = self.budget.left(elapsed_seconds(self.store.events())) or 0.0
        self._emit(StatusEvent(status="running", message=f"budget: stopped before step {step} ({why}; {left / 60:.1f} "
                                                          "min left); the accepted chain is scored on the test split"))

    # -- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> FinalEvent | None:
        """Run (or continue) the episode; returns the final event, or None when cancelled or out of time early."""
        existing = [e for e in self.store.events() if e.kind == "final"]
        if existing:
            return existing[-1]
        self._emit(StatusEvent(status="running"))
        cfg = self.spec.adapt
        try:
            for event in self.store.events():  # a resumed run measures its earlier work again
                self.budget.observe(event)
            base = self.baseline()
            steps = self.store.steps()
            for step in range(len(steps), cfg.steps):
                if self._cancelled():
                    self._emit(StatusEvent(status="cancelled", message=f"cancelled before step {step}"))
                    return None
                pending = self.store.pending_decision()
                if (pending is None or pending.step != step) and self.budget.nothing_fits(*self.excluded(base, steps)):
                    self._stop_for_budget(step, "no untried action fits in the time left")
                    break
                decision = pending if pending is not None and pending.step == step else self.decide(step, base, steps)
                if self.budget.blocks(decision.action, *self.excluded(base, steps, with_decision=False)):
                    self._stop_for_budget(step, f"{decision.action['strategy']['family']} does not fit in the time left")
                    break
                steps.append(self.execute(decision, base, steps))
            if self._cancelled():
                self._emit(StatusEvent(status="cancelled", message="cancelled before the test split"))
                return None
            final = self.finish(base, steps)
        except Exception as exc:
            try:
                self._emit(StatusEvent(status="failed", message=f"{type(exc).__name__}: {exc}"[:500]))
            except OSError:
                pass  # the disk that failed the run may refuse this line too; the original error is what matters
            raise
        self._emit(StatusEvent(status="finished"))
        return final
