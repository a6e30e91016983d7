"""`degaml generator collect/train/generate` on the tiny model, including leave-one-task-out by construction."""

from __future__ import annotations

import json

import pytest
import yaml

from degaml.cli import main
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def run(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.fixture
def meta_file(tmp_path, tiny_model_dir):
    for name in ("alpha", "beta"):
        data = write_jsonl(tmp_path / f"{name}.jsonl", mc_rows(50))
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir), task=name, num_train=8, num_test=5)))
    # a task whose data file is missing: reading its spec at all would fail
    (tmp_path / "secret.yaml").write_text(yaml.safe_dump(mc_spec_dict(tmp_path / "absent.jsonl", task="secret")))
    meta = {
        "version": 1, "name": "toy", "model": str(tiny_model_dir), "device": "cpu", "out_dir": str(tmp_path / "runs"),
        "tasks": ["alpha.yaml", "beta.yaml", "secret.yaml"],
        "collection": {"phase1_steps": 2, "phase1_lr": 0.01, "phase2_steps": 1, "phase2_lr": 0.001, "batch_size": 4,
                       "max_length": 32, "rank": 2, "alpha": 4, "eval_checkpoints": 1, "eval_items": 4},
        "generator": {"num_prompts": 4, "prompt_tokens": 8, "chunk": 16, "hidden_dims": [[8, 8, 24]], "steps": 3,
                      "batch_size": 2, "pairs_per_task": 10, "position_dim": 8},
    }
    path = tmp_path / "meta.yaml"
    path.write_text(yaml.safe_dump(meta))
    return path


@pytest.mark.slow
def test_leave_one_out_never_reads_the_excluded_task(meta_file, tmp_path):
    assert run(["generator", "collect", str(meta_file), "--exclude", "secret"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "collect").iterdir()) == ["alpha", "beta"]
    assert run(["generator", "train", str(meta_file), "--exclude", "secret"]) == 0
    gen_dir = tmp_path / "runs" / "generator-minus-secret"
    meta = json.loads((gen_dir / "generator.json").read_text())["meta"]["metrics"]
    assert meta["tasks"] == ["alpha", "beta"]
    adapter = tmp_path / "adapter"
    assert run(["generator", "generate", str(tmp_path / "alpha.yaml"), "--out", str(adapter), "--generator", str(gen_dir)]) == 0
    assert (adapter / "adapter_config.json").is_file()
    assert run(["eval", str(tmp_path / "alpha.yaml"), f"model={json.loads((adapter / 'adapter_config.json').read_text())['base_model_name_or_path']}",
                "--adapter", str(adapter), "--limit", "3"]) == 0


def test_including_a_broken_task_fails_with_one_line(meta_file, capsys):
    assert run(["generator", "collect", str(meta_file)]) == 2
    assert "data file not found" in capsys.readouterr().err


def test_unknown_exclude_and_missing_trajectories(meta_file, capsys):
    assert run(["generator", "collect", str(meta_file), "--exclude", "gamma"]) == 2
    assert "not a task of this meta spec" in capsys.readouterr().err
    assert run(["generator", "train", str(meta_file), "--exclude", "secret"]) == 2
    assert "degaml generator collect" in capsys.readouterr().err


def test_generate_without_a_generator_is_one_line(meta_file, tmp_path, capsys):
    assert run(["generator", "generate", str(tmp_path / "alpha.yaml"), "--out", str(tmp_path / "a"), "--generator", str(tmp_path)]) == 2
    assert "not a generator directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["collect", "train"])
def test_meta_out_dir_is_checked_before_any_work(meta_file, tmp_path, capsys, monkeypatch, command):
    import degaml.models

    monkeypatch.setattr(degaml.models, "load_llm", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(degaml.models, "load_encoder", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file").write_text("x")
    assert run(["generator", command, str(meta_file), f"out_dir={tmp_path / 'file'}"]) == 2
    err = capsys.readouterr().err
    assert "out_dir" in err and "not a directory" in err and len(err.strip().splitlines()) == 1
