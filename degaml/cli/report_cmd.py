"""`degaml report TABLE.json`: render a table `degaml reproduce` wrote — markdown to stdout (or --out), a bar chart
with --png — optionally narrowed to some rows. Loads no model: the table JSON is all it reads."""

from __future__ import annotations

from pathlib import Path

import typer

from degaml.cli.common import check_writable_dir, console


def report_command(
    table_file: Path = typer.Argument(..., metavar="TABLE_JSON", help="table1.json, table2.json or heldout.json in a "
                                      "`degaml reproduce` output directory"),
    row: list[str] = typer.Option(None, "--row", metavar="METHOD", help="only this row (repeatable; in this order); "
                                  "Δ rows are kept when both sides are shown"),
    out: Path | None = typer.Option(None, "--out", help="write the markdown here instead of stdout"),
    png: Path | None = typer.Option(None, "--png", help="also draw the bar chart (95% CI whiskers) to this PNG"),
) -> None:
    from degaml.comparison.report import load_table, select_rows
    from degaml.comparison.tables import render_markdown, render_png
    from degaml.io import atomic_path, write_text_atomic

    for option, path in (("--out", out), ("--png", png)):
        if path is not None:
            check_writable_dir(path.parent, option)
    table = load_table(table_file)
    if row:
        table = select_rows(table, list(row))
    text = render_markdown(table)
    if out is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    else:
        write_text_atomic(out, text)
    if png is not None:
        with atomic_path(png) as tmp:
            render_png(table, tmp)
