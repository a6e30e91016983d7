"""Check that a docs restructuring kept its figures: list the decimal numbers (at least one decimal digit) and the
percentages of an old version of a docs file, and report those that appear in none of the current docs files.

    python benchmarks/docs_figures_check.py                       # old: main:docs/results.md; new: docs/*.md, docs/findings/*.md, README.md
    python benchmarks/docs_figures_check.py --old REF:PATH --new docs README.md

A figure counts as present when the same token (digits, point, digits, optional %) occurs in a new file with no
digit or point glued to either side. Exit code 1 when any figure is missing, 0 otherwise; each missing figure is
printed with the old file's line numbers so it can be judged (dropped on purpose as superseded, or lost).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

FIGURE = re.compile(r"(?<![\w.])(\d+\.\d+%?|\d+%)(?![\d])")


def figures(text: str) -> dict[str, list[int]]:
    """Every figure token of `text` with the (1-based) lines it occurs on."""
    found: dict[str, list[int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        for match in FIGURE.finditer(line):
            lines = found.setdefault(match.group(1), [])
            if number not in lines:
                lines.append(number)
    return found


def present(token: str, corpus: str) -> bool:
    return re.search(r"(?<![\d.])" + re.escape(token) + r"(?!\d)", corpus) is not None


def new_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        files.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="main:docs/results.md", help="REF:PATH of the old file (git show)")
    parser.add_argument("--new", nargs="+", default=["docs", "docs/findings", "README.md"],
                        help="files, or directories whose *.md files are read (not recursive: docs/results/ holds generated tables)")
    args = parser.parse_args(argv)
    old = subprocess.run(["git", "show", args.old], check=True, capture_output=True, text=True).stdout
    files = new_files(args.new)
    corpus = "\n".join(path.read_text(encoding="utf-8") for path in files)
    wanted = figures(old)
    missing = {token: lines for token, lines in wanted.items() if not present(token, corpus)}
    print(f"{args.old}: {len(wanted)} distinct figures; searched {len(files)} files; missing {len(missing)}")
    for token, lines in sorted(missing.items(), key=lambda item: item[1][0]):
        print(f"  {token}\told lines {', '.join(map(str, lines))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
