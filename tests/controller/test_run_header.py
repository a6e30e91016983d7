"""Run header races and torn status lines: run.json is claimed atomically by exactly one creator, changed only by
the writer of a run that will continue, and a finished run whose `finished` line was torn is marked finished again.
"""

from __future__ import annotations

import multiprocessing
import time

import pytest
import yaml

from degaml.cli import main
from degaml.controller.episode.adapt import create_run
from degaml.controller.store.events import BaselineEvent, DecisionEvent, FinalEvent, RunHeader, Score, StatusEvent, StepEvent
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DegamlError
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def _header(run_id: str) -> RunHeader:
    return RunHeader(run_id=run_id, created=time.time(), spec_path=f"/{run_id}.yaml", spec={"task": run_id}, task=run_id,
                     model="m", generator="g", policy="base", budget_steps=3, budget_minutes=None, seed=0, degaml_version="0")


def _racer(run_dir, name, barrier, results) -> None:
    barrier.wait()
    try:
        TrajectoryStore.create(run_dir, _header(name))
        results.put((name, "created"))
    except DegamlError:
        results.put((name, "refused"))


@pytest.mark.parametrize("round_", range(3))
def test_of_simultaneous_creators_exactly_one_wins_and_owns_the_header(tmp_path, round_):
    ctx = multiprocessing.get_context("fork")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    run_dir = tmp_path / "run"
    procs = [ctx.Process(target=_racer, args=(run_dir, f"p{i}", barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    winners = [name for name, what in outcomes.items() if what == "created"]
    assert len(winners) == 1, outcomes
    assert TrajectoryStore.open(run_dir).header.run_id == winners[0]
    assert sorted(p.name for p in run_dir.iterdir()) == ["events.jsonl", "run.json"]  # no temp files left behind


def test_create_into_an_existing_empty_directory(tmp_path):
    (tmp_path / "run").mkdir()
    assert TrajectoryStore.create(tmp_path / "run", _header("a")).header.run_id == "a"
    with pytest.raises(DegamlError, match="already holds a run"):
        TrajectoryStore.create(tmp_path / "run", _header("b"))
    assert TrajectoryStore.open(tmp_path / "run").header.run_id == "a"


def test_rewrite_header_needs_the_lock(tmp_path):
    store = TrajectoryStore.create(tmp_path / "run", _header("a"))
    with pytest.raises(RuntimeError):
        store.rewrite_header(_header("b"))


# --- through `degaml adapt --resume` ------------------------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir), adapt={"steps": 1, "policy": "random"})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    return create_run(tmp_path / "toy.yaml", [], tmp_path / "run").run_dir


def _finish_by_hand(run_dir, torn_status: bool = False) -> None:
    """The events of a finished 1-step run (no model needed); optionally the last line torn by a kill."""
    store = TrajectoryStore.open(run_dir)
    store.acquire()
    score = Score(accuracy=0.5, ci95=(0.3, 0.7), n=20)
    action = {"strategy": {"family": "lora_mix", "lam": 0.5}}
    for event in [StatusEvent(status="running"), BaselineEvent(adapter="a", validation=score, seconds=1.0),
                  DecisionEvent(step=0, state={}, messages=[], raw="{}", action=action),
                  StepEvent(step=0, action=action, outcome={"ok": True}, accuracy=0.4, delta=-0.1, reward=0, best_step=None,
                            best_accuracy=0.5, seconds=1.0),
                  FinalEvent(best_step=None, best_action=None, best_validation=0.5, baseline_validation=0.5, test=score,
                             baseline_test=None, artifact="a", seconds=3.0)]:
        store.append(event)
    store.release()
    line = StatusEvent(status="finished").model_dump_json() + "\n"
    with open(store.events_path, "a") as fh:
        fh.write(line[: len(line) // 2] if torn_status else line)


def _cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_resume_refused_for_the_lock_leaves_the_header_alone(run_dir, capsys):
    before = (run_dir / "run.json").read_bytes()
    writer = TrajectoryStore.open(run_dir)
    writer.acquire()  # another process is writing this run
    try:
        code, _, err = _cli(["adapt", "--resume", str(run_dir), "--steps", "5"], capsys)
    finally:
        writer.release()
    assert code == 2 and "being written by another process" in err
    assert (run_dir / "run.json").read_bytes() == before


def test_resume_of_a_finished_run_does_not_change_its_header(run_dir, capsys):
    _finish_by_hand(run_dir)
    before, events = (run_dir / "run.json").read_bytes(), (run_dir / "events.jsonl").read_bytes()
    code, out, err = _cli(["adapt", "--resume", str(run_dir), "--steps", "5"], capsys)
    assert code == 0, err
    assert "test (best)" in out and "--steps 5 was not applied" in err
    assert (run_dir / "run.json").read_bytes() == before and (run_dir / "events.jsonl").read_bytes() == events
    assert TrajectoryStore.open(run_dir).status() == "finished"


def test_a_torn_finished_line_is_restored_on_resume(run_dir, capsys):
    _finish_by_hand(run_dir, torn_status=True)
    assert TrajectoryStore.open(run_dir).status() == "running"  # what a viewer sees after the kill
    code, _, err = _cli(["adapt", "--resume", str(run_dir)], capsys)
    assert code == 0, err
    store = TrajectoryStore.open(run_dir)
    assert store.status() == "finished"
    assert [e.kind for e in store.events()].count("final") == 1
    assert store.events_path.read_bytes().endswith(b"\n")  # the torn piece was repaired, not appended to
