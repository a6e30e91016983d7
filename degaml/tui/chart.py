"""A small Unicode bar chart of validation accuracy per step with the baseline as a reference line.

Drawn by hand with eighth blocks (▁▂▃▄▅▆▇█) — no plotting dependency. Each step is one bar, green when it beat
the baseline (reward 1) and red otherwise; a failed step is a red ✗ on the floor; a running step is a dim ·.
The baseline is a dim yellow ┄ line across the cells a bar does not cover. The y-axis is labelled with the top,
the baseline and the floor of the scale.
"""

from __future__ import annotations

from rich.text import Text

from degaml.tui.format import pct

BLOCKS = " ▁▂▃▄▅▆▇█"
LABEL_WIDTH = 7  # "100.0% " / "base  "
GOOD, BAD, BASE, DIM = "green", "red", "yellow", "grey50"


def _scale(values: list[float], baseline: float | None) -> tuple[float, float]:
    points = values + ([baseline] if baseline is not None else [])
    if not points:
        return 0.0, 1.0
    lo, hi = min(points), max(points)
    pad = max(0.02, (hi - lo) * 0.15)
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    if hi - lo < 1e-9:
        lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
    return lo, hi


def render_chart(
    series: list[tuple[int, float | None, str]], baseline: float | None, width: int, height: int
) -> Text:
    """`series` is (step, accuracy or None, 'running'|'done'|'failed'); returns `height` lines of `width` cells."""
    rows = max(1, height - 1)  # the last line holds the step numbers
    bar_width = 2
    slots = max(1, (width - LABEL_WIDTH) // (bar_width + 1))
    shown = series[-slots:]  # the newest steps when they do not all fit
    lo, hi = _scale([acc for _, acc, _ in shown if acc is not None], baseline)
    levels = rows * 8

    def level(value: float) -> float:
        return (value - lo) / (hi - lo) * levels

    base_row = min(rows - 1, int(level(baseline) // 8)) if baseline is not None else None
    text = Text(no_wrap=True, overflow="crop")
    for r in reversed(range(rows)):
        if r == base_row:
            text.append(f"{pct(baseline):>6} ", style=BASE)
        elif r == rows - 1:
            text.append(f"{pct(hi):>6} ", style=DIM)
        elif r == 0:
            text.append(f"{pct(lo):>6} ", style=DIM)
        else:
            text.append(" " * LABEL_WIDTH)
        for _, acc, state in shown:
            cell_fill = 0
            if acc is not None:
                cell_fill = int(round(min(8.0, max(0.0, level(acc) - r * 8))))
            if cell_fill > 0:
                good = baseline is None or acc is None or acc > baseline
                text.append(BLOCKS[cell_fill] * bar_width, style=GOOD if good else BAD)
            elif r == 0 and state == "failed":
                text.append("✗".center(bar_width), style=BAD)
            elif r == 0 and state == "running":
                text.append("·".center(bar_width), style=DIM)
            elif r == base_row:
                text.append("┄" * bar_width, style=BASE)
            else:
                text.append(" " * bar_width)
            text.append("┄" if r == base_row else " ", style=BASE)
        text.append("\n")
    text.append(" " * LABEL_WIDTH)
    for step, _, _ in shown:
        text.append(f"{step % 100:>{bar_width}} ", style=DIM)
    return text
