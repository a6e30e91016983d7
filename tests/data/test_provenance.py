"""Data provenance: the source used (with a content hash), skipped sources with reasons, substitutes announced,
only "unavailable" conditions fall through, and `shared:` paths stay in the shared data dir."""

from __future__ import annotations

import pytest

from degaml.data import load_task_data
from degaml.data import sources as sources_mod
from degaml.errors import DataError, SpecError
from degaml.specs import spec_from_dict
from tests.conftest import numeric_rows, numeric_spec_dict, write_jsonl


@pytest.fixture
def shared_dir(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    root.mkdir()
    monkeypatch.setenv("DEGAML_SHARED_DATA", str(root))
    return root


def test_provenance_records_used_and_skipped_sources(tmp_path, shared_dir):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    spec = spec_from_dict(numeric_spec_dict(data) | {"dataset": [{"source": "shared:missing/test.jsonl"}, {"source": str(data)}]})
    prov = load_task_data(spec).provenance
    assert prov.dataset.used.source == str(data) and prov.dataset.used.kind == "local"
    assert prov.dataset.used.items == 40 and len(prov.dataset.used.sha256) == 64
    assert prov.dataset.used.location == str(data.resolve())
    assert [s.source for s in prov.dataset.skipped] == ["shared:missing/test.jsonl"]
    assert "does not exist" in prov.dataset.skipped[0].reason
    assert not prov.dataset.used.substitute and prov.train_dataset is None
    dumped = prov.model_dump(mode="json")
    assert dumped["dataset"]["used"]["sha256"] == prov.dataset.used.sha256  # JSON-ready for run.json / manifests


def test_content_hash_changes_with_the_data(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", numeric_rows(40))
    b = write_jsonl(tmp_path / "b.jsonl", numeric_rows(39) + [{"id": "n39", "question": "changed?", "answer": "1"}])
    hash_a = load_task_data(spec_from_dict(numeric_spec_dict(a))).provenance.dataset.used.sha256
    hash_b = load_task_data(spec_from_dict(numeric_spec_dict(b))).provenance.dataset.used.sha256
    assert hash_a != hash_b
    assert hash_a == load_task_data(spec_from_dict(numeric_spec_dict(a))).provenance.dataset.used.sha256


def test_a_bug_in_a_source_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    spec = spec_from_dict(numeric_spec_dict(data) | {"dataset": [{"source": "hf:some/dataset"}, {"source": str(data)}]})

    def broken(src, base_dir):
        if src.kind == "hf":
            raise RuntimeError("a bug inside the loader")
        return original(src, base_dir)

    original = sources_mod._records_from_datasets
    monkeypatch.setattr(sources_mod, "_records_from_datasets", broken)
    with pytest.raises(RuntimeError, match="a bug inside the loader"):
        load_task_data(spec)


def test_unreachable_hub_falls_through_and_is_recorded(tmp_path, monkeypatch):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    monkeypatch.setattr(sources_mod, "hub_reachable", lambda: False)
    spec = spec_from_dict(numeric_spec_dict(data) | {"dataset": [{"source": "hf:some/dataset"}, {"source": str(data)}]})
    prov = load_task_data(spec).provenance
    assert prov.dataset.skipped[0].source == "hf:some/dataset" and "unreachable" in prov.dataset.skipped[0].reason


def test_substitute_benchmark_is_announced_and_recorded(tmp_path, shared_dir, capsys):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    dataset = [{"source": "shared:gsm8k/test.jsonl"}, {"source": str(data), "substitute": True}]
    prov = load_task_data(spec_from_dict(numeric_spec_dict(data) | {"dataset": dataset})).provenance
    assert prov.dataset.used.substitute and prov.substituted == [str(data)]
    err = capsys.readouterr().err
    assert "substitute benchmark" in err and "shared:gsm8k/test.jsonl" in err


def test_no_announcement_when_the_task_own_source_loads(tmp_path, capsys):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    dataset = [{"source": str(data)}, {"source": "reasoning_gym:chain_sum", "substitute": True}]
    prov = load_task_data(spec_from_dict(numeric_spec_dict(data) | {"dataset": dataset})).provenance
    assert not prov.substituted and "substitute" not in capsys.readouterr().err


def test_shipped_gsm8k_marks_gsm_symbolic_as_a_substitute():
    from pathlib import Path

    from degaml.specs import load_spec

    spec = load_spec(Path(__file__).parents[2] / "specs" / "gsm8k.yaml")
    assert all(s.substitute == (s.kind == "reasoning_gym") for s in spec.dataset + spec.train_dataset)


@pytest.mark.parametrize("source", ["shared:../outside.jsonl", "shared:/etc/passwd.jsonl", "shared:a/../../b.jsonl"])
def test_shared_paths_cannot_leave_the_shared_dir(tmp_path, source):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    with pytest.raises(SpecError, match="shared data dir"):
        spec_from_dict(numeric_spec_dict(data) | {"dataset": [{"source": source}]})


def test_shared_symlink_escape_is_refused(tmp_path, shared_dir):
    outside = write_jsonl(tmp_path / "secret.jsonl", numeric_rows(40))
    (shared_dir / "link.jsonl").symlink_to(outside)
    spec = spec_from_dict(numeric_spec_dict(outside) | {"dataset": [{"source": "shared:link.jsonl"}]})
    with pytest.raises(DataError, match="leaves the shared data dir"):
        load_task_data(spec)
