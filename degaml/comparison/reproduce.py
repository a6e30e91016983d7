"""`degaml reproduce table1|table2`: every (method, task, seed) cell through CellRunner (cached, resumable), then
DIR/<table>.md, .json and .png. A failed cell is reported (table shows "—"), never cached or scored.

Cells are planned here (data only, no model); cached ones are read, the others are units of an executor (in-process
by default, or Ray workers) that each write their cell atomically under its content key."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.baselines.registry import method as method_module
from degaml.comparison.cells import CellRunner
from degaml.comparison.tables import TABLES, build_table, render_markdown, render_png
from degaml.executor import Executor, Unit, UnitResult, make_executor
from degaml.executor.base import where
from degaml.io import atomic_path, write_json, write_text_atomic

Slot = tuple[str, str, int]  # (method, spec path, seed)


def _failure(slot: Slot, error: str, where: str) -> dict[str, Any]:
    return {"method": slot[0], "spec": slot[1], "seed": slot[2], "error": error, "where": where}


def reproduce(name: str, spec_paths: list[Path], profile: str, seeds: int, out_dir: Path, meta_path: Path,
              spec_overrides: list[str] | None = None, on_cell: Callable[[str, str, int, str], None] | None = None,
              command: str = "", executor: Executor | None = None,
              on_units: Callable[[int], None] | None = None, rows: list[str] | None = None) -> dict[str, Any]:
    """Run (or load) every cell of table `name` (or of its `rows` only), write its files, return the table dict
    (with `failed`). `executor` runs the missing cells (default: in-process); `on_units(n)` is told how many will."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = CellRunner(out_dir, profile, meta_path, spec_overrides)
    executor = executor or make_executor()
    began = time.perf_counter()
    records: dict[Slot, dict] = {}
    failed: list[dict[str, Any]] = []
    units: list[Unit] = []
    slots: dict[str, tuple[Slot, Path]] = {}
    for spec_path in spec_paths:
        for method in [r for r in TABLES[name]["rows"] if rows is None or r in rows]:
            for seed in range(seeds if method_module(method).SEEDED else 1):
                slot = (method, str(spec_path), seed)
                try:
                    plan = runner.plan(method, spec_path, seed)
                except Exception as exc:  # noqa: BLE001 - one failed cell must not lose the others
                    failed.append(_failure(slot, f"{type(exc).__name__}: {exc}".splitlines()[0][:300], where(exc)))
                    if on_cell:
                        on_cell(method, str(spec_path), seed, "failed")
                    continue
                if plan.path.is_file():
                    records[slot] = record = runner.cached(plan)
                    if on_cell:
                        on_cell(method, record["task"], seed, f"{record['test']['accuracy']:.3f}")
                    continue
                key = str(plan.path)
                slots[key] = (slot, plan.path)
                units.append(Unit(key, f"{plan.task.spec.task} · {method} · seed {seed}", runner.cell, (method, spec_path, seed)))

    def done(result: UnitResult) -> None:
        slot, path = slots[result.key]
        if not result.ok:
            failed.append(_failure(slot, result.error or "", result.where or ""))
            if on_cell:
                on_cell(slot[0], slot[1], slot[2], "failed")
            return
        record = result.value
        if not path.is_file():  # a worker on a node that does not share this directory
            write_json(path, record, indent=1)
        records[slot] = record
        if on_cell:
            on_cell(slot[0], record["task"], slot[2], f"{record['test']['accuracy']:.3f}")

    if on_units:
        on_units(len(units))
    executor.run(units, done)
    table = _assemble(name, spec_paths, seeds, records)
    table |= {"profile": profile, "seeds": seeds, "meta_spec": str(meta_path), "spec_overrides": spec_overrides or [],
              "failed": failed, "wall_seconds_this_run": time.perf_counter() - began, "command": command,
              "specs": [str(p) for p in spec_paths]}
    write_json(out_dir / f"{name}.json", table, indent=1)
    note = "" if not failed else f"\n{len(failed)} cell(s) failed (shown as —); see {name}.json `failed`.\n"
    write_text_atomic(out_dir / f"{name}.md", render_markdown(table) + note)
    with atomic_path(out_dir / f"{name}.png") as tmp:
        render_png(table, tmp)
    return table


def _assemble(name: str, spec_paths: list[Path], seeds: int, records: dict[Slot, dict]) -> dict[str, Any]:
    """The table from the cells' records, in table order (an unseeded row counts once per seed)."""
    rows: dict[tuple[str, str], list[dict]] = {}
    tasks = []
    for spec_path in spec_paths:
        task_name = None
        for method in TABLES[name]["rows"]:
            seeded = method_module(method).SEEDED
            runs = [records[s] for seed in range(seeds if seeded else 1) if (s := (method, str(spec_path), seed)) in records]
            if runs:
                task_name = runs[0]["task"]
                rows[(method, task_name)] = runs * (seeds if not seeded else 1)
        tasks.append(task_name or Path(spec_path).stem)
    return build_table(name, tasks, rows)
