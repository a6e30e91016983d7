"""`degaml spec validate FILE...` and `degaml spec schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from degaml.cli.common import console, console_err
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.errors import EXIT_USAGE, DegamlError, SpecError
from degaml.specs.check import offline_problems
from degaml.specs.load import load_spec, spec_json_schema

spec_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)


@spec_app.command("validate", cls=DegamlCommand, epilog=examples("degaml spec validate specs/*.yaml"))
def validate(files: list[Path] = typer.Argument(..., metavar="FILE", help="YAML spec files to check")) -> None:
    """Check each spec as `eval` does before scoring: what it names on this machine (local paths), its data (loaded
    and parsed) and its templates (rendered for one item); one line per file. Exit 2 if any is invalid. A file named
    _*.yaml is a base that specs include, not a task: it is skipped (and checked through the specs that include it)."""
    from degaml.data import load_task_data
    from degaml.evaluation.prompts import check_templates

    failed = 0
    for path in files:
        if path.name.startswith("_"):  # specs/rg/_base.yaml: what specs include, checked through the specs
            console.print(f"[dim]skip[/] {path}: a base file that specs include (`include:`), not a task", highlight=False)
            continue
        try:
            spec = load_spec(path)
            problems = offline_problems(spec)
            if problems:
                raise SpecError(f"{path}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
            data = load_task_data(spec)
            check_templates(spec, data.fewshot_pool(), data.validation[0])
        except SpecError as exc:
            failed += 1
            console_err.print(f"[red]invalid[/] {exc}", highlight=False, soft_wrap=True)
        except DegamlError as exc:  # data or templates: name the file
            failed += 1
            console_err.print(f"[red]invalid[/] {path}: {exc}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[green]ok[/] {path}: task {spec.task} ({spec.format}, {len(spec.dataset)} source(s))", highlight=False)
    if failed:
        raise typer.Exit(EXIT_USAGE)


@spec_app.command("schema", cls=DegamlCommand, epilog=examples("degaml spec schema > spec.schema.json"))
def schema() -> None:
    """Print the JSON Schema of a task spec (point your editor's YAML language server at it)."""
    typer.echo(json.dumps(spec_json_schema(), indent=2))
