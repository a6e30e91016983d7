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


def test_verify_manifest_checks_hashes_and_names_the_file(tmp_path):
    import json

    import pytest

    from degaml.errors import ModelLoadError
    from degaml.io import file_sha256, verify_manifest

    (tmp_path / "adapter_model.safetensors").write_bytes(b"weights")
    (tmp_path / "adapter_config.json").write_text("{}")
    assert verify_manifest(tmp_path, "policy") is None  # no manifest: nothing to check
    manifest = {"adapter_sha256": file_sha256(tmp_path / "adapter_model.safetensors"),
                "sha256": {"adapter_config.json": file_sha256(tmp_path / "adapter_config.json")}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert verify_manifest(tmp_path, "policy") == manifest
    (tmp_path / "adapter_model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ModelLoadError, match=r"adapter_model\.safetensors does not match"):
        verify_manifest(tmp_path, "policy")
    (tmp_path / "manifest.json").write_text('{"sha256": ')
    with pytest.raises(ModelLoadError, match=r"manifest\.json is corrupt"):
        verify_manifest(tmp_path, "policy")


def test_corrupt_policy_manifest_is_one_line(tmp_path):
    import pytest

    from degaml.controller.policy.model import resolve_policy
    from degaml.errors import DegamlError

    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "manifest.json").write_text("[1, 2")
    with pytest.raises(DegamlError, match="manifest.json is corrupt"):
        resolve_policy(str(tmp_path))
