"""The `degaml` command line (typer). User errors print one line and exit 2; see `degaml --help`."""

from __future__ import annotations

import sys

import typer

from degaml.cli.common import console_err, quiet_libraries
from degaml.cli.eval_cmd import eval_command
from degaml.cli.models_cmd import models_command
from degaml.cli.spec_cmd import spec_app
from degaml.errors import EXIT_USAGE, DegamlError

app = typer.Typer(
    name="degaml",
    help="DeGAML-LLM: generate LoRA adapters from unlabeled prompts, adapt them at test time, evaluate honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("eval", help="Score a model (optionally with a LoRA adapter) on a task spec's split.")(eval_command)
app.command("models", help="Show what models are available offline; --prepare builds the default model cache.")(models_command)
app.add_typer(spec_app, name="spec", help="Validate task specs or print their JSON Schema.")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line and exit code 2."""
    quiet_libraries()
    try:
        app(args=argv, standalone_mode=False)
    except DegamlError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors (bad option, missing argument) and aborts
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
