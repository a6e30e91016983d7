"""`degaml adapt SPEC` (run/resume an adaptation episode) and `degaml trajectories export RUN_DIR...`."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import NoReturn

import typer
from rich.table import Table

from degaml.cli.common import (PhaseProgress, check_writable, check_writable_dir, consent_remote_code, console, console_err,
                               data_notes, require_terminal, save_or_keep, write_json)
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.errors import DegamlError


def _fmt_score(score) -> str:
    return f"{score.accuracy:.4f} (95% CI {score.ci95[0]:.4f}–{score.ci95[1]:.4f}, n={score.n})"


def _params(action: dict | None) -> str:
    return json.dumps((action or {}).get("strategy", {}), separators=(",", ":")) if action else "—"


class _Printer:
    """Prints each event of the episode as it is committed (plain terminal mode); progress events drive a bar with
    ETA on a terminal, plain lines when stderr is not one."""

    def __init__(self) -> None:
        self.status = PhaseProgress()

    def __call__(self, event) -> None:
        kind = event.kind
        if kind != "progress":
            self.status.done()
        if kind == "baseline":
            console.print(f"baseline θ₀ validation accuracy {_fmt_score(event.validation)}  [{event.seconds:.0f} s]", highlight=False)
        elif kind == "decision":
            note = f" — {event.parse_error}" if event.parse_error else ""
            console.print(f"step {event.step}: policy chose {_params(event.action) if event.action else repr(event.raw[:80])}"
                          f"  [{event.policy_seconds:.1f} s, {event.attempts} attempt(s)]{note}", highlight=False)
        elif kind == "progress":
            self.status(event.what, event.fraction)
        elif kind == "step":
            acc = "failed" if event.accuracy is None else f"accuracy {event.accuracy:.4f} (delta {event.delta:+.4f})"
            err = f" — {event.outcome.get('error')}" if event.outcome.get("error") else ""
            test = f", p={event.comparison['p_value']:.3f}" if event.comparison else ""
            kept = "kept" if event.reward else "not kept"
            console.print(f"step {event.step}: {acc}, reward {event.reward}{test} ({kept})  [{event.seconds:.0f} s]{err}", highlight=False)
        elif kind == "status" and event.status in ("cancelled", "failed"):
            console_err.print(f"run {event.status}: {event.message}", highlight=False)


def print_final(final, run_dir: Path) -> None:
    table = Table(title="adaptation result", show_header=False)
    table.add_row("baseline θ₀ validation", f"{final.baseline_validation:.4f}")
    chain = " → ".join(f"step {s}: {_params(a)}" for s, a in zip(final.chain, final.chain_actions))
    table.add_row("best", f"θ₀ → {chain}" if final.chain else f"θ₀ (no strategy beat it, {final.reward_rule} rule)")
    table.add_row("best validation", f"{final.best_validation:.4f}")
    table.add_row("test (best)", _fmt_score(final.test) + ("  REVERTED: a step of the chain failed on test" if final.reverted else ""))
    if final.failures:
        table.add_row("failed steps", f"{final.failures} (reverted, reward 0)")
    if final.baseline_test is not None:
        table.add_row("test (θ₀)", _fmt_score(final.baseline_test))
    table.add_row("time", f"{final.seconds / 60:.1f} min")
    table.add_row("run", str(run_dir))
    console.print(table)


def announce_plan(spec, task, data_source: str) -> None:
    """Before any scoring: where the data came from and how many items each phase scores."""
    n_val, n_test = len(task.validation), len(task.test)
    note = (" (num_test unset: every remaining item; a quick try: add num_test=100)" if spec.num_test is None else "")
    console_err.print(f"{spec.task}: data from {data_source} · {n_val} validation items per step · "
                      f"{n_test} test items scored once at the end{note}", highlight=False, soft_wrap=True)


def adapt_command(
    spec_path: Path | None = typer.Argument(None, metavar="SPEC", help="task spec YAML (omit with --resume)"),
    overrides: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="spec overrides, e.g. adapt.steps=2 num_test=100"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="new run directory (default runs/adapt/<task>-<time>)"),
    resume: Path | None = typer.Option(None, "--resume", help="continue a killed or finished run directory"),
    steps: int | None = typer.Option(None, "--steps", min=1, max=1000, help="policy decisions (overrides adapt.steps)"),
    json_path: Path | None = typer.Option(None, "--json", help="write the final summary JSON here"),
    tui: bool = typer.Option(False, "--tui/--no-tui", help="watch the run in the terminal UI"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="allow the spec's trust_remote_code: true (runs the model's own Python code)"),
) -> None:
    from degaml.controller.episode.adapt import build_runtime, create_run, open_run, run_adapt
    from degaml.controller.store.readers import writer_alive
    from degaml.models.llm import allow_remote_code

    check_writable(json_path, "--json")
    check_writable_dir(run_dir, "--run-dir")
    allow_remote_code(trust_remote_code)
    if tui:  # before any run directory is created
        require_terminal("--tui", "drop --tui, and watch the run from a terminal with: degaml tui RUN_DIR")
    if resume is not None:
        if spec_path is not None or overrides or run_dir is not None:
            raise DegamlError("--resume: give only the run directory (the run keeps its own spec); --steps may raise the budget")
        check_writable_dir(resume, "--resume")
        if writer_alive(resume):  # before loading anything: the run is live in another process
            raise DegamlError(f"--resume: run '{resume}' is being written by another process (watch it: degaml tui {resume})")
        store, spec = open_run(resume, steps)
        consent_remote_code(spec.trust_remote_code, trust_remote_code)
    else:
        if spec_path is None:
            raise DegamlError("SPEC: missing task spec (or use --resume RUN_DIR)")
        extra = [f"adapt.steps={steps}"] if steps is not None else []
        store = create_run(spec_path, (overrides or []) + extra, run_dir)
        _, spec = open_run(store.run_dir)
    console_err.print(f"[dim]run directory: {store.run_dir}  (watch: degaml tui {store.run_dir})[/]", highlight=False)
    used = (store.header.data or {}).get("dataset", {}).get("used")
    if used:  # the data provenance recorded in run.json
        console_err.print(f"[dim]data: {used['source']} ({used['items']} items, sha256 {used['sha256'][:12]})"
                          f"{' — a SUBSTITUTE benchmark' if used.get('substitute') else ''}[/]", highlight=False)
    with console_err.status("loading the model, the task data and the generator…"):
        runtime = build_runtime(spec, store, on_skip=data_notes())
    announce_plan(spec, runtime.ctx.task, runtime.ctx.task.source.source)
    if tui:
        from degaml.tui.app import RunApp

        app = RunApp(store.run_dir, runner=lambda: run_adapt(store, spec, runtime))
        app.run()
        if isinstance(app.runner_exception, OSError):
            io_error_exit(app.runner_exception, store.run_dir)
        if app.runner_exception is not None:
            raise app.runner_exception
        return
    printer = _Printer()
    try:
        with printer.status:
            final = run_adapt(store, spec, runtime, on_event=printer)
    except OSError as exc:
        io_error_exit(exc, store.run_dir)
    if steps is not None and resume is not None and store.header.budget_steps != steps:
        console_err.print(f"[dim]the run had already finished; --steps {steps} was not applied[/]", highlight=False)
    if final is None:
        console_err.print(f"stopped early; continue with: degaml adapt --resume {store.run_dir}", highlight=False)
        raise typer.Exit(1)
    print_final(final, store.run_dir)
    if json_path is not None:
        write_json(json_path, final.model_dump(mode="json") | {"run_dir": str(store.run_dir), "task": spec.task,
                                                                "data": store.header.data})  # provenance, as in run.json


def io_error_exit(exc: OSError, run_dir: Path) -> NoReturn:
    """A full disk, a vanished mount: nothing of the interrupted step was recorded; one line, exit 1, how to resume."""
    console_err.print(f"[bold red]error:[/] run stopped by an I/O error ({exc}); no step was recorded for it — "
                      f"fix the cause, then continue with: degaml adapt --resume {run_dir}", highlight=False, soft_wrap=True)
    raise typer.Exit(1) from None


class ExportFormat(str, enum.Enum):
    jsonl = "jsonl"
    parquet = "parquet"


trajectories_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)


@trajectories_app.command("export", cls=DegamlCommand, help="Write TRL-ready prompt/completion records of runs' steps.",
                          epilog=examples("degaml trajectories export runs/adapt/* --out accepted.jsonl --accepted-only",
                                          "degaml trajectories export RUN_DIR --out all.parquet --format parquet"))
def export_command(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR..."),
    out: Path = typer.Option(..., "--out", help="output file"),
    accepted_only: bool = typer.Option(False, "--accepted-only", help="only steps with reward 1"),
    fmt: ExportFormat = typer.Option(ExportFormat.jsonl, "--format"),
) -> None:
    from degaml.controller.store.export import export_trajectories

    check_writable(out, "--out")
    counts = []
    save_or_keep(lambda path: counts.append(export_trajectories(run_dirs, path, accepted_only, fmt.value)), out, "--out")
    n = counts[-1]
    console.print(f"{n} record(s) → {out}", highlight=False)
