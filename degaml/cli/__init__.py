"""The `degaml` command line (typer). User errors print one line and exit 2; see `degaml --help`.

Command modules import torch/transformers inside their functions, so `--help`, `--version` and argument errors
answer at once (tests/cli/test_startup.py checks that `degaml --help` never imports torch)."""

from __future__ import annotations

import sys

import typer

from degaml import __version__
from degaml.cli.adapt_cmd import adapt_command, trajectories_app
from degaml.cli.baseline_cmd import baseline_command, baseline_train_command  # heavy imports inside the commands
from degaml.cli.build_cmd import build_app
from degaml.cli.common import VERBOSE, console, console_err, quiet_libraries
from degaml.cli.eval_cmd import eval_command
from degaml.cli.generator_cmd import generator_app
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.cli.models_cmd import models_command
from degaml.cli.policy_cmd import policy_app
from degaml.cli.reproduce_cmd import reproduce_command
from degaml.cli.report_cmd import report_command
from degaml.cli.spec_cmd import spec_app
from degaml.cli.strategy_cmd import strategy_app
from degaml.cli.tui_cmd import tui_command
from degaml.errors import EXIT_IO, EXIT_USAGE, DegamlError
from degaml.io import as_os_error

app = typer.Typer(
    name="degaml",
    cls=DegamlGroup,
    help="DeGAML-LLM: generate LoRA adapters from unlabeled prompts, adapt them at test time, evaluate honestly.",
    epilog=examples("degaml adapt specs/arc_easy.yaml num_test=100   # a quick try",
                    "degaml eval specs/arc_easy.yaml --limit 50",
                    "degaml tui                                       # pick a run to watch",
                    "degaml COMMAND --help                            # each command's options"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"degaml {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show details (e.g. data sources tried and skipped)."),
) -> None:
    VERBOSE["on"] = verbose


def _command(name: str, func, help: str, epilog: str) -> None:
    app.command(name, cls=DegamlCommand, help=help, epilog=epilog)(func)


_command("adapt", adapt_command, "Adapt the generated adapter to a task: policy-chosen strategies, rewards on validation, test once.",
         examples("degaml adapt specs/arc_easy.yaml num_test=100 adapt.steps=2   # quick try",
                  "degaml adapt specs/gsm8k.yaml --tui",
                  "degaml adapt --resume runs/adapt/gsm8k-20260101-120000-ab12 --steps 6"))
_command("eval", eval_command, "Score a model (optionally with a LoRA adapter) on a task spec's split.",
         examples("degaml eval specs/arc_easy.yaml --limit 50",
                  "degaml eval specs/gsm8k.yaml num_validation=50 --split validation --json out.json",
                  "degaml eval specs/arc_easy.yaml --adapter runs/adapter --split test"))
_command("models", models_command, "Show what models are available offline; --prepare builds the default model cache.",
         examples("degaml models", "degaml models --prepare"))
_command("tui", tui_command, "Watch an adaptation run live or inspect a finished one (no RUN_DIR: pick one under --root).",
         examples("degaml tui", "degaml tui runs/adapt/gsm8k-20260101-120000-ab12", "degaml tui --root runs/other"))
_command("baseline", baseline_command, "Run one comparison baseline on a task: fit on the labelled support, select on validation, test once.",
         examples("degaml baseline no_meta_lora specs/arc_easy.yaml --json out.json",
                  "degaml baseline base specs/arc_easy.yaml num_test=100"))
_command("baseline-train", baseline_train_command, "Meta-train a baseline artifact (union_lora, maml, abmll), optionally leaving tasks out.",
         examples("degaml baseline-train union_lora specs/meta/in_domain.yaml --exclude arc_easy"))
_command("reproduce", reproduce_command,
         "Regenerate the paper's Table 1 or 2, or the held-out table (resumable; cells cached by their inputs).",
         examples("degaml reproduce table2 --out runs/tables", "degaml reproduce table1 --profile cpu --seeds 3 --out runs/tables",
                  "degaml reproduce heldout --tasks specs/openbookqa.yaml --seeds 3 --out runs/tables-heldout"))
_command("report", report_command,
         "Render a table `degaml reproduce` wrote (markdown, optional bar chart), optionally only some rows; loads no model.",
         examples("degaml report docs/results/tables-heldout/heldout.json --row base --row generator --row degaml",
                  "degaml report runs/tables/table2.json --out table2.md --png table2.png"))
app.add_typer(strategy_app, name="strategy", help="Run one adaptation strategy (ablations) or print the action JSON Schema.")
app.add_typer(spec_app, name="spec", help="Validate task specs or print their JSON Schema.")
app.add_typer(trajectories_app, name="trajectories", help="Export stored adaptation trajectories (TRL prompt/completion records).")
app.add_typer(policy_app, name="policy", help="Train the adaptation policy by ReST^EM.")
app.add_typer(generator_app, name="generator", help="Meta-train the generalization module (collect, train) and generate adapters.")
app.add_typer(build_app, name="build", help="Rebuild the artifacts shipped in the package: the default generator, policy, baseline artifacts.")


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
    except Exception as exc:  # noqa: BLE001 - an I/O failure (disk full) is one line; anything else is a bug: traceback
        io_error = as_os_error(exc)
        if io_error is None:
            raise
        where = f" ({io_error.filename})" if io_error.filename else ""
        console_err.print(f"[bold red]error:[/] I/O error: {io_error.strerror or io_error}{where}; free space or fix "
                          "the path, then run the command again", highlight=False, soft_wrap=True)
        sys.exit(EXIT_IO)
    sys.exit(code if isinstance(code, int) else 0)
