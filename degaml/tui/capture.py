"""Render a run's TUI screen to plain text without a terminal (`python -m degaml.tui.capture RUN_DIR`).

Used to produce the screen capture in docs/tui.md: the app runs headless at the given size, optional keys are
pressed, and the screen is printed as text (no colours). Reads the run only, like the viewer itself.
"""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

from rich.console import Console
from textual.app import App

from degaml.tui.app import RunApp


def screen_text(app: App) -> str:
    """What a (headless) app's screen shows now, as plain text lines of its width."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


async def capture_text(run_dir: Path, width: int = 80, height: int = 24, keys: tuple[str, ...] = ()) -> str:
    """The screen of `RunApp(run_dir)` after pressing `keys`, as `height` lines of plain text."""
    app = RunApp(run_dir)
    async with app.run_test(size=(width, height)) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        text = screen_text(app)
        await pilot.press("q")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m degaml.tui.capture", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument("--height", type=int, default=24)
    parser.add_argument("--keys", nargs="*", default=[], help="keys to press first, e.g. down enter")
    args = parser.parse_args(argv)
    print(asyncio.run(capture_text(args.run_dir, args.width, args.height, tuple(args.keys))))


if __name__ == "__main__":
    main()
