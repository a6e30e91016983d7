"""Adaptation episodes end to end on the tiny model: real Outlines-constrained policy, real strategies, real store.

Covers the event sequence and reward rule, cancellation at a step boundary and resume with no step lost or
duplicated, replay of a decision whose step never completed, and the `degaml adapt` / `trajectories export` CLI.
"""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from degaml.cli import main
from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.store.trajectory_store import TrajectoryStore
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


@pytest.fixture
def spec_file(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir), description="Toy planets quiz.",
                        adapt={"steps": 2, "policy": "base", "max_new_tokens": 200, "retries": 1})
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def kinds(store: TrajectoryStore) -> list[str]:
    return [e.kind for e in store.events() if e.kind != "progress"]


@pytest.mark.slow
def test_episode_writes_every_step_then_scores_test_once(spec_file, tmp_path):
    store = create_run(spec_file, [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    final = run_adapt(store, spec)
    assert kinds(store) == ["status", "baseline", "decision", "step", "decision", "step", "final", "status"]
    events = store.events()
    baseline = next(e for e in events if e.kind == "baseline").validation.accuracy  # progress events come first
    compute = next(e for e in events if e.kind == "baseline").compute  # every run records where and in which dtype it scored
    assert compute["dtype"] in ("float32", "bfloat16") and compute["dtype_reason"] and compute["threads"] >= 1
    for step in store.steps():
        assert step.reward == int(step.accuracy is not None and step.accuracy > baseline)
        assert step.delta is None or step.delta == pytest.approx(step.accuracy - baseline)
    decision = next(e for e in events if e.kind == "decision")
    assert decision.messages[0]["role"] == "system" and "Toy planets quiz." in decision.messages[1]["content"]
    assert json.loads(decision.raw)  # constrained output is JSON even when it does not validate
    n_support = spec.num_support  # the labelled support's answer profile is observed (adaptation may read labels)
    assert decision.state["support_answers"].startswith(f"{n_support} labelled;")
    assert "Labelled support answers:" in decision.messages[1]["content"]
    assert final.test.n == spec.num_test
    assert len(final.test.correct) == spec.num_test and set(final.test.correct) <= {"0", "1"}  # for paired tests
    assert final.test.correct.count("1") == round(final.test.accuracy * spec.num_test)
    assert final.baseline_validation == baseline
    assert store.status() == "finished"
    assert run_adapt(store, spec) == final  # a finished run is not re-run


@pytest.mark.slow
def test_cancel_then_resume_loses_and_duplicates_nothing(spec_file, tmp_path):
    store = create_run(spec_file, [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    cancel = threading.Event()
    stop_after_first_step = lambda e: cancel.set() if e.kind == "step" else None  # noqa: E731
    assert run_adapt(store, spec, cancel=cancel, on_event=stop_after_first_step) is None
    assert store.status() == "cancelled" and [s.step for s in store.steps()] == [0]
    store, spec = open_run(store.run_dir)
    final = run_adapt(store, spec)
    assert final is not None and [s.step for s in store.steps()] == [0, 1]
    assert [e.step for e in store.events() if e.kind == "decision"] == [0, 1]
    assert len([e for e in store.events() if e.kind == "baseline"]) == 1


@pytest.mark.slow
def test_a_decision_without_its_step_is_replayed_not_redecided(spec_file, tmp_path):
    store = create_run(spec_file, ["adapt.steps=1"], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    run_adapt(store, spec)
    lines = store.events_path.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "decision") + 1
    store.events_path.write_text("".join(lines[:cut]) + '{"kind": "progress", "st')  # killed while the strategy ran
    decision = store.pending_decision()
    store, spec = open_run(store.run_dir)
    run_adapt(store, spec)
    decisions = [e for e in store.events() if e.kind == "decision"]
    assert len(decisions) == 1 and decisions[0].raw == decision.raw
    assert [s.step for s in store.steps()] == [0] and store.status() == "finished"


@pytest.mark.slow
def test_steps_option_raises_the_budget_on_resume(spec_file, tmp_path):
    store = create_run(spec_file, ["adapt.steps=1"], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    cancel = threading.Event()
    cancel.set()
    assert run_adapt(store, spec, cancel=cancel) is None  # stopped before step 0
    store, spec = open_run(store.run_dir, steps=2)
    assert spec.adapt.steps == 2 and TrajectoryStore.open(store.run_dir).header.budget_steps == 1  # not yet: no lock
    assert run_adapt(store, spec) is not None
    assert TrajectoryStore.open(store.run_dir).header.budget_steps == 2 and [s.step for s in store.steps()] == [0, 1]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.mark.slow
def test_cli_adapt_and_export(spec_file, tmp_path, capsys):
    run_dir = tmp_path / "cli-run"
    code, out, err = run_cli(["adapt", str(spec_file), "--steps", "1", "--run-dir", str(run_dir), "--json", str(tmp_path / "s.json")], capsys)
    assert code == 0, err
    assert "baseline θ₀ validation accuracy" in out and "test (best)" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["run_dir"] == str(run_dir) and summary["test"]["n"] > 0
    code, out, _ = run_cli(["trajectories", "export", str(run_dir), "--out", str(tmp_path / "t.jsonl")], capsys)
    assert code == 0 and "1 record(s)" in out
    record = json.loads((tmp_path / "t.jsonl").read_text())
    assert record["prompt"][0]["role"] == "system" and record["completion"][0]["role"] == "assistant"


@pytest.mark.parametrize("args, message", [
    (["adapt"], "SPEC: missing task spec"),
    (["adapt", "specs/arc_easy.yaml", "--resume", "x"], "--resume: give only the run directory"),
    (["adapt", "--resume", "/nonexistent/run"], "not a degaml run"),
    (["adapt", "specs/arc_easy.yaml", "adapt.steps=0"], "adapt.steps"),
    (["adapt", "specs/arc_easy.yaml", "adapt.policy=/nonexistent"], "adapt.policy"),
    (["trajectories", "export", "/nonexistent/run", "--out", "x.jsonl"], "not a degaml run"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path) if "specs/" not in " ".join(args) else None
    code, _, err = run_cli(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_an_existing_run_dir(spec_file, tmp_path, capsys):
    create_run(spec_file, [], tmp_path / "run")
    code, _, err = run_cli(["adapt", str(spec_file), "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 2 and "--resume" in err


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_nothing(spec_file, tmp_path):
    """A real `degaml adapt` process killed with SIGKILL after its first committed step; --resume completes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "killed"
    budget = 6  # enough later steps that the kill lands mid-run even when steps take milliseconds
    cmd = [sys.executable, "-m", "degaml", "adapt", str(spec_file), f"adapt.steps={budget}", "--run-dir", str(run_dir)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = run_dir / "events.jsonl"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # a cheap poll of the raw file: kill right after the first complete step line
            lines = events.read_text().splitlines(keepends=True) if events.exists() else []
            if any(line.endswith("\n") and '"kind":"step"' in line.replace(" ", "") for line in lines):
                break
            assert proc.poll() is None, "adapt exited before its first step"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    store = TrajectoryStore.open(run_dir)
    committed = [s.model_dump() for s in store.steps()]
    assert committed and store.status() == "running"  # killed: no final status was written
    assert subprocess.run([sys.executable, "-m", "degaml", "adapt", "--resume", str(run_dir)], env=env,
                          capture_output=True).returncode == 0
    store = TrajectoryStore.open(run_dir)
    steps = store.steps()
    assert [s.step for s in steps] == list(range(budget)) and store.status() == "finished"
    assert [s.model_dump() for s in steps[: len(committed)]] == committed  # what was committed is kept as is
    assert len([e for e in store.events() if e.kind == "final"]) == 1


@pytest.mark.slow
def test_balanced_metric_episode_rewards_balanced_accuracy_and_reports_both(spec_file, tmp_path):
    store = create_run(spec_file, ["adapt.metric=balanced_acc", "adapt.policy=random", "adapt.steps=3"], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    final = run_adapt(store, spec)
    steps = [s for s in store.steps() if s.comparison is not None]
    for s in store.steps():
        config = s.configuration
        assert config["balanced_accuracy"] is not None and 0.0 <= config["collapse_rate"] <= 1.0  # both metrics reported
    for s in steps:  # the reward compared balanced accuracy: the comparison's values are the balanced scores
        assert s.reward == int(s.comparison["accuracy"] > s.comparison["reference"] and s.comparison["p_value"] < 0.05)
    assert final.test.answers is not None and final.test.answers["balanced_accuracy"] is not None
    decision = next(e for e in store.events() if e.kind == "decision")  # the policy sees both metrics and the rule
    assert decision.state["metric"] == "balanced_acc" and 0.0 <= decision.state["balanced"] <= 1.0
    assert 0.0 < decision.state["collapse"] <= 1.0 and "balanced accuracy" in decision.messages[1]["content"]
