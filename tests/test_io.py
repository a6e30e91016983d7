"""Atomic writes leave either the old content or the new one — never a partial file or directory."""

from __future__ import annotations

import pytest

from degaml.io import atomic_directory, atomic_path, write_text_atomic


def test_atomic_directory_replaces_on_success_and_keeps_old_on_failure(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("new")
    assert (target / "a.txt").read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_path_and_text(tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
            raise RuntimeError
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
