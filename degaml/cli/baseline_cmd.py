"""`degaml baseline NAME SPEC` (one method of the registry on one task under the target-task protocol) and
`degaml baseline-train NAME META_SPEC` (build a meta-trained baseline artifact). Heavy imports (torch) stay inside
the commands, so `degaml --help` starts without them; the registry itself is light."""

from __future__ import annotations

from pathlib import Path

import typer

from degaml.baselines.registry import METHODS, NAMES, is_meta_trained, make_config, method
from degaml.cli.common import check_writable, check_writable_dir, console, console_err, json_text, jsonl_text, write_outputs
from degaml.errors import DegamlError

PROFILE = typer.Option("cpu", "--profile", help="cpu, paper, or tiny (tests/smoke runs)")


def _fmt(score: dict) -> str:
    lo, hi = score["ci95"]
    return f"{score['accuracy']:.4f} (95% CI {lo:.4f}–{hi:.4f}, n={score['n']})"


def baseline_command(
    name: str = typer.Argument(..., metavar="NAME", help=", ".join(NAMES)),
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="target task spec YAML"),
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="method config overrides, e.g. fit.lrs=[1e-3]"),
    profile: str = PROFILE,
    json_path: Path | None = typer.Option(None, "--json", help="write the result JSON here"),
    predictions: Path | None = typer.Option(None, "--predictions", help="write per-item test correctness (JSON lines)"),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="adapters are written here (default runs/baselines/<task>-<name>)"),
) -> None:
    from degaml.baselines.method import RunContext
    from degaml.baselines.runner import run_baseline
    from degaml.data import load_task_data
    from degaml.protocol import ProtocolTask
    from degaml.models import load_llm
    from degaml.specs import load_spec

    if profile not in ("cpu", "paper", "tiny"):
        raise DegamlError(f"--profile: '{profile}' is not one of cpu, paper, tiny")
    check_writable(json_path, "--json")
    check_writable(predictions, "--predictions")
    config = make_config(name, profile, overrides or [])
    spec = load_spec(spec_path)
    work_dir = work_dir or Path("runs") / "baselines" / f"{spec.task}-{name}"
    check_writable_dir(work_dir, "--work-dir")  # before the data and the model are loaded
    task = load_task_data(spec, on_skip=lambda msg: console_err.print(f"[dim]{msg}[/]", highlight=False))
    ptask = ProtocolTask.from_task(task)
    ctx = RunContext(None, work_dir, spec_path,
                     load=lambda: load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code))
    with console_err.status(f"{name} on {spec.task} ({profile} profile)"):
        record = run_baseline(name, ptask, config, ctx)
    console.print(f"{name} · {spec.task}: validation {_fmt(record['validation'])}; test {_fmt(record['test'])}; "
                  f"{record['labelled_items']} labelled items; {record['seconds']:.0f} s", highlight=False)
    p = record["predictions"]
    rows = [{"id": i, "correct": c, "predicted": a, "gold": g}
            for i, c, a, g in zip(p["ids"], p["correct"], p["predicted"], p["gold"])]
    write_outputs([("--json", json_path, json_text(record | {"spec": str(spec_path)})),
                   ("--predictions", predictions, jsonl_text(rows))])


def baseline_train_command(
    name: str = typer.Argument(..., metavar="NAME", help="a meta-trained method: union_lora, maml or abmll"),
    meta_path: Path = typer.Argument(..., metavar="META_SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="[KEY=VALUE]...", help="method config overrides"),
    exclude: list[str] = typer.Option(None, "--exclude", help="leave this task (spec file stem) out; repeatable"),
    profile: str = PROFILE,
) -> None:
    from degaml.baselines.artifacts import load_meta
    from degaml.cli.common import progress_bar
    from degaml.generator.pipeline import included_tasks
    from degaml.models import load_llm

    trained = [m for m in METHODS if is_meta_trained(m)]
    if name not in trained:
        raise DegamlError(f"NAME: '{name}' has no meta-trained artifact (choose from {', '.join(trained)})")
    config = make_config(name, profile, [f"meta={meta_path}"] + (overrides or []))
    meta = load_meta(meta_path)
    included_tasks(meta, exclude or [])  # validates --exclude before any work
    check_writable_dir(meta.output_dir(), "out_dir")  # where the artifact goes
    module = method(name)
    loaded = load_llm(meta.model, meta.device, "float32")
    with progress_bar(f"{name} meta-training", total=module.artifact_steps(config)) as advance:
        out = module.build_artifact(loaded, config, exclude or [], progress=lambda step, loss: advance(1))
    console.print(f"{name} artifact → {out}", highlight=False)
