"""A recorded adaptation run for TUI (and other) tests, written through the real `TrajectoryStore`.

`build_recorded_run(run_dir)` writes a finished run: status running, baseline (45.0 %), five decisions/steps —
0 ttt ✓, 1 tts ✗, 2 lora_mix failed with an error, 3 unparseable policy output (no action), 4 slot ✓ —
a final record and status finished. `live_run(run_dir)` writes only the start (status + baseline) and returns the
store, so a test can append the rest as another process would, with the `*_event` helpers.
Every event has a fixed `time`, so the files are byte-for-byte reproducible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from degaml.controller.store.events import (
    BaselineEvent,
    DecisionEvent,
    FinalEvent,
    ProgressEvent,
    RunHeader,
    Score,
    StatusEvent,
    StepEvent,
)
from degaml.controller.store.trajectory_store import TrajectoryStore

T0 = 1_760_000_000.0
BASELINE = 0.45
SYSTEM_PROMPT = (
    "You refine a generated LoRA adapter at test time. Choose ONE strategy family (ttt, tts, lora_mix, slot) "
    "and its parameters. Reply with JSON only."
)
ACTIONS: dict[int, dict[str, Any] | None] = {
    0: {"strategy": {"family": "ttt", "ttl_steps": 10, "learning_rate": 0.0001, "batch_size": 4, "shuffle_data": True}},
    1: {"strategy": {"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"}},
    2: {"strategy": {"family": "lora_mix", "lambda": 0.5}},
    3: None,
    4: {"strategy": {"family": "slot", "times": 5, "learning_rate": 0.01}},
}
ACCURACY: dict[int, float | None] = {0: 0.50, 1: 0.44, 2: None, 3: None, 4: 0.53}
BROKEN_RAW = '{"strategy": {"family": "slot", "times": 5, "learning_rate": '


def header(run_id: str = "gsm8k-20251009-101320", budget_steps: int = 8) -> RunHeader:
    return RunHeader(
        run_id=run_id, created=T0, spec_path="specs/gsm8k.yaml", spec={"task": "gsm8k", "version": 1}, task="gsm8k",
        model="HuggingFaceTB/SmolLM2-135M-Instruct", generator="generators/default", policy="default",
        budget_steps=budget_steps, budget_minutes=None, seed=0, degaml_version="0.1.0",
    )


def state(step: int, budget_steps: int = 8) -> dict[str, Any]:
    history = [{"step": s, "family": (ACTIONS[s] or {}).get("strategy", {}).get("family"), "accuracy": ACCURACY[s]}
               for s in range(step)]
    return {"task": "gsm8k", "step": step, "budget_left": budget_steps - step, "baseline": BASELINE, "history": history}


def decision_event(step: int, action: dict[str, Any] | None = None, *, parse_error: str | None = None,
                   raw: str | None = None, attempts: int = 1) -> DecisionEvent:
    action = ACTIONS.get(step) if action is None and parse_error is None else action
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"State:\n{json.dumps(state(step))}\nWhich strategy next?"},
    ]
    if raw is None:
        raw = json.dumps(action) if action is not None else BROKEN_RAW
    return DecisionEvent(time=T0 + 10 * step + 1, step=step, state=state(step), messages=messages, raw=raw,
                         action=action, parse_error=parse_error, attempts=attempts, policy_seconds=6.5)


def progress_event(step: int, what: str, fraction: float) -> ProgressEvent:
    return ProgressEvent(time=T0 + 10 * step + 2, step=step, what=what, fraction=fraction)


def step_event(step: int, accuracy: float | None, *, action: dict[str, Any] | None = None, error: str | None = None,
               best_step: int | None = None, best_accuracy: float = BASELINE, seconds: float = 41.5) -> StepEvent:
    family = (action or {}).get("strategy", {}).get("family")
    ok = accuracy is not None and error is None
    outcome = {
        "family": family, "params": (action or {}).get("strategy", {}), "split": "validation", "ok": ok,
        "accuracy": accuracy, "ci95": [accuracy - 0.07, accuracy + 0.07] if accuracy is not None else None,
        "n": 200 if accuracy is not None else 0, "artifact": f"runs/x/work/step-{step:03d}/adapter" if ok else None,
        "seconds": seconds, "tokens": 48_000 if ok else 1_200,
        "log": [f"{family}: started", f"{family}: scored validation"] if ok else [f"failed: {error}"],
        "error": error,
    }
    delta = round(accuracy - BASELINE, 6) if accuracy is not None else None
    reward = int(accuracy is not None and accuracy > BASELINE)
    return StepEvent(time=T0 + 10 * step + 9, step=step, action=action, outcome=outcome, accuracy=accuracy,
                     delta=delta, reward=reward, best_step=best_step, best_accuracy=best_accuracy, seconds=seconds)


def baseline_event() -> BaselineEvent:
    return BaselineEvent(time=T0 + 0.5, adapter="runs/x/adapters/theta0",
                         validation=Score(accuracy=BASELINE, ci95=(0.382, 0.519), n=200), seconds=30.0)


def live_run(run_dir: Path, budget_steps: int = 8) -> TrajectoryStore:
    """A run that has only started (status running + baseline); the returned store holds the writer lock."""
    store = TrajectoryStore.create(run_dir, header(budget_steps=budget_steps))
    store.acquire()
    store.append(StatusEvent(time=T0, status="running"))
    store.append(baseline_event())
    return store


def append_recorded_step(store: TrajectoryStore, step: int) -> None:
    """Decision, progress and step events of recorded step `step` (0..4)."""
    if step == 3:
        store.append(decision_event(3, parse_error="Invalid JSON: EOF while parsing an object at line 1 column 50",
                                    attempts=3))
        store.append(step_event(3, None, error="policy output did not validate: no strategy ran", best_step=0,
                                best_accuracy=0.50, seconds=0.0))
        return
    action = ACTIONS[step]
    store.append(decision_event(step, action))
    store.append(progress_event(step, "training 10/20" if step == 0 else "scoring validation", 0.5))
    best = {0: (0, 0.50), 1: (0, 0.50), 2: (0, 0.50), 4: (4, 0.53)}[step]
    error = "RuntimeError: adapters disagree in rank (8 vs 16)" if step == 2 else None
    store.append(step_event(step, ACCURACY[step], action=action, error=error, best_step=best[0], best_accuracy=best[1],
                            seconds={0: 41.5, 1: 12.25, 2: 3.0, 4: 95.0}[step]))


def build_recorded_run(run_dir: Path) -> Path:
    """A finished run with five steps (see the module docstring); returns `run_dir`."""
    store = live_run(run_dir)
    for step in range(5):
        append_recorded_step(store, step)
    store.append(FinalEvent(
        time=T0 + 100, best_step=4, best_action=ACTIONS[4], best_validation=0.53, baseline_validation=BASELINE,
        test=Score(accuracy=0.51, ci95=(0.453, 0.567), n=300), baseline_test=Score(accuracy=0.47, ci95=(0.414, 0.527), n=300),
        artifact="runs/x/work/step-004/adapter", seconds=312.0,
    ))
    store.append(StatusEvent(time=T0 + 101, status="finished", message="budget exhausted (5 of 8 steps used)"))
    store.release()
    return run_dir


def build_killed_run(run_dir: Path) -> Path:
    """A run whose writer was killed while step 2's strategy ran: status still "running", nobody holds the lock."""
    store = live_run(run_dir)
    for step in range(2):
        append_recorded_step(store, step)
    store.append(decision_event(2, ACTIONS[2]))
    store.append(progress_event(2, "lora_mix: scoring · validation 96/200", 0.48))
    store.release()  # what the OS does to a killed writer's lock
    return run_dir


if __name__ == "__main__":  # python -m tests.tui.recorded_run DIR [--killed]: write the recorded run (for docs)
    import sys

    (build_killed_run if "--killed" in sys.argv else build_recorded_run)(Path(sys.argv[1]))
