"""`degaml build generator|policy|baselines`: rebuild the artifacts shipped in the package (the default generator, the
default policy adapter, the meta-trained baseline artifacts) from a source checkout, each with a manifest naming how.

The training steps run as resumable `degaml` child processes; re-running a build continues where it stopped. The
logic lives in `degaml.generator.build`, `degaml.controller.policy.build` and `degaml.baselines.build`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from degaml.cli.common import console
from degaml.cli.help import DegamlCommand, DegamlGroup, examples

build_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)
SKIP = typer.Option(False, "--skip-training", help="only copy an already trained artifact into the package")


def _in_repo(path: Path | None, default: str) -> Path:
    from degaml.checkout import REPO

    return path if path is not None else REPO / default


@build_app.command("generator", cls=DegamlCommand,
                   help="Collect + train the default generator on a meta spec, copy it into the package with a manifest.",
                   epilog=examples("degaml build generator                      # specs/meta/in_domain.yaml",
                                   "degaml build generator --skip-training      # only copy runs/meta/in_domain/generator"))
def generator_command(
    meta: Path | None = typer.Option(None, "--meta", metavar="META_SPEC", help="meta spec (default: specs/meta/in_domain.yaml)"),
    skip_training: bool = SKIP,
) -> None:
    from degaml.generator.build import build_generator

    manifest = build_generator(_in_repo(meta, "specs/meta/in_domain.yaml"), skip_training)
    console.print(json.dumps({k: manifest[k] for k in ("metrics", "bytes", "sha256")}, indent=2), highlight=False)


@build_app.command("policy", cls=DegamlCommand,
                   help="ReST^EM-train the default policy (resumable, optionally sharded), copy its adapter into the package.",
                   epilog=examples("degaml build policy --meta specs/meta/broad.yaml draws=1 --out runs/policy-broad",
                                   "degaml build policy draws=1 --exclude arc_easy --iterations 2 --shards 2",
                                   "degaml build policy --out runs/policy-broad --skip-training"))
def policy_command(
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="meta spec overrides, e.g. draws=1 policy.epochs=10"),
    meta: Path | None = typer.Option(None, "--meta", metavar="META_SPEC", help="meta spec (default: specs/meta/broad.yaml)"),
    exclude: list[str] = typer.Option(None, "--exclude", metavar="TASK", help="leave this task (spec stem) out; repeatable"),
    generator: str | None = typer.Option(None, "--generator", metavar="DIR", help="generator directory (default: the meta spec's)"),
    out: Path | None = typer.Option(None, "--out", help="training directory inside the checkout (default: runs/policy-broad)"),
    iterations: int = typer.Option(1, "--iterations", min=1, max=100, help="ReST^EM iterations"),
    shards: int = typer.Option(1, "--shards", min=1, help="E-step processes (one thread each)"),
    skip_training: bool = SKIP,
) -> None:
    from degaml.controller.policy.build import build_policy

    manifest = build_policy(_in_repo(meta, "specs/meta/broad.yaml"), overrides or [], exclude or [], generator,
                            _in_repo(out, "runs/policy-broad"), iterations, shards, skip_training)
    console.print(json.dumps({k: manifest[k] for k in ("iterations", "bytes", "sha256")}, indent=2), highlight=False)


@build_app.command("baselines", cls=DegamlCommand,
                   help="Meta-train the union LoRA, MAML and ABMLL artifacts (resumable), copy them into the package.",
                   epilog=examples("degaml build baselines                                   # every meta task",
                                   "degaml build baselines --leave-one-out arc_easy --leave-one-out boolq",
                                   "degaml build baselines --method maml --skip-training"))
def baselines_command(
    meta: Path | None = typer.Option(None, "--meta", metavar="META_SPEC", help="meta spec (default: specs/meta/in_domain.yaml)"),
    methods: list[str] = typer.Option(None, "--method", metavar="NAME", help="union_lora, maml or abmll; repeatable (default: all three)"),
    leave_one_out: list[str] = typer.Option(None, "--leave-one-out", metavar="TASK", help="also the variant without TASK; repeatable"),
    profile: str = typer.Option("cpu", "--profile", help="cpu, paper, or tiny (tests/smoke runs)"),
    skip_training: bool = SKIP,
) -> None:
    from degaml.baselines.build import build_baselines

    build_baselines(_in_repo(meta, "specs/meta/in_domain.yaml"), methods or None, leave_one_out or [], profile, skip_training,
                    log=lambda line: console.print(line, highlight=False))
