"""`degaml tui [RUN_DIR]`: watch a run live or inspect a finished one; without RUN_DIR, pick one under --root."""

from __future__ import annotations

from pathlib import Path

import typer

from degaml.cli.common import require_terminal
from degaml.errors import DegamlError


def tui_command(
    run_dir: Path | None = typer.Argument(None, metavar="RUN_DIR", help="run directory (holds run.json and events.jsonl)"),
    root: Path = typer.Option(Path("runs"), help="where to look for runs when RUN_DIR is not given"),
) -> None:
    from degaml.controller.store.trajectory_store import TrajectoryStore
    from degaml.tui import PickerApp, RunApp  # Textual is imported only for this command

    hint = "run it from a terminal, or read the run's events.jsonl directly"
    if run_dir is None:
        if not root.is_dir():
            raise DegamlError(f"--root: '{root}' is not a directory (pass a RUN_DIR or --root DIR)")
        require_terminal("tui", hint)
        run_dir = PickerApp(root).run()
        if run_dir is None:
            return
    TrajectoryStore.open(run_dir)  # a bad directory fails here, as one line, before the screen switches
    require_terminal("tui", hint)  # not a terminal (`degaml tui RUN </dev/null >file`): refused, never escape codes
    RunApp(run_dir).run()
