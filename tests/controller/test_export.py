"""Export: TRL conversational prompt/completion records, accepted-only filter, jsonl and parquet round-trips."""

from __future__ import annotations

import json

import pytest

from degaml.controller.store.events import BaselineEvent, DecisionEvent, Score, StepEvent
from degaml.controller.store.export import export_trajectories, run_records
from degaml.controller.store.trajectory_store import TrajectoryStore
from tests.controller.test_store import header

ACTIONS = [{"strategy": {"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"}},
           {"strategy": {"family": "slot", "times": 5, "learning_rate": 0.01}}, None]


@pytest.fixture
def run_dir(tmp_path):
    store = TrajectoryStore.create(tmp_path / "run", header("run-a"))
    store.acquire()
    store.append(BaselineEvent(adapter="a", validation=Score(accuracy=0.5, ci95=(0.4, 0.6), n=10), seconds=1.0))
    for i, (action, acc) in enumerate(zip(ACTIONS, [0.6, 0.5, None])):
        messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": f"state {i}"}]
        store.append(DecisionEvent(step=i, state={}, messages=messages, raw=" {bad" if action is None else json.dumps(action),
                                   action=action, parse_error=None if action else "invalid"))
        store.append(StepEvent(step=i, action=action, outcome={}, accuracy=acc, delta=None if acc is None else acc - 0.5,
                               reward=int(acc is not None and acc > 0.5), best_step=0, best_accuracy=0.6, seconds=1.0))
    store.append(DecisionEvent(step=3, state={}, messages=[], raw="{}", action=ACTIONS[0]))  # killed mid-step: no record
    store.release()
    return store.run_dir


def test_records_are_trl_prompt_completion(run_dir):
    records = run_records(run_dir)
    assert [r["step"] for r in records] == [0, 1, 2]
    first = records[0]
    assert first["prompt"][-1] == {"role": "user", "content": "state 0"}
    assert first["completion"][0]["role"] == "assistant"
    assert json.loads(first["completion"][0]["content"]) == ACTIONS[0]
    assert (first["reward"], first["family"], first["task"], first["run_id"], first["baseline"]) == (1, "tts", "t", "run-a", 0.5)
    assert records[2]["completion"][0]["content"] == " {bad"  # unparseable output kept verbatim (reward 0)


def test_accepted_only_jsonl(run_dir, tmp_path):
    out = tmp_path / "out" / "accepted.jsonl"
    assert export_trajectories([run_dir], out, accepted_only=True) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reward"] for r in rows] == [1]


def test_parquet_round_trip(run_dir, tmp_path):
    from datasets import Dataset

    out = tmp_path / "all.parquet"
    assert export_trajectories([run_dir, run_dir], out, fmt="parquet") == 6
    ds = Dataset.from_parquet(str(out))
    assert ds[0]["completion"][0]["role"] == "assistant" and len(ds) == 6


def test_export_of_a_non_run_fails_cleanly(tmp_path):
    from degaml.errors import DegamlError

    with pytest.raises(DegamlError):
        export_trajectories([tmp_path], tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
