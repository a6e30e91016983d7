"""The scale-out options: a bad value is one line and exit code 2, before any work."""

from __future__ import annotations

import pytest

from degaml.cli import main

META = "specs/meta/in_domain.yaml"


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.mark.parametrize("argv", [
    ["reproduce", "table2", "--out", "{tmp}/t", "--ray-address", " "],
    ["generator", "collect", META, "--ray-address", ""],
    ["policy", "train", META, "--out", "{tmp}/p", "--ray-address", ""],
])
def test_an_empty_cluster_address_is_one_line(argv, tmp_path, capsys):
    assert run([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "--ray-address: empty address" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t").exists() and not (tmp_path / "p").exists()


def test_a_row_not_in_the_table_is_one_line(tmp_path, capsys):
    assert run(["reproduce", "table2", "--out", str(tmp_path / "t"), "--row", "maml"]) == 2
    assert "--row: 'maml' is not a row of table2" in capsys.readouterr().err


def test_cpus_per_unit_must_be_positive(tmp_path, capsys):
    assert run(["reproduce", "table2", "--out", str(tmp_path / "t"), "--ray", "--cpus-per-unit", "0"]) == 2
    assert "--cpus-per-unit" in capsys.readouterr().err
