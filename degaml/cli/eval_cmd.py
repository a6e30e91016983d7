"""`degaml eval SPEC [key=value ...]`: score a model on one split of a task and report accuracy with a 95% CI."""

from __future__ import annotations

import enum
from pathlib import Path

import typer
from rich.table import Table

from degaml.cli.common import (check_writable, consent_remote_code, console, data_line, data_notes, json_text, jsonl_text,
                               progress_bar, write_outputs)
from degaml.errors import DegamlError
from degaml.specs.load import load_spec


class EvalSplit(str, enum.Enum):
    validation = "validation"
    test = "test"
    all = "all"


def print_result(result) -> None:
    table = Table(title=f"{result.task} · {result.split}", show_header=False)
    lo, hi = result.ci95
    table.add_row("model", result.model + (f" + adapter {result.adapter}" if result.adapter else ""))
    table.add_row("n", str(result.n))
    table.add_row(f"accuracy ({result.metric})", f"{result.accuracy:.4f}  (95% CI {lo:.4f}–{hi:.4f})")
    if result.acc_norm is not None:
        table.add_row("acc / acc_norm", f"{result.acc:.4f} / {result.acc_norm:.4f}")
    table.add_row("time", f"{result.seconds:.1f} s · {result.examples_per_second:.2f} ex/s · {result.tokens_per_second:.0f} tok/s")
    console.print(table)


def eval_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="task spec YAML"),
    overrides: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="spec overrides, e.g. batch_size=8"),
    split: EvalSplit = typer.Option(EvalSplit.validation, help="validation, test, or all (every item in file order)"),
    limit: int | None = typer.Option(None, min=1, help="score only the first N items of the split"),
    adapter: Path | None = typer.Option(None, help="PEFT LoRA adapter directory to apply"),
    json_path: Path | None = typer.Option(None, "--json", help="write the summary JSON here"),
    predictions: Path | None = typer.Option(None, help="write one JSON line per item here"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="allow the spec's trust_remote_code: true (runs the model's own Python code)"),
) -> None:
    spec = load_spec(spec_path, overrides or [])
    consent_remote_code(spec.trust_remote_code, trust_remote_code)
    check_writable(json_path, "--json")
    check_writable(predictions, "--predictions")
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise DegamlError(f"--adapter: '{adapter}' has no adapter_config.json (not a PEFT adapter directory)")
    if adapter is not None:
        from degaml.models.adapters import check_adapter_fits, check_adapter_weights
        from degaml.models.llm import local_model_config

        check_adapter_weights(adapter, "--adapter")  # NaN/inf, huge or unreadable weights: refused before any work
        if (model_config := local_model_config(spec.model)) is not None:
            check_adapter_fits(adapter, model_config, "--adapter")  # an adapter for another model, too
    from degaml.data import load_task_data  # heavy imports only once the arguments are known to be good
    from degaml.evaluation import evaluate
    from degaml.evaluation.prompts import check_templates
    from degaml.models import load_llm

    data = load_task_data(spec, on_skip=data_notes())
    examples = data.read(split.value, f"degaml eval --split {split.value}")[:limit]  # the user asked for this split
    data_line(spec.task, data, split.value, len(examples))
    if examples:
        check_templates(spec, data.fewshot_pool(), examples[0])  # a broken template fails before the model loads
    loaded = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
    with progress_bar(f"eval {spec.task}/{split.value}", total=len(examples)) as advance:
        result = evaluate(loaded, spec, examples, split.value, fewshot_pool=data.fewshot_pool(), adapter=adapter, progress=advance)
    print_result(result)
    summary = result.summary() | {"spec": str(spec_path), "data_source": data.source.source,
                                  "data": data.provenance.model_dump(mode="json")}
    write_outputs([("--json", json_path, json_text(summary)),  # both or neither: a full disk keeps both elsewhere
                   ("--predictions", predictions, jsonl_text([vars(p) for p in result.predictions]) if predictions else "")])
