"""`degaml reproduce table1|table2|heldout`: regenerate the paper's comparison tables, or the held-out table of every
row a practitioner could run, on held-out splits (resumable)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from degaml.cli.common import check_writable_dir, console, console_err
from degaml.cli.executor_opts import CPUS_PER_UNIT, RAY, RAY_ADDRESS, UnitProgress, executor_config
from degaml.errors import DegamlError


def reproduce_command(
    table: str = typer.Argument(..., metavar="TABLE", help="table1 (baselines), table2 (base → generalization → adaptation) or heldout (every row: calibration, demonstrations, T-Few-style, LoRA library, baselines, DeGAML)"),
    out: Path = typer.Option(..., "--out", help="output directory (cells are cached there; rerun to resume)"),
    profile: str = typer.Option("cpu", "--profile", help="cpu, paper, or tiny (tests/smoke runs)"),
    tasks: list[Path] = typer.Option(None, "--tasks", help="target task spec files (default: the meta spec's tasks); repeatable"),
    seeds: int = typer.Option(1, "--seeds", min=1, max=100, help="seeds of the trained baselines"),
    meta: Path = typer.Option(Path("specs/meta/in_domain.yaml"), "--meta", help="meta spec: meta-training tasks (leave-one-out)"),
    spec_set: list[str] = typer.Option(None, "--set", help="override applied to every task spec, e.g. num_validation=50; repeatable"),
    rekey: bool = typer.Option(False, "--rekey", help="only rename the cells in OUT cached under the earlier, path-based "
                               "keys to their content keys (each checked against this command's inputs), then exit"),
    row: list[str] = typer.Option(None, "--row", metavar="METHOD", help="only this row of the table (others show —); repeatable"),
    ray: bool = RAY,
    ray_address: str | None = RAY_ADDRESS,
    cpus_per_unit: int = CPUS_PER_UNIT,
) -> None:
    from degaml.baselines.artifacts import load_meta
    from degaml.comparison.reproduce import reproduce
    from degaml.comparison.tables import TABLES
    from degaml.executor import make_executor
    from degaml.specs import load_spec

    if table not in TABLES:
        raise DegamlError(f"TABLE: '{table}' is not one of {', '.join(TABLES)}")
    if profile not in ("cpu", "paper", "tiny"):
        raise DegamlError(f"--profile: '{profile}' is not one of cpu, paper, tiny")
    unknown = [r for r in row or [] if r not in TABLES[table]["rows"]]
    if unknown:
        raise DegamlError(f"--row: '{unknown[0]}' is not a row of {table} ({', '.join(TABLES[table]['rows'])})")
    config = executor_config(ray, ray_address, cpus_per_unit)
    check_writable_dir(out, "--out")  # an existing file, a path below a file, an unwritable place: before any work
    meta_spec = load_meta(meta)
    spec_paths = list(tasks) if tasks else meta_spec.task_paths()
    for path in spec_paths:
        load_spec(path, spec_set or [])  # every spec valid before any work
    command = "degaml " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if rekey:
        _rekey(out, spec_paths, profile, meta, spec_set or [])
        return

    executor = make_executor(config)
    try:
        with UnitProgress(f"{table}: cells") as bar:
            def on_cell(method: str, task: str, seed: int, result: str) -> None:
                console_err.print(f"[dim]{table} · {task} · {method} · seed {seed}: {result}[/]", highlight=False)
                bar.step()

            result = reproduce(table, spec_paths, profile, seeds, out, meta, spec_set or [], on_cell, command, executor,
                               on_units=bar.start, rows=list(row) if row else None)
    finally:
        executor.close()
    console.print(f"{table} → {out}/{table}.md, .json, .png ({len(result['failed'])} failed cell(s))", highlight=False)
    if result["failed"]:
        for f in result["failed"]:
            console_err.print(f"failed: {f['method']} on {f['spec']} (seed {f['seed']}): {f['error']}", highlight=False)
        raise typer.Exit(1)


def _rekey(out: Path, spec_paths: list[Path], profile: str, meta: Path, spec_set: list[str]) -> None:
    from degaml.comparison.rekey import rekey  # imports torch: only when the command runs

    report = rekey(out, spec_paths, profile, meta, spec_set)
    for path, why in report.skipped:
        console_err.print(f"[dim]left {path}: {why}[/]", highlight=False)
    console.print(f"{len(report.renamed)} cell(s) renamed to their content key, {len(report.current)} already keyed by "
                  f"content, {len(report.skipped)} left in place", highlight=False)
