"""One adaptation episode (paper Algorithm 2 at test time): θ₀ from the frozen generator, then T policy decisions.

    θ₀ ← generator(support prompts)                      (no gradient reaches the generator)
    baseline ← acc(θ₀, validation)
    for t in 0..T-1:  s_t → policy → action a_t (constrained JSON) → run strategy on validation
                      r_t = 1 iff acc_t > baseline (strictly); keep the best
    final: the best configuration (or θ₀) is re-run on the test split once; θ₀ is scored on test too

Every record goes through the TrajectoryStore before the next step starts; `run_episode` on a store that already
holds events continues where it stopped (a decision without its step is replayed with the same action).
An action already executed in this episode is not re-run: its outcome is reused (strategies are seeded, so the
outcome would be the same).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from degaml.controller.events import BaselineEvent, DecisionEvent, FinalEvent, ProgressEvent, Score, StatusEvent, StepEvent
from degaml.controller.policy import Decision, Policy, canonical
from degaml.controller.state import HistoryItem, PolicyState, render_messages
from degaml.controller.store import TrajectoryStore
from degaml.strategies.base import Outcome, StrategyContext

PROGRESS_INTERVAL = 1.0  # seconds between stored progress events


@dataclass
class Runtime:
    """What an episode runs on: the strategy context (model, task, frozen generator) and the policy."""

    ctx: StrategyContext
    policy: Policy  # or a reference policy from controller.baselines (same decide())


def _score(result) -> Score:
    return Score(accuracy=result.accuracy, ci95=tuple(result.ci95), n=result.n)


def _elapsed(events: list) -> float:
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


class Episode:
    def __init__(self, store: TrajectoryStore, runtime: Runtime, cancel: threading.Event | None = None,
                 on_event: Callable[[object], None] | None = None) -> None:
        self.store = store
        self.rt = runtime
        self.spec = runtime.ctx.spec
        self.cancel = cancel or threading.Event()
        self.on_event = on_event
        self._last_progress = 0.0

    def _emit(self, event) -> None:
        self.store.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _cancelled(self) -> bool:
        return self.cancel.is_set() or self.store.cancel_requested()

    # -- pieces ---------------------------------------------------------------------------------------------------
    def baseline(self) -> BaselineEvent:
        found = [e for e in self.store.events() if e.kind == "baseline"]
        if found:
            return found[0]
        start = time.perf_counter()
        adapter = self.rt.ctx.initial_adapter()
        result = replace(self.rt.ctx, progress=self._progress(0)).evaluate("validation", adapter, label="θ₀ baseline")
        event = BaselineEvent(adapter=str(adapter), validation=_score(result), seconds=time.perf_counter() - start)
        self._emit(event)
        return event

    def state(self, step: int, baseline: float, steps: list[StepEvent]) -> PolicyState:
        cfg = self.spec.adapt
        minutes_left = None
        if cfg.minutes is not None:
            minutes_left = max(0.0, cfg.minutes - _elapsed(self.store.events()) / 60)
        support = self.rt.ctx.support_prompts()[: cfg.examples_in_state]
        history = [HistoryItem(s.step, s.action, s.accuracy, s.delta, s.reward, s.seconds) for s in steps]
        best = max([baseline] + [s.accuracy for s in steps if s.accuracy is not None])
        return PolicyState(self.spec.task, self.spec.description, self.spec.format, support, baseline, best,
                           len(self.rt.ctx.task.validation), step, cfg.steps, minutes_left, history)

    def decide(self, step: int, baseline: float, steps: list[StepEvent]) -> DecisionEvent:
        from degaml.strategies.registry import action_json_schema

        state = self.state(step, baseline, steps)
        messages = render_messages(state, action_json_schema())
        tried = {canonical(s.action) for s in steps if s.action is not None}
        d: Decision = self.rt.policy.decide(messages, self.spec.adapt, seed=self.spec.seed + step, tried=tried,
                                            progress=self._progress(step))
        event = DecisionEvent(step=step, state=state.to_dict(), messages=messages, raw=d.raw, action=d.action,
                              parse_error=d.error, attempts=d.attempts, policy_seconds=d.seconds)
        self._emit(event)
        return event

    def _progress(self, step: int) -> Callable[[str, float], None]:
        def report(what: str, fraction: float) -> None:
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_INTERVAL or fraction >= 1.0:
                self._last_progress = now
                self._emit(ProgressEvent(step=step, what=what[:200], fraction=fraction))
        return report

    def run_action(self, step: int, action: dict, split: str) -> Outcome:
        from degaml.strategies.registry import Action, run_strategy

        params = Action.model_validate(action).strategy
        ctx = self.rt.ctx
        step_ctx = StrategyContext(ctx.loaded, ctx.spec, ctx.task, ctx.sampler, self.store.run_dir / "work" / f"{split}-step-{step:03d}",
                                   seed=ctx.seed, progress=self._progress(step), _initial=ctx.initial_adapter())
        return run_strategy(params, step_ctx, split)  # type: ignore[arg-type]

    def execute(self, decision: DecisionEvent, baseline: float, steps: list[StepEvent]) -> StepEvent:
        start = time.perf_counter()
        best_step, best_acc = None, baseline
        for s in steps:
            if s.accuracy is not None and s.accuracy > best_acc:
                best_step, best_acc = s.step, s.accuracy
        previous = {canonical(s.action): s for s in steps if s.action is not None}
        if decision.action is None:
            outcome = {"ok": False, "error": decision.parse_error or "no valid action", "log": ["policy output did not validate"]}
            accuracy = None
        elif canonical(decision.action) in previous:
            before = previous[canonical(decision.action)]
            outcome = dict(before.outcome) | {"log": [f"repeat of step {before.step}: outcome reused"]}
            accuracy = before.accuracy
        else:
            result = self.run_action(decision.step, decision.action, "validation")
            outcome, accuracy = result.summary(), (result.accuracy if result.ok else None)
        delta = None if accuracy is None else accuracy - baseline
        reward = int(accuracy is not None and accuracy > baseline)
        if accuracy is not None and accuracy > best_acc:
            best_step, best_acc = decision.step, accuracy
        event = StepEvent(step=decision.step, action=decision.action, outcome=outcome, accuracy=accuracy, delta=delta,
                          reward=reward, best_step=best_step, best_accuracy=best_acc, seconds=time.perf_counter() - start)
        self._emit(event)
        return event

    def finish(self, base: BaselineEvent, steps: list[StepEvent]) -> FinalEvent:
        started = time.perf_counter()
        last = steps[-1] if steps else None
        best_step = last.best_step if last else None
        best_action = next((s.action for s in steps if s.step == best_step), None)
        test_ctx = replace(self.rt.ctx, progress=self._progress(len(steps)))
        base_test = test_ctx.evaluate("test", Path(base.adapter), label="θ₀ on the test split")
        artifact = base.adapter
        if best_action is not None:
            outcome = self.run_action(best_step, best_action, "test")
            test = Score(accuracy=outcome.accuracy or 0.0, ci95=tuple(outcome.result.ci95) if outcome.result else (0.0, 0.0),
                         n=outcome.result.n if outcome.result else 0)
            artifact = str(outcome.artifact) if outcome.artifact else None
            baseline_test = _score(base_test)
        else:
            test, baseline_test = _score(base_test), None
        event = FinalEvent(best_step=best_step, best_action=best_action, best_validation=last.best_accuracy if last else base.validation.accuracy,
                           baseline_validation=base.validation.accuracy, test=test, baseline_test=baseline_test,
                           artifact=artifact, seconds=_elapsed(self.store.events()) + time.perf_counter() - started)
        self._emit(event)
        return event

    # -- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> FinalEvent | None:
        """Run (or continue) the episode; returns the final event, or None when cancelled or out of time early."""
        existing = [e for e in self.store.events() if e.kind == "final"]
        if existing:
            return existing[-1]
        self._emit(StatusEvent(status="running"))
        cfg = self.spec.adapt
        try:
            base = self.baseline()
            steps = self.store.steps()
            for step in range(len(steps), cfg.steps):
                if self._cancelled():
                    self._emit(StatusEvent(status="cancelled", message=f"cancelled before step {step}"))
                    return None
                if cfg.minutes is not None and _elapsed(self.store.events()) >= cfg.minutes * 60:
                    break
                pending = self.store.pending_decision()
                decision = pending if pending is not None and pending.step == step else self.decide(step, base.validation.accuracy, steps)
                steps.append(self.execute(decision, base.validation.accuracy, steps))
            if self._cancelled():
                self._emit(StatusEvent(status="cancelled", message="cancelled before the test split"))
                return None
            final = self.finish(base, steps)
        except Exception as exc:
            self._emit(StatusEvent(status="failed", message=f"{type(exc).__name__}: {exc}"[:500]))
            raise
        self._emit(StatusEvent(status="finished"))
        return final
