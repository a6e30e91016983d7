"""The run viewer driven headlessly with Pilot at 80×24."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from degaml.controller.store.events import StatusEvent
from degaml.cli.tui_cmd import tui_command
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DegamlError
from degaml.tui import PickerApp, RunApp
from degaml.tui.screens import ConfirmScreen, DetailScreen, HelpScreen, TrajectoriesScreen
from tests.tui.recorded_run import (ACTIONS, append_recorded_step, build_recorded_run, decision_event, live_run,
                                    progress_event, step_event)

SIZE = (80, 24)


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run (its poll timer fires every 0.5 s) until `condition()` holds."""
    waited = 0.0
    while not condition():
        assert waited < timeout, "timed out waiting for the app"
        await pilot.pause(0.1)
        waited += 0.1


def table(app) -> DataTable:
    return app.query_one("#steps", DataTable)


def cell(app, step: int, column: str) -> str:
    value = table(app).get_cell(str(step), column)
    return getattr(value, "plain", str(value))


def detail_text(app) -> str:
    return str(app.query_one("#detail-body", Static).render())


async def test_rows_for_every_step(recorded_run):
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert table(app).row_count == 5
        assert [cell(app, s, "family") for s in range(5)] == ["ttt", "tts", "lora_mix", "(unparsed)", "slot"]
        assert [cell(app, s, "reward") for s in range(5)] == ["✓", "✗", "✗", "✗", "✓"]
        assert cell(app, 0, "delta") == "+5.0%" and cell(app, 1, "delta") == "−1.0%"
        assert cell(app, 2, "val") == "failed"
        header = str(app.query_one("#header", Static).render())
        assert "gsm8k" in header and "45.0% [38.2–51.9]" in header and "steps 5/8" in header and "finished" in header
        summary = str(app.query_one("#summary", Static).render())
        assert "best: step 4 · slot" in summary and "51.0% [45.3–56.7]" in summary and "47.0%" in summary


async def test_selecting_a_row_shows_prompt_and_raw_json(recorded_run):
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        text = detail_text(app)
        assert "step 1 · tts" in text
        assert '{"strategy": {"family": "tts", "num_prompt_batches": 3' in text  # the raw constrained JSON
        assert "You refine a generated LoRA adapter" in text and "Which strategy next?" in text  # the prompt
        assert '"method": "majority_vote"' in text  # the parsed action
        await pilot.press("down", "down")
        await pilot.pause()
        text = detail_text(app)
        assert "parse error" in text and "Invalid JSON" in text and '"times": 5, "learning_rate": ' in text
        await pilot.press("up")
        await pilot.pause()
        assert "RuntimeError: adapters disagree in rank" in detail_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.row.step == 2
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


async def test_live_run_rows_appear_as_events_land(live_store):
    app = RunApp(live_store.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert table(app).row_count == 0
        assert "steps 0/8" in str(app.query_one("#header", Static).render())
        live_store.append(decision_event(0))  # another process writes; the viewer follows by polling
        live_store.append(progress_event(0, "training 10/20", 0.5))
        await wait_for(pilot, lambda: table(app).row_count == 1)
        assert "training 10/20" in cell(app, 0, "params") and cell(app, 0, "val") == "50%"
        assert "training 10/20" in str(app.query_one("#header", Static).render())
        append_recorded_step(live_store, 1)
        await wait_for(pilot, lambda: table(app).row_count == 2)
        assert cell(app, 1, "reward") == "✗"
        assert table(app).cursor_row == 1 and "step 1 · tts" in detail_text(app)  # the cursor follows the newest row
        append_recorded_step(live_store, 2)
        await wait_for(pilot, lambda: table(app).row_count == 3 and cell(app, 2, "val") == "failed")
        assert cell(app, 0, "reward") == ""  # still running: its step event never landed


async def test_a_completed_running_row_widens_its_columns(live_store):
    app = RunApp(live_store.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        live_store.append(decision_event(0))
        live_store.append(progress_event(0, "training", 0.5))
        await wait_for(pilot, lambda: table(app).row_count == 1)
        live_store.append(step_event(0, 0.5, action=ACTIONS[0], seconds=41.5))  # the only row completes in place
        await wait_for(pilot, lambda: cell(app, 0, "reward") == "✓")
        # DataTable re-measures updated columns on its next refresh, not inside update_cell: wait for it (times out if never)
        columns = table(app).columns
        await wait_for(pilot, lambda: all(columns[key].content_width >= len(cell(app, 0, key)) for key in ("delta", "seconds")))


async def test_cancel_with_confirmation_creates_cancel_file(live_store):
    app = RunApp(live_store.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not live_store.cancel_requested()
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert live_store.cancel_requested()
        assert "cancel requested" in str(app.query_one("#header", Static).render())


async def test_cancel_refused_on_a_finished_run(recorded_run):
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not (recorded_run / "cancel").exists()


async def test_export_writes_only_accepted_records(recorded_run, tmp_path):
    out = tmp_path / "out" / "accepted.jsonl"
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrajectoriesScreen)
        path_input = screen.query_one("#export-path", Input)
        assert path_input.has_focus and path_input.value == str(recorded_run / "accepted.jsonl")
        path_input.value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        assert "wrote 2 accepted record(s)" in str(screen.query_one("#export-result", Static).render())
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 4] and all(r["reward"] == 1 for r in records)
    assert records[0]["prompt"][0]["role"] == "system"
    assert json.loads(records[0]["completion"][0]["content"])["strategy"]["family"] == "ttt"


async def test_export_default_path_and_bad_path(recorded_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrajectoriesScreen)
        assert screen.query_one("#accepted", DataTable).row_count == 2
        assert screen.export(str(blocker / "x.jsonl")) is None  # a file as directory: an error line, no crash
        assert "export failed" in str(screen.query_one("#export-result", Static).render())
        await pilot.press("e", "enter")
        await pilot.pause()
    assert len((recorded_run / "accepted.jsonl").read_text().splitlines()) == 2


async def test_help_and_quit_leave_the_run_intact(recorded_run):
    events = (recorded_run / "events.jsonl").read_bytes()
    before = sorted(p.name for p in recorded_run.iterdir())
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "down", "enter", "escape", "t", "escape", "q")
        await pilot.pause()
    assert app.return_code == 0
    assert (recorded_run / "events.jsonl").read_bytes() == events
    assert sorted(p.name for p in recorded_run.iterdir()) == before


async def test_runner_in_a_thread_and_quit_cancels_it(tmp_path):
    run_dir = tmp_path / "own"
    store = live_run(run_dir)
    store.release()
    started, may_finish = threading.Event(), threading.Event()

    def runner() -> None:  # what `degaml adapt --tui` passes: the episode, writing through the store
        writer = TrajectoryStore.open(run_dir)
        writer.acquire()
        append_recorded_step(writer, 0)
        started.set()
        while not writer.cancel_requested():  # the episode checks the cancel file at each step boundary
            may_finish.wait(0.05)
        writer.append(StatusEvent(status="cancelled", message="cancel requested"))
        writer.release()

    app = RunApp(run_dir, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 1)
        assert app.runner_active and started.is_set()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None)  # exits by itself once the step is saved
    assert (run_dir / "cancel").exists()
    assert TrajectoryStore.open(run_dir).status() == "cancelled"


async def test_bad_events_line_is_reported_not_fatal(recorded_run):
    with open(recorded_run / "events.jsonl", "a") as fh:
        fh.write('{"kind": "nonsense"}\n')
    app = RunApp(recorded_run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "cannot follow the run" in str(app.query_one("#header", Static).render())


async def test_picker_lists_runs_newest_first(tmp_path):
    import os

    old = build_recorded_run(tmp_path / "runs" / "a")
    os.utime(old / "run.json", (1_700_000_000, 1_700_000_000))
    new = tmp_path / "runs" / "b"
    live_run(new).release()
    app = PickerApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        runs = app.query_one("#runs", DataTable)
        assert runs.row_count == 2
        assert [str(runs.get_row_at(i)[4]) for i in range(2)] == ["b", "a"]  # relative to the root
        # `new` says "running" but its writer released the lock without a final status: a killed run
        assert [getattr(runs.get_row_at(i)[2], "plain", "") for i in range(2)] == ["stopped", "finished"]
        assert "degaml adapt --resume" in str(app.query_one("#picker-title", Static).render())
        assert [runs.get_row_at(i)[3] for i in range(2)] == ["0/8", "5/8"]
        await pilot.press("down", "enter")
        await pilot.pause()
    assert app.return_value == old


async def test_picker_empty_root(tmp_path):
    app = PickerApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "no runs under" in str(app.query_one("#picker-title", Static).render())
        await pilot.press("q")
    assert app.return_value is None


def test_run_app_rejects_a_directory_that_is_not_a_run(tmp_path: Path):
    with pytest.raises(DegamlError, match="no run.json"):
        RunApp(tmp_path)


def test_tui_command_errors_are_one_line(tmp_path: Path):
    with pytest.raises(DegamlError, match="has no run.json"):
        tui_command(run_dir=tmp_path, root=Path("runs"))
    with pytest.raises(DegamlError, match="--root"):
        tui_command(run_dir=None, root=tmp_path / "missing")


async def test_capture_renders_the_main_screen_as_text(recorded_run):
    from degaml.tui.capture import capture_text

    text = await capture_text(recorded_run, 80, 24)
    lines = text.splitlines()
    assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
    assert "gsm8k" in lines[0] and "(unparsed)" in text and "best: step 4 · slot" in text


async def test_runner_error_is_shown_and_kept(live_store):
    def runner() -> None:
        raise DegamlError("spec: adapt.steps must be positive")

    app = RunApp(live_store.run_dir, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.runner_exception is not None)
        await pilot.pause()
        assert "runner failed: DegamlError: spec: adapt.steps must be positive" in str(
            app.query_one("#header", Static).render())
        await pilot.press("q")  # no runner left: quits at once
    assert isinstance(app.runner_exception, DegamlError)


async def test_picker_shows_a_live_writer_as_running_and_fits_80_columns(tmp_path):
    from degaml.tui.capture import screen_text

    store = live_run(tmp_path / "runs" / "adapt" / "a-very-long-task-name-for-a-run-20260101-120000-ab12")
    store.header = store.header.model_copy(update={"task": "a_very_long_task_name_that_goes_on_and_on"})
    (store.run_dir / "run.json").write_text(store.header.model_dump_json())
    try:
        app = PickerApp(tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            runs = app.query_one("#runs", DataTable)
            assert getattr(runs.get_row_at(0)[2], "plain", "") == "running"  # the writer holds the lock
            row = next(line for line in screen_text(app).splitlines() if "running" in line)
            assert "0/8" in row and row.rstrip().endswith("ab12")  # steps and the directory's end stay on screen
    finally:
        store.release()


async def test_a_killed_run_shows_stopped_with_the_resume_command(live_store):
    app = RunApp(live_store.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        header = str(app.query_one("#header", Static).render())
        assert "running" in header and "stopped" not in header
        live_store.release()  # what the OS does when the writer is killed
        await wait_for(pilot, lambda: "stopped" in str(app.query_one("#header", Static).render()))
        header = str(app.query_one("#header", Static).render())
        assert f"resume with `degaml adapt --resume {live_store.run_dir}`" in header
        live_store.acquire()  # resumed by another process: running again
        await wait_for(pilot, lambda: "stopped" not in str(app.query_one("#header", Static).render()))


async def test_exporting_no_accepted_steps_writes_nothing(live_store, tmp_path):
    out = tmp_path / "accepted.jsonl"
    app = RunApp(live_store.run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrajectoriesScreen)
        assert screen.export(str(out)) == 0
        await pilot.pause()
        assert "nothing to export" in str(screen.query_one("#export-result", Static).render())
        assert not app._notifications  # no toast over the path box
    assert not out.exists() and not (live_store.run_dir / "accepted.jsonl").exists()
