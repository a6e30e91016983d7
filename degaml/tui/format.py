"""Plain-text formatting of run values for the TUI: percentages, signed deltas, CIs, compact action params.

Accuracies are fractions in [0, 1] and shown as percentages; a delta (accuracy − baseline) is shown signed, in
percentage points with a `%` sign ("+4.0%"). Nothing here depends on Textual, so it is easy to test.
"""

from __future__ import annotations

import json
from typing import Any

from degaml.controller.store.events import Score

DASH = "—"


def pct(value: float | None, digits: int = 1) -> str:
    """0.4567 → '45.7%'; None → '—'."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def signed_pct(delta: float | None, digits: int = 1) -> str:
    """+0.04 → '+4.0%', −0.025 → '−2.5%', None → '—'."""
    if delta is None:
        return DASH
    text = f"{100 * abs(delta):.{digits}f}%"
    if round(100 * delta, digits) == 0:
        return f"±{text}"
    return ("+" if delta > 0 else "−") + text


def score_text(score: Score | None) -> str:
    """'45.0% [38.2–51.9] n=200' (Wilson 95% CI)."""
    if score is None:
        return DASH
    lo, hi = score.ci95
    return f"{pct(score.accuracy)} [{100 * lo:.1f}–{100 * hi:.1f}] n={score.n}"


def seconds_text(seconds: float | None) -> str:
    """12.34 → '12.3s', 245 → '4m05s', 7384 → '2h03m'."""
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def family_of(action: dict[str, Any] | None) -> str | None:
    """The strategy family of a parsed action ({"strategy": {"family": ...}}), or None."""
    if not action:
        return None
    strategy = action.get("strategy")
    family = strategy.get("family") if isinstance(strategy, dict) else None
    return str(family) if family is not None else None


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def params_text(action: dict[str, Any] | None, width: int | None = None) -> str:
    """The action's parameters other than the family, compactly: 'lr=0.0001 steps=20'."""
    if not action:
        return DASH
    strategy = action.get("strategy")
    if not isinstance(strategy, dict):
        return DASH
    text = " ".join(f"{k}={_value_text(v)}" for k, v in strategy.items() if k != "family") or DASH
    return clip(text, width) if width else text


def clip(text: str, width: int) -> str:
    """Cut `text` to `width` characters, ending with '…' when cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def bar(fraction: float, width: int) -> str:
    """A text progress bar: '█████░░░░░'."""
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled)


def short_path(value: str) -> str:
    """A generator/policy directory by its last component (full paths are in run.json and the detail pane)."""
    return value.rstrip("/").rsplit("/", 1)[-1] or value
