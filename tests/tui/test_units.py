"""Formatting, the chart and the event fold — no Textual app needed."""

from __future__ import annotations

from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.tui.chart import render_chart
from degaml.tui.detail import render_detail
from degaml.tui.format import params_text, pct, seconds_text, short_path, signed_pct
from degaml.tui.model import RunState


def test_formats():
    assert pct(0.4567) == "45.7%" and pct(None) == "—"
    assert signed_pct(0.04) == "+4.0%" and signed_pct(-0.025) == "−2.5%" and signed_pct(0.0) == "±0.0%"
    assert seconds_text(12.34) == "12.3s" and seconds_text(245) == "4m05s" and seconds_text(7384) == "2h03m"
    action = {"strategy": {"family": "ttt", "lr": 0.0001, "steps": 20}}
    assert params_text(action) == "lr=0.0001 steps=20"
    assert params_text(action, 8) == "lr=0.00…" and params_text(None) == "—"
    assert short_path("/work/degaml/generator/pretrained/smollm2-135m-in-domain/") == "smollm2-135m-in-domain"
    assert short_path("base") == "base" and short_path("random") == "random"


def test_fold_recorded_run(recorded_run):
    store = TrajectoryStore.open(recorded_run)
    state = RunState(store.header)
    changed = state.apply(store.events())
    assert changed == {0, 1, 2, 3, 4}
    assert [r.state for r in state.rows.values()] == ["done", "done", "failed", "failed", "done"]
    assert [r.step for r in state.accepted()] == [0, 4]
    assert state.rows[3].unparsed and state.rows[3].family is None
    assert state.status_name == "finished" and state.ended and state.running is None
    assert state.final is not None and state.final.best_step == 4
    detail = render_detail(state.rows[3]).plain
    assert "parse error" in detail and '"family": "slot", "times": 5' in detail and "[system]" in detail


def test_chart_shape_and_baseline():
    series = [(0, 0.5, "done"), (1, 0.4, "done"), (2, None, "failed"), (3, None, "running")]
    text = render_chart(series, 0.45, width=40, height=5).plain
    lines = text.split("\n")
    assert len(lines) == 5 and all(len(line) <= 40 for line in lines)
    assert "45.0%" in text and "┄" in text and "✗" in text and "·" in text
    assert lines[-1].split() == ["0", "1", "2", "3"]
    many = [(i, 0.5, "done") for i in range(40)]
    assert render_chart(many, 0.45, width=40, height=4).plain.split("\n")[-1].split()[-1] == "39"  # newest shown


def test_progress_outside_a_running_decision_is_run_activity(live_store):
    """The episode reports test-split scoring as progress of step len(steps): no phantom row."""
    from tests.tui.recorded_run import append_recorded_step, progress_event

    append_recorded_step(live_store, 0)
    live_store.append(progress_event(1, "scoring on the test split", 0.0))
    state = RunState(live_store.header)
    state.apply(TrajectoryStore.open(live_store.run_dir).events())
    assert list(state.rows) == [0] and state.running is None
    assert state.activity is not None and state.activity.what == "scoring on the test split"


def test_policy_progress_is_activity_until_the_decision_lands_and_a_dead_writer_is_stopped(live_store):
    from degaml.controller.store.readers import writer_alive
    from tests.tui.recorded_run import ACTIONS, decision_event, progress_event

    state = RunState(live_store.header)
    state.apply(TrajectoryStore.open(live_store.run_dir).events())
    state.apply([progress_event(0, "policy decision (attempt 1): token 40/≤96", 40 / 96)])
    assert state.activity is not None and state.running is None  # the TUI bar moves while the policy decides
    state.apply([decision_event(0, ACTIONS[0])])
    assert state.activity is None and state.running is not None  # that phase is over
    assert writer_alive(live_store.run_dir) and state.status_name == "running"
    live_store.release()
    assert not writer_alive(live_store.run_dir)
    state.writer_alive = False
    assert state.status_name == "stopped" and state.ended and state.running is None
    live_store.acquire()
