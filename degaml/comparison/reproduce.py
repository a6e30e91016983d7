"""`degaml reproduce table1|table2`: every (method, task, seed) cell through CellRunner (cached, resumable), then
DIR/<table>.md, .json and .png. A failed cell is reported (table shows "—"), never cached or scored."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from degaml.baselines.registry import method as method_module
from degaml.comparison.cells import CellRunner
from degaml.comparison.tables import TABLES, build_table, render_markdown, render_png
from degaml.io import atomic_path, write_json, write_text_atomic


def reproduce(name: str, spec_paths: list[Path], profile: str, seeds: int, out_dir: Path, meta_path: Path,
              spec_overrides: list[str] | None = None, on_cell: Callable[[str, str, int, str], None] | None = None,
              command: str = "") -> dict[str, Any]:
    """Run (or load) every cell of table `name`, write its files, return the table dict (with `failed`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = CellRunner(out_dir, profile, meta_path, spec_overrides)
    began = time.perf_counter()
    records: dict[tuple[str, str], list[dict]] = {}
    failed, tasks = [], []
    for spec_path in spec_paths:
        task_name = None
        for method in TABLES[name]["rows"]:
            runs = []
            seeded = method_module(method).SEEDED
            for seed in range(seeds if seeded else 1):
                try:
                    record = runner.cell(method, spec_path, seed)
                except Exception as exc:  # noqa: BLE001 - one failed cell must not lose the others
                    failed.append({"method": method, "spec": str(spec_path), "seed": seed,
                                   "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                                   "where": traceback.format_exc(limit=-1).strip().splitlines()[-1][:200]})
                    if on_cell:
                        on_cell(method, str(spec_path), seed, "failed")
                    continue
                task_name = record["task"]
                runs.append(record)
                if on_cell:
                    on_cell(method, record["task"], seed, f"{record['test']['accuracy']:.3f}")
            if runs and task_name:
                records[(method, task_name)] = runs * (seeds if not seeded else 1)
        tasks.append(task_name or Path(spec_path).stem)
    table = build_table(name, tasks, records)
    table |= {"profile": profile, "seeds": seeds, "meta_spec": str(meta_path), "spec_overrides": spec_overrides or [],
              "failed": failed, "wall_seconds_this_run": time.perf_counter() - began, "command": command,
              "specs": [str(p) for p in spec_paths]}
    write_json(out_dir / f"{name}.json", table, indent=1)
    note = "" if not failed else f"\n{len(failed)} cell(s) failed (shown as —); see {name}.json `failed`.\n"
    write_text_atomic(out_dir / f"{name}.md", render_markdown(table) + note)
    with atomic_path(out_dir / f"{name}.png") as tmp:
        render_png(table, tmp)
    return table
