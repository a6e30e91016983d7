"""Output paths are checked before any work (directory, path below a file, unwritable location → one line, exit 2),
and a late write failure (disk full) keeps what was computed in a temp location and says where."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import yaml

import degaml.io
from degaml.cli import common, main
from degaml.errors import DegamlError
from tests.conftest import mc_spec_dict


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.fixture
def spec_file(mc_file, tiny_model_dir, tiny_generator_dir, tmp_path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(mc_spec_dict(mc_file, model=str(tiny_model_dir), generator=str(tiny_generator_dir), batch_size=8)))
    return path


def test_check_writable_refuses_a_directory_a_path_below_a_file_and_a_missing_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DegamlError, match="is a directory"):
        common.check_writable(tmp_path, "--json")
    with pytest.raises(DegamlError, match="which is a file"):
        common.check_writable(tmp_path / "file" / "out.json", "--json")
    with pytest.raises(DegamlError, match="does not exist"):
        common.check_writable(tmp_path / "nope" / "out.json", "--json")
    common.check_writable(tmp_path / "ok.json", "--json")
    assert not (tmp_path / "ok.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # probe cleaned up


def test_check_writable_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DegamlError, match="is not a directory"):
        common.check_writable_dir(tmp_path / "file", "--out")
    with pytest.raises(DegamlError, match="which is a file"):
        common.check_writable_dir(tmp_path / "file" / "sub" / "run", "--run-dir")
    common.check_writable_dir(tmp_path / "new" / "deeper", "--run-dir")  # creatable: fine, nothing created
    assert not (tmp_path / "new").exists()


def test_read_only_location_is_refused(tmp_path, monkeypatch):
    # root ignores chmod; a read-only mount makes file creation fail with EROFS — inject exactly that
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(common.tempfile, "mkstemp", read_only)
    with pytest.raises(DegamlError, match="Read-only file system"):
        common.check_writable(tmp_path / "out.json", "--json")
    with pytest.raises(DegamlError, match="Read-only file system"):
        common.check_writable_dir(tmp_path / "run", "--run-dir")
    monkeypatch.undo()
    monkeypatch.setattr(common.os, "access", lambda *a, **k: False)
    with pytest.raises(DegamlError, match="not writable"):
        common.check_writable(tmp_path / "out.json", "--json")


def test_eval_json_pointing_at_a_directory_fails_before_scoring(spec_file, tmp_path, capsys, monkeypatch):
    import degaml.data

    monkeypatch.setattr(degaml.data, "load_task_data", lambda *a, **k: pytest.fail("work started"))  # imported lazily
    assert run(["eval", str(spec_file), "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def _full_disk_for(target: Path, real):
    """Wrap a writer so that writing `target` fails with ENOSPC (elsewhere it works)."""

    def writer(path, *args, **kwargs):
        if Path(path) == target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    return writer


def test_eval_disk_full_keeps_the_summary_and_says_where(spec_file, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.json"
    monkeypatch.setattr(degaml.io, "stage_text", _full_disk_for(out, degaml.io.stage_text))
    assert run(["eval", str(spec_file), "--json", str(out), "--limit", "4"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and not out.exists()
    kept = Path(err.split("kept at ")[1].split()[0])
    summary = json.loads(kept.read_text())
    assert summary["n"] == 4 and summary["data"]["dataset"]["used"]["items"] == 60


def test_eval_disk_full_on_one_output_writes_neither_and_keeps_both(spec_file, tmp_path, capsys, monkeypatch):
    out, predictions = tmp_path / "out.json", tmp_path / "p.jsonl"
    monkeypatch.setattr(degaml.io, "stage_text", _full_disk_for(predictions, degaml.io.stage_text))  # the second output fails
    assert run(["eval", str(spec_file), "--json", str(out), "--predictions", str(predictions), "--limit", "4"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and not out.exists() and not predictions.exists()
    kept_json, kept_predictions = (Path(part.split()[0]) for part in err.split("kept at ")[1].split(", "))
    assert json.loads(kept_json.read_text())["n"] == 4 and len(kept_predictions.read_text().splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged temporary left behind


def test_eval_json_records_data_provenance(spec_file, mc_file, tmp_path):
    out = tmp_path / "out.json"
    assert run(["eval", str(spec_file), "--json", str(out), "--limit", "2"]) == 0
    used = json.loads(out.read_text())["data"]["dataset"]["used"]
    assert used["source"] == str(mc_file) and used["kind"] == "local" and len(used["sha256"]) == 64 and used["items"] == 60


def test_generate_out_below_a_file_fails_before_loading(spec_file, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert run(["generator", "generate", str(spec_file), "--out", str(tmp_path / "f" / "adapter")]) == 2
    assert "which is a file" in capsys.readouterr().err


def test_generate_checks_the_base_model(spec_file, tmp_path, capsys):
    assert run(["generator", "generate", str(spec_file), "--out", str(tmp_path / "a")]) == 0
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(spec_file.read_text().replace(f"model: {yaml.safe_load(spec_file.read_text())['model']}", "model: default"))
    assert run(["generator", "generate", str(wrong), "--out", str(tmp_path / "b")]) == 2
    assert "trained for base model" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_generate_disk_full_keeps_the_adapter(spec_file, tmp_path, capsys, monkeypatch):
    import degaml.generator.generate as gen_cmd  # generator_cmd imports it when the command runs

    out = tmp_path / "adapter"
    real = gen_cmd.write_peft_adapter

    def full(state, bundle, path, *extra):
        if Path(path) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(state, bundle, path, *extra)

    monkeypatch.setattr(gen_cmd, "write_peft_adapter", full)
    assert run(["generator", "generate", str(spec_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    kept = Path(err.split("kept at ")[1].split()[0])
    assert "No space left on device" in err and (kept / "adapter_model.safetensors").is_file() and not out.exists()


def test_a_generated_adapter_records_its_data_items(spec_file, mc_file, tmp_path):
    assert run(["generator", "generate", str(spec_file), "--out", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    used = manifest["data"]["dataset"]["used"]
    assert used["source"] == str(mc_file) and len(used["sha256"]) == 64 and manifest["task"] == "toy_mc"


@pytest.mark.parametrize("below_a_file", [False, True])
def test_baseline_work_dir_is_checked_before_data_and_model(spec_file, tmp_path, capsys, monkeypatch, below_a_file):
    import degaml.data

    monkeypatch.setattr(degaml.data, "load_task_data", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file").write_text("x")
    work = tmp_path / "file" / "work" if below_a_file else tmp_path / "file"
    assert run(["baseline", "base", str(spec_file), "--work-dir", str(work)]) == 2
    err = capsys.readouterr().err
    assert "--work-dir" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("below_a_file", [False, True])
def test_reproduce_out_is_checked_before_any_work(tmp_path, capsys, monkeypatch, below_a_file):
    import degaml.baselines.artifacts

    monkeypatch.setattr(degaml.baselines.artifacts, "load_meta", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "tables" if below_a_file else tmp_path / "file"
    assert run(["reproduce", "table1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_disk_full_is_one_line_and_keeps_the_records(tmp_path, capsys, monkeypatch, fmt):
    import degaml.controller.store.export as export

    out = tmp_path / f"records.{fmt}"
    (tmp_path / "run").mkdir()
    monkeypatch.setattr(export, "run_records", lambda d, accepted_only=False: [{"prompt": "p", "completion": "c", "reward": 1}])
    real_replace = os.replace

    def full(src, dst):  # the final rename into `out` fails as on a full disk
        if Path(dst) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert run(["trajectories", "export", str(tmp_path / "run"), "--out", str(out), "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert Path(err.split("kept at ")[1].split()[0]).stat().st_size > 0
