"""Trajectory store: durable appends, torn-line repair after a kill, live following, one writer, cancellation."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from degaml.controller.store.events import BaselineEvent, DecisionEvent, RunHeader, Score, StatusEvent, StepEvent
from degaml.controller.store.readers import EventFollower, list_runs
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DataError, DegamlError


def header(run_id: str = "r1") -> RunHeader:
    return RunHeader(run_id=run_id, created=time.time(), spec_path="/x.yaml", spec={"task": "t"}, task="t", model="m",
                     generator="g", policy="base", budget_steps=3, budget_minutes=None, seed=0, degaml_version="0")


def decision(step: int) -> DecisionEvent:
    return DecisionEvent(step=step, state={}, messages=[{"role": "user", "content": "hi"}], raw="{}", action={"strategy": {"family": "tts"}})


def step(step: int, reward: int = 0) -> StepEvent:
    return StepEvent(step=step, action={"strategy": {"family": "tts"}}, outcome={"ok": True}, accuracy=0.5, delta=0.0,
                     reward=reward, best_step=None, best_accuracy=0.5, seconds=1.0)


@pytest.fixture
def store(tmp_path):
    s = TrajectoryStore.create(tmp_path / "run", header())
    s.acquire()
    yield s
    s.release()


def test_events_round_trip_in_order(store, tmp_path):
    events = [BaselineEvent(adapter="a", validation=Score(accuracy=0.5, ci95=(0.4, 0.6), n=10), seconds=1.0), decision(0), step(0, 1)]
    for e in events:
        store.append(e)
    again = TrajectoryStore.open(tmp_path / "run")
    assert [e.model_dump() for e in again.events()] == [e.model_dump() for e in events]
    assert again.header == store.header
    assert [s.step for s in again.steps()] == [0]


def test_create_refuses_an_existing_run(store, tmp_path):
    with pytest.raises(DegamlError, match="already holds a run"):
        TrajectoryStore.create(tmp_path / "run", header())


def test_open_refuses_a_non_run(tmp_path):
    with pytest.raises(DegamlError, match="not a degaml run"):
        TrajectoryStore.open(tmp_path)


def test_torn_last_line_is_ignored_then_repaired(store):
    store.append(decision(0))
    with open(store.events_path, "a") as fh:
        fh.write('{"kind": "step", "step": 0, "acti')  # a writer killed mid-line
    reader = TrajectoryStore.open(store.run_dir)
    assert [e.kind for e in reader.events()] == ["decision"]
    assert reader.pending_decision().step == 0
    store.release()
    store.acquire()  # the next writer truncates the torn tail
    store.append(step(0))
    assert [e.kind for e in TrajectoryStore.open(store.run_dir).events()] == ["decision", "step"]
    assert store.pending_decision() is None


def test_a_corrupt_complete_line_is_a_clear_error(store):
    store.append(decision(0))
    with open(store.events_path, "a") as fh:
        fh.write('{"kind": "nonsense"}\n')
    with pytest.raises(DataError, match=r"events.jsonl:2: not a degaml event"):
        store.events()


def test_only_one_writer(store):
    other = TrajectoryStore.open(store.run_dir)
    with pytest.raises(DegamlError, match="another process"):
        other.acquire()


def test_append_needs_the_lock(tmp_path):
    s = TrajectoryStore.create(tmp_path / "r", header())
    with pytest.raises(RuntimeError):
        s.append(decision(0))


def test_follower_sees_only_new_complete_lines(store):
    follower = EventFollower(store.run_dir)
    assert follower.poll() == []
    store.append(decision(0))
    assert [e.kind for e in follower.poll()] == ["decision"]
    assert follower.poll() == []
    with open(store.events_path, "a") as fh:
        fh.write('{"kind": "status", "status": "fin')
    assert follower.poll() == []
    with open(store.events_path, "a") as fh:
        fh.write('ished", "message": "", "time": 1.0}\n')
    assert [e.status for e in follower.poll()] == ["finished"]


def test_cancel_file(store):
    assert not store.cancel_requested()
    TrajectoryStore.open(store.run_dir).request_cancel()  # e.g. from the TUI in another process
    assert store.cancel_requested()
    store.clear_cancel()
    assert not store.cancel_requested()


def _writer(run_dir, n):
    s = TrajectoryStore.open(run_dir)
    s.acquire()
    for i in range(n):
        s.append(decision(i))
        s.append(step(i))
    time.sleep(60)  # killed here


def test_a_killed_writer_loses_no_committed_step(tmp_path):
    TrajectoryStore.create(tmp_path / "run", header())
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(tmp_path / "run", 5))
    proc.start()
    deadline = time.time() + 60
    while time.time() < deadline and len(TrajectoryStore.open(tmp_path / "run").steps()) < 5:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    store = TrajectoryStore.open(tmp_path / "run")
    assert [s.step for s in store.steps()] == [0, 1, 2, 3, 4]
    store.acquire()  # the lock died with the writer
    store.append(StatusEvent(status="cancelled"))
    store.release()


def test_list_runs(tmp_path):
    TrajectoryStore.create(tmp_path / "a" / "r1", header("r1"))
    TrajectoryStore.create(tmp_path / "b" / "r2", header("r2"))
    assert {p.name for p in list_runs(tmp_path)} == {"r1", "r2"}
    assert list_runs(tmp_path / "missing") == []


def _scribble_over_first_line(path) -> None:
    """Overwrite the first line in place with same-size garbage (bytes a cache must never re-read)."""
    data = path.read_bytes()
    first = data.index(b"\n")
    path.write_bytes(b"x" * first + data[first:])


def test_the_writer_serves_events_from_its_cache(store):
    for i in range(3):
        store.append(decision(i))
        store.append(step(i))
    assert [e.step for e in store.steps()] == [0, 1, 2]
    _scribble_over_first_line(store.events_path)
    assert len(store.events()) == 6 and store.pending_decision() is None and store.status() == "created"  # not re-read
    with pytest.raises(DataError):
        TrajectoryStore.open(store.run_dir).events()  # a fresh reader does parse the file


def test_a_reader_parses_only_what_was_appended_since_its_last_call(store):
    reader = TrajectoryStore.open(store.run_dir)
    store.append(decision(0))
    assert [e.kind for e in reader.events()] == ["decision"]
    _scribble_over_first_line(store.events_path)
    store.append(step(0))
    assert [e.kind for e in reader.events()] == ["decision", "step"]
    store.events_path.write_text(step(1).model_dump_json() + "\n")  # shrunk (a repaired/rewritten file): re-read
    assert [e.step for e in reader.events()] == [1]
