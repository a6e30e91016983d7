"""Snapshot tests of the run viewer at 80×24 over the recorded run (update with `--snapshot-update`).

The run directory is created under a temporary cwd and passed as the relative path `run`, so no absolute
temporary path reaches the screen; every value shown comes from the recorded events (no clocks).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from degaml.tui import RunApp
from tests.tui.recorded_run import build_recorded_run


@pytest.fixture
def run_app(tmp_path, monkeypatch) -> RunApp:
    monkeypatch.chdir(tmp_path)
    build_recorded_run(Path("run"))
    return RunApp(Path("run"))


def test_main_screen(snap_compare, run_app):
    assert snap_compare(run_app, terminal_size=(80, 24))


def test_selected_step_detail_pane(snap_compare, run_app):
    assert snap_compare(run_app, press=["down", "down", "down"], terminal_size=(80, 24))


def test_step_detail_screen(snap_compare, run_app):
    assert snap_compare(run_app, press=["down", "enter"], terminal_size=(80, 24))


def test_trajectories_screen(snap_compare, run_app):
    assert snap_compare(run_app, press=["t"], terminal_size=(80, 24))


def test_help_screen(snap_compare, run_app):
    assert snap_compare(run_app, press=["question_mark"], terminal_size=(80, 24))
