"""The text of the detail pane for one step: what the policy saw, what it emitted, what the strategy did.

Sections (top to bottom, so the short, decisive parts are visible first in a small terminal):
headline · error / parse error · parsed action · raw constrained JSON · outcome and cost · strategy log · the
exact chat prompt (`messages`). Everything is appended as plain text (never parsed as markup), because
prompts and model output may contain brackets.
"""

from __future__ import annotations

import json

from rich.text import Text

from degaml.tui.format import DASH, params_text, pct, pretty_json, seconds_text, signed_pct
from degaml.tui.model import StepRow

SECTION = "bold cyan"


def _section(text: Text, title: str, note: str = "") -> None:
    text.append(f"\n── {title} ", style=SECTION)
    if note:
        text.append(note, style="grey62")
    text.append("\n")


def headline(row: StepRow, ended: bool) -> Text:
    text = Text()
    text.append(f"step {row.step}", style="bold")
    text.append(f" · {row.family or '(unparsed)'} ")
    text.append(params_text(row.action), style="grey62")
    text.append("\n")
    result = row.result
    if result is None:
        if ended:
            text.append("interrupted: the run ended before this step completed", style="yellow")
        elif row.progress is not None:
            text.append(f"running: {row.progress.what} ({pct(row.progress.fraction, 0)})", style="yellow")
        else:
            text.append("running: strategy started", style="yellow")
        return text
    if row.state == "failed":
        text.append("failed", style="bold red")
    else:
        text.append(f"validation {pct(result.accuracy)}  Δ {signed_pct(result.delta)}  ")
    text.append("  reward ")
    text.append("✓ 1" if result.reward == 1 else "✗ 0", style="bold green" if result.reward == 1 else "bold red")
    text.append(f"  · {seconds_text(result.seconds)}")
    return text


def render_detail(row: StepRow, ended: bool = False) -> Text:
    """Everything the run recorded about one step."""
    text = headline(row, ended)
    decision, result = row.decision, row.result
    outcome = result.outcome if result is not None else {}
    if result is not None and outcome.get("error"):
        _section(text, "error")
        text.append(str(outcome["error"]), style="red")
        text.append("\n")
    if decision is not None and decision.parse_error:
        _section(text, "parse error", f"after {decision.attempts} attempt(s)")
        text.append(decision.parse_error, style="red")
        text.append("\n")
    if decision is None:
        _section(text, "decision")
        text.append("no decision record for this step (written before the run was resumed?)\n", style="grey62")
    else:
        _section(text, "parsed action")
        text.append(pretty_json(decision.action) if decision.action is not None else "none: the output did not validate")
        text.append("\n")
        _section(text, "raw policy output", f"{decision.attempts} attempt(s), {seconds_text(decision.policy_seconds)}")
        text.append(decision.raw or "(empty)", style="magenta")
        text.append("\n")
    if result is not None:
        _section(text, "outcome")
        ci = outcome.get("ci95")
        ci_text = f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}] n={outcome.get('n', 0)}" if ci else ""
        text.append(f"{outcome.get('split', 'validation')} accuracy {pct(result.accuracy)}{ci_text}\n")
        text.append(f"best so far: step {result.best_step if result.best_step is not None else 'θ₀'}"
                    f" at {pct(result.best_accuracy)}\n")
        tokens = outcome.get("tokens")
        tokens_text = f"{tokens:,}" if isinstance(tokens, int) else DASH
        text.append(f"cost: {seconds_text(result.seconds)} strategy, {tokens_text} tokens")
        if decision is not None:
            text.append(f", {seconds_text(decision.policy_seconds)} policy")
        text.append("\n")
        if outcome.get("artifact"):
            text.append(f"artifact: {outcome['artifact']}\n", style="grey62")
        log = outcome.get("log") or []
        _section(text, "strategy log", f"{len(log)} line(s)")
        for line in log:
            text.append(f"{line}\n")
    elif row.progress is not None:
        _section(text, "progress")
        text.append(f"{row.progress.what} ({pct(row.progress.fraction, 0)})\n")
    if decision is not None:
        _section(text, "prompt", f"{len(decision.messages)} message(s)")
        for message in decision.messages:
            text.append(f"[{message.get('role', '?')}]\n", style="bold")
            text.append(f"{message.get('content', '')}\n")
        if decision.state:
            _section(text, "state s_t")
            text.append(json.dumps(decision.state, ensure_ascii=False, separators=(", ", ": ")) + "\n", style="grey62")
    return text
