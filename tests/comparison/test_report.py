"""`degaml report`: a committed table re-renders byte for byte from its JSON alone, rows narrow with their Δ rows,
bad input is one line with exit 2 and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from degaml.cli import main
from degaml.comparison.report import load_table, select_rows

REPO = Path(__file__).resolve().parents[2]
COMMITTED = [REPO / "docs/results/tables-ood/table2.json", REPO / "docs/results/tables-in-domain/table1.json",
             REPO / "docs/results/tables-heldout-rules/heldout.json", REPO / "docs/results/tables-heldout/heldout.json"]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_committed_table_re_renders_byte_for_byte_from_its_json(path, tmp_path, capsys):
    out = tmp_path / "t.md"
    code, _, err = run_cli(["report", str(path), "--out", str(out)], capsys)
    assert code == 0, err
    assert out.read_text() == path.with_suffix(".md").read_text()


def test_rows_narrow_with_only_the_deltas_between_shown_rows():
    table = load_table(COMMITTED[2])
    narrow = select_rows(table, ["degaml_balanced_a10", "generator"])
    assert list(narrow["rows"]) == ["degaml_balanced_a10", "generator"]
    assert narrow["deltas"] and all({d["a"], d["b"]} <= {"degaml_balanced_a10", "generator"} for d in narrow["deltas"])
    if table.get("balanced"):
        assert list(narrow["balanced"]["rows"]) == ["degaml_balanced_a10", "generator"]
    assert list(table["rows"])[0] == "base"  # the table read is not changed


def test_stdout_and_png(tmp_path, capsys):
    png = tmp_path / "t.png"
    code, out, err = run_cli(["report", str(COMMITTED[0]), "--row", "base", "--png", str(png)], capsys)
    assert code == 0, err
    assert out.startswith("**Table 2") and "| Base Model |" in out and "| Generalization (θ₀) |" not in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content,needle", [(None, "no such file"), ("{", "not JSON"), ('{"title": "x"}', "no 'tasks'"),
                                            ("[1, 2]", "not a table")])
def test_bad_table_files_are_one_line_exit_2_and_nothing_written(content, needle, tmp_path, capsys):
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "out.md"
    code, _, err = run_cli(["report", str(path), "--out", str(out)], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_an_unknown_row_is_refused(capsys):
    code, _, err = run_cli(["report", str(COMMITTED[0]), "--row", "nope"], capsys)
    assert code == 2 and "--row: 'nope'" in err
