"""The `degaml` command line (typer). User errors print one line and exit 2; see `degaml --help`."""

from __future__ import annotations

import sys

import typer

from degaml.cli.adapt_cmd import adapt_command, trajectories_app
from degaml.cli.baseline_cmd import baseline_command, baseline_train_command  # heavy imports inside the commands
from degaml.cli.common import console_err, quiet_libraries
from degaml.cli.eval_cmd import eval_command
from degaml.cli.generator_cmd import generator_app
from degaml.cli.models_cmd import models_command
from degaml.cli.policy_cmd import policy_app
from degaml.cli.reproduce_cmd import reproduce_command
from degaml.cli.spec_cmd import spec_app
from degaml.cli.strategy_cmd import strategy_app
from degaml.cli.tui_cmd import tui_command
from degaml.errors import EXIT_USAGE, DegamlError

app = typer.Typer(
    name="degaml",
    help="DeGAML-LLM: generate LoRA adapters from unlabeled prompts, adapt them at test time, evaluate honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("adapt", help="Adapt the generated adapter to a task: policy-chosen strategies, rewards on validation, test once.")(adapt_command)
app.command("eval", help="Score a model (optionally with a LoRA adapter) on a task spec's split.")(eval_command)
app.command("models", help="Show what models are available offline; --prepare builds the default model cache.")(models_command)
app.command("tui", help="Watch an adaptation run live or inspect a finished one (no RUN_DIR: pick one under --root).")(tui_command)
app.command("baseline", help="Run one comparison baseline on a task: fit on the labelled support, select on validation, test once.")(baseline_command)
app.command("baseline-train", help="Meta-train a baseline artifact (union_lora, maml, abmll), optionally leaving tasks out.")(baseline_train_command)
app.command("reproduce", help="Regenerate the paper's Table 1 or 2 (resumable; cells cached by their inputs).")(reproduce_command)
app.add_typer(strategy_app, name="strategy", help="Run one adaptation strategy (ablations) or print the action JSON Schema.")
app.add_typer(spec_app, name="spec", help="Validate task specs or print their JSON Schema.")
app.add_typer(trajectories_app, name="trajectories", help="Export stored adaptation trajectories (TRL prompt/completion records).")
app.add_typer(policy_app, name="policy", help="Train the adaptation policy by ReST^EM.")
app.add_typer(generator_app, name="generator", help="Meta-train the generalization module (collect, train) and generate adapters.")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line and exit code 2."""
    quiet_libraries()
    try:
        code = app(args=argv, standalone_mode=False)  # click returns the code of a typer.Exit here
    except DegamlError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors (bad option value, missing argument)
        fmt = getattr(exc, "format_message", None)
        message = fmt() if callable(fmt) else str(exc)
        console_err.print(f"[bold red]error:[/] {' '.join(message.split())} (see --help)", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
    sys.exit(code if isinstance(code, int) else 0)
