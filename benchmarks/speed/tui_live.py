"""Live check of `degaml adapt SPEC --tui` on the real defaults, headless: the same RunApp with the episode as its
background runner (what `--tui` starts), driven by Textual's Pilot in an 80×24 screen. Every time a new step
lands, the screen is captured with the elapsed time, so the doc can show decisions appearing while the run goes on.

Usage: python benchmarks/speed/tui_live.py specs/gsm8k.yaml [KEY=VALUE ...] [--run-dir DIR] [--out docs/results/tui/gsm8k-live.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from pathlib import Path

from rich.console import Console

from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.tui.app import RunApp


def screen_text(app: RunApp) -> str:
    console = Console(width=80, height=24, file=io.StringIO(), record=True, force_terminal=True, color_system="truecolor")
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


async def watch(store, spec, out: Path, timeout: float) -> None:
    app = RunApp(store.run_dir, runner=lambda: run_adapt(store, spec))
    frames: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        seen: set[int] = set()
        start = time.time()
        while time.time() - start < timeout:
            await pilot.pause(2.0)
            steps, status = len(store.steps()), store.status()
            if steps not in seen or status == "finished":
                seen.add(steps)
                frames.append(f"--- t = {time.time() - start:.0f} s, steps in the store: {steps}, status: {status}\n{screen_text(app)}\n")
                print(frames[-1], flush=True)
                out.write_text("\n".join(frames))
            if status in ("finished", "failed"):
                break
        await pilot.press("q")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    store = create_run(args.spec, args.overrides, args.run_dir)
    _, spec = open_run(store.run_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(watch(store, spec, args.out, args.timeout))


if __name__ == "__main__":
    main()
