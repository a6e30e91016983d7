"""`degaml strategy run SPEC --action JSON` (one strategy on the generated adapter; the ablation runner) and
`degaml strategy schema` (the JSON Schema the policy's output is constrained to)."""

from __future__ import annotations

import enum
import json
import time
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from degaml.cli.common import check_writable, check_writable_dir, consent_remote_code, console, console_err, write_json
from degaml.errors import DegamlError

strategy_app = typer.Typer(no_args_is_help=True)


class ScoredSplitOption(str, enum.Enum):
    validation = "validation"
    test = "test"


def parse_action(text: str):
    """`--action` JSON (a strategy object, or {"strategy": {...}}) → the validated params model."""
    from degaml.strategies.registry import Action

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DegamlError(f"--action: not JSON ({exc.msg} at char {exc.pos})") from None
    if isinstance(data, dict) and "strategy" not in data:
        data = {"strategy": data}
    try:
        return Action.model_validate(data).strategy
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "strategy"
        raise DegamlError(f"--action: {where}: {err['msg']} (got {json.dumps(err.get('input'))[:80]})") from None


@strategy_app.command("schema", help="Print the JSON Schema of the strategy union (what the policy emits).")
def schema_command() -> None:
    from degaml.strategies.registry import action_json_schema

    typer.echo(json.dumps(action_json_schema(), indent=2))


@strategy_app.command("run", help="Run one adaptation strategy on the generated adapter and score it.")
def run_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]..."),
    action: str = typer.Option(..., "--action", help='strategy JSON, e.g. \'{"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"}\''),
    adapter: Path | None = typer.Option(None, "--adapter", help="start from this PEFT adapter instead of the generated θ₀"),
    split: ScoredSplitOption = typer.Option(ScoredSplitOption.validation, "--split", help="split to score (test: final numbers only)"),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="where artifacts go (default runs/strategy/<task>-<family>-<time>)"),
    json_path: Path | None = typer.Option(None, "--json", help="write the result JSON here"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="allow the spec's trust_remote_code: true (runs the model's own Python code)"),
) -> None:
    from degaml.data import load_task_data
    from degaml.generator.pipeline import resolve_generator
    from degaml.generator.sampler import AdapterSampler
    from degaml.models import load_llm
    from degaml.specs import load_spec
    from degaml.strategies.base import StrategyContext
    from degaml.strategies.registry import run_strategy

    params = parse_action(action)
    spec = load_spec(spec_path, overrides or [])
    consent_remote_code(spec.trust_remote_code, trust_remote_code)
    check_writable(json_path, "--json")
    check_writable_dir(work_dir, "--work-dir")
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise DegamlError(f"--adapter: '{adapter}' has no adapter_config.json (not a PEFT adapter directory)")
    needs_generator = adapter is None or params.family == "tts"
    generator = resolve_generator(spec.generator) if needs_generator else None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = work_dir or Path("runs") / "strategy" / f"{spec.task}-{params.family}-{stamp}"
    task = load_task_data(spec, on_skip=lambda m: console_err.print(f"[dim]{m}[/]", highlight=False))
    loaded = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
    sampler = AdapterSampler.load(generator, work / "adapters") if generator else None
    progress = console_err.status("starting")
    ctx = StrategyContext(loaded, spec, task, sampler, work, seed=spec.seed, _initial=adapter,
                          progress=lambda what, f: progress.update(f"{what} ({100 * f:.0f}%)"))
    with progress:
        progress.update("scoring θ₀")
        baseline = ctx.evaluate(split.value, ctx.initial_adapter())
        outcome = run_strategy(params, ctx, split.value)
    table = Table(title=f"{spec.task} · {params.family} · {split.value}", show_header=False)
    table.add_row("params", json.dumps(outcome.params))
    table.add_row("θ₀", f"{baseline.accuracy:.4f} (95% CI {baseline.ci95[0]:.4f}–{baseline.ci95[1]:.4f}, n={baseline.n})")
    if outcome.result is not None:
        lo, hi = outcome.result.ci95
        table.add_row("adapted", f"{outcome.accuracy:.4f} (95% CI {lo:.4f}–{hi:.4f})" + ("" if outcome.ok else "  [failed → θ₀]"))
    table.add_row("delta", "—" if outcome.accuracy is None else f"{outcome.accuracy - baseline.accuracy:+.4f}")
    table.add_row("cost", f"{outcome.seconds:.1f} s, {outcome.tokens} tokens")
    if outcome.error:
        table.add_row("error", outcome.error)
    console.print(table)
    if json_path is not None:
        write_json(json_path, outcome.summary() | {"task": spec.task, "baseline_accuracy": baseline.accuracy,
                                                   "baseline_ci95": list(baseline.ci95), "baseline_seconds": baseline.seconds,
                                                   "adapter": str(ctx.initial_adapter()),
                                                   "data": task.provenance.model_dump(mode="json")})
    if not outcome.ok:
        raise typer.Exit(1)
