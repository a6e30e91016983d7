"""Trajectories → TRL-ready conversational prompt/completion records (`degaml trajectories export`).

One record per completed step:
    prompt      [{"role": "system", ...}, {"role": "user", ...}]   the chat the policy saw
    completion  [{"role": "assistant", "content": <action JSON>}]    what it emitted (canonical JSON when it parsed)
    reward, delta, accuracy, baseline, family, task, run_id, step, model, generator, policy
TRL's SFTTrainer takes `prompt`/`completion` columns and puts the loss on the completion only — the ReST^EM M-step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.io import atomic_path

ExportFormat = Literal["jsonl", "parquet"]


def action_text(action: dict[str, Any] | None, raw: str) -> str:
    """The completion text: canonical compact JSON of a parsed action, else the raw output."""
    return json.dumps(action, separators=(",", ":")) if action is not None else raw


def run_records(run_dir: Path, accepted_only: bool = False) -> list[dict[str, Any]]:
    """The records of one run (steps in order; a decision whose step never completed is skipped)."""
    store = TrajectoryStore.open(run_dir)
    events = store.events()
    decisions = {e.step: e for e in events if e.kind == "decision"}
    baseline = next((e.validation.accuracy for e in events if e.kind == "baseline"), None)
    h = store.header
    records = []
    for step in (e for e in events if e.kind == "step"):
        decision = decisions.get(step.step)
        if decision is None or (accepted_only and step.reward != 1):
            continue
        records.append({
            "prompt": decision.messages,
            "completion": [{"role": "assistant", "content": action_text(decision.action, decision.raw)}],
            "reward": step.reward,
            "delta": step.delta,
            "accuracy": step.accuracy,
            "baseline": baseline,
            "family": (step.action or {}).get("strategy", {}).get("family"),
            "task": h.task,
            "run_id": h.run_id,
            "step": step.step,
            "model": h.model,
            "generator": h.generator,
            "policy": h.policy,
        })
    return records


def export_trajectories(run_dirs: Iterable[Path], out: Path, accepted_only: bool = False, fmt: ExportFormat = "jsonl") -> int:
    """Write the records of every run to `out` (atomically); returns how many were written."""
    records = [r for d in run_dirs for r in run_records(Path(d), accepted_only)]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(out)) as tmp:
        if fmt == "jsonl":
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        else:
            from datasets import Dataset

            rows = [r | {"prompt": r["prompt"], "completion": r["completion"]} for r in records]
            Dataset.from_list(rows).to_parquet(str(tmp))
    return len(records)
