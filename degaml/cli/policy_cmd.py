"""`degaml policy train META_SPEC --out DIR`: ReST^EM training of the adaptation policy."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from degaml.cli.common import check_writable_dir, console, console_err
from degaml.cli.executor_opts import CPUS_PER_UNIT, RAY, RAY_ADDRESS, executor_config
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.errors import DegamlError

def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' with 1 ≤ K ≤ N → (K, N); anything else is a one-line error naming --shard."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise DegamlError(f"--shard: expected K/N with 1 ≤ K ≤ N (e.g. 1/2), got '{text}'")
    return int(k), int(n)


policy_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)


@policy_app.command("train", cls=DegamlCommand,
                    epilog=examples("degaml policy train specs/meta/in_domain.yaml --out runs/policy",
                                    "degaml policy train specs/meta/in_domain.yaml --out runs/p2 --trajectories accepted.jsonl"),
                    help="ReST^EM: roll out the policy on meta-training tasks, SFT a fresh LoRA on rewarded actions.")
def train_command(
    meta_path: Path = typer.Argument(..., metavar="META_SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="meta spec overrides, e.g. policy.epochs=2"),
    out: Path = typer.Option(..., "--out", help="output directory (resumable: re-run the same command to continue)"),
    iterations: int | None = typer.Option(None, "--iterations", min=1, max=100, help="overrides policy.iterations"),
    exclude: list[str] = typer.Option(None, "--exclude", metavar="TASK", help="leave this task (spec stem) out; repeatable"),
    generator: Path | None = typer.Option(None, "--generator", help="generator directory (default: the meta spec's, minus excluded tasks)"),
    shard: str | None = typer.Option(None, "--shard", metavar="K/N", help="run only shard K of N of the next E-step "
                                     "(one process per core), then stop; the unsharded command does the M-step"),
    trajectories: list[Path] = typer.Option(None, "--trajectories", metavar="FILE", help="exported trajectories (.jsonl/.parquet from "
                                            "`degaml trajectories export`): skip the E-step, SFT on their accepted records; repeatable"),
    ray: bool = RAY,
    ray_address: str | None = RAY_ADDRESS,
    cpus_per_unit: int = CPUS_PER_UNIT,
) -> None:
    from degaml.controller.policy.rest_em import train_policy
    from degaml.generator.pipeline import generator_dir, included_tasks
    from degaml.specs.load import load_meta_spec

    shard_kn = parse_shard(shard) if shard is not None else None
    config = executor_config(ray, ray_address, cpus_per_unit)
    meta = load_meta_spec(meta_path, overrides or [])
    check_writable_dir(out, "--out")
    exclude = exclude or []
    command = "degaml " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if trajectories:
        from degaml.controller.policy.trajectory_sft import train_from_trajectories

        if iterations is not None or generator is not None or shard is not None:
            raise DegamlError("--trajectories: --iterations, --generator and --shard do not apply (no rollouts are made)")
        manifest = train_from_trajectories(meta, list(trajectories), out, exclude, command=command)
        console.print(f"policy → {out / 'policy'}; trained on {manifest['accepted']} accepted of {manifest['records']} "
                      f"records ({manifest['sft']['steps']} SFT steps)", highlight=False)
        return
    specs = [spec for _, spec in included_tasks(meta, exclude)]
    gen = generator or generator_dir(meta, exclude)
    if (gen / "generator.json").is_file():
        from degaml.generator.artifact import check_base_model

        check_base_model(gen, meta.model)  # a generator for another base model: one line, before any rollout
    from degaml.executor import make_executor

    executor = make_executor(config)
    try:
        manifest = train_policy(meta, specs, gen, out, iterations, log=lambda m: console_err.print(m, highlight=False),
                                command=command, shard=shard_kn, executor=executor)
    finally:
        executor.close()
    if shard_kn is not None:
        console.print(f"shard {shard}: iteration {manifest['iteration']}: rolled out {len(manifest['rolled_out'])} tasks; "
                      f"{len(manifest['missing'])} left to other shards", highlight=False)
        return
    rates = ", ".join(f"{it['reward_rate']:.3f}" for it in manifest["iterations"])
    console.print(f"policy → {out / 'policy'}; reward rate per iteration: {rates}", highlight=False)
