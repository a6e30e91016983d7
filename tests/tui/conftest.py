"""Fixtures for the TUI tests: a recorded (finished) run and a live run that tests append to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.recorded_run import build_recorded_run, live_run


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    return build_recorded_run(tmp_path / "run")


@pytest.fixture
def live_store(tmp_path: Path):
    store = live_run(tmp_path / "live")
    yield store
    store.release()
