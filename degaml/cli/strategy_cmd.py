"""`degaml strategy run SPEC --action JSON` (one strategy on the generated adapter; the ablation runner) and
`degaml strategy schema` (the JSON Schema the policy's output is constrained to)."""

from __future__ import annotations

import enum
import json
import time
from contextlib import nullcontext
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from degaml.cli.common import PhaseProgress, check_writable, check_writable_dir, consent_remote_code, console, data_line, data_notes, write_json
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.errors import DegamlError

strategy_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)
FAMILIES = {  # the action union's families (tests/cli check this against degaml.strategies.registry)
    "ttt": "test-time training of θ₀ on unlabeled inputs",
    "tts": "test-time scaling: ensembles/routers over several adapters",
    "lora_mix": "two-subspace LoRA mixing",
    "slot": "SLOT: per-sample latent optimisation",
    "support_sft": "supervised LoRA steps on the labelled support items",
    "tfew": "T-Few-style rank-classification training on the labelled support",
    "library_mix": "LoraHub composition with the meta-training task LoRAs (adapt.library)",
    "calibrate": "correct the answer prior at scoring time (multiple choice)",
    "fewshot": "in-context demonstrations from the labelled support",
}
RUN_HELP = ("Run one adaptation strategy on the generated adapter and score it.\n\n\b\nFamilies (--action '{\"family\": ...}'):\n"
            + "\n".join(f"  {name:<9} {what}" for name, what in FAMILIES.items())
            + "\n\nEvery parameter and its allowed values: degaml strategy schema")


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


@strategy_app.command("schema", cls=DegamlCommand, epilog=examples("degaml strategy schema > action.schema.json"), help="Print the JSON Schema of the strategy union (what the policy emits).")
def schema_command() -> None:
    from degaml.strategies.registry import action_json_schema

    typer.echo(json.dumps(action_json_schema(), indent=2))


@strategy_app.command("run", cls=DegamlCommand, help=RUN_HELP, short_help="Run one adaptation strategy and score it.",
                      epilog=examples("""degaml strategy run specs/arc_easy.yaml --action '{"family": "tts", "num_prompt_batches": 3, "method": "majority_vote"}'""",
                                      """degaml strategy run specs/arc_easy.yaml num_validation=50 --action '{"family": "lora_mix", "lambda": 0.5}'""",
                                      "degaml strategy schema   # every family's parameters"))
def run_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="spec overrides, e.g. num_validation=50"),
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
    from degaml.specs.load import load_spec
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
    task = load_task_data(spec, on_skip=data_notes())
    data_line(spec.task, task, split.value, len(task.split(split.value)))
    loaded = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
    sampler = AdapterSampler.load(generator, work / "adapters") if generator else None
    release = task.test.released("degaml strategy --split test") if split.value == "test" else nullcontext()
    with release, PhaseProgress() as progress:  # the user asked for the test split by name
        ctx = StrategyContext(loaded, spec, task, sampler, work, seed=spec.seed, _initial=adapter, progress=progress)
        baseline = ctx.evaluate(split.value, ctx.initial_adapter(), label="θ₀")
        outcome = run_strategy(params, ctx, split.value)
        progress.done()
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
