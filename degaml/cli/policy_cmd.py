"""`degaml policy train META_SPEC --out DIR`: ReST^EM training of the adaptation policy."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from degaml.cli.common import console, console_err

policy_app = typer.Typer(no_args_is_help=True)


@policy_app.command("train", help="ReST^EM: roll out the policy on meta-training tasks, SFT a fresh LoRA on rewarded actions.")
def train_command(
    meta_path: Path = typer.Argument(..., metavar="META_SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="meta spec overrides, e.g. policy.epochs=2"),
    out: Path = typer.Option(..., "--out", help="output directory (resumable: re-run the same command to continue)"),
    iterations: int | None = typer.Option(None, "--iterations", min=1, max=100, help="overrides policy.iterations"),
    exclude: list[str] = typer.Option(None, "--exclude", help="leave this task (spec stem) out; repeatable"),
    generator: Path | None = typer.Option(None, "--generator", help="generator directory (default: the meta spec's, minus excluded tasks)"),
) -> None:
    from degaml.controller.rest_em import train_policy
    from degaml.generator.pipeline import generator_dir, included_tasks
    from degaml.specs import load_meta_spec

    meta = load_meta_spec(meta_path, overrides or [])
    exclude = exclude or []
    specs = [spec for _, spec in included_tasks(meta, exclude)]
    gen = generator or generator_dir(meta, exclude)
    command = "degaml " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    manifest = train_policy(meta, specs, gen, out, iterations, log=lambda m: console_err.print(m, highlight=False), command=command)
    rates = ", ".join(f"{it['reward_rate']:.3f}" for it in manifest["iterations"])
    console.print(f"policy → {out / 'policy'}; reward rate per iteration: {rates}", highlight=False)
