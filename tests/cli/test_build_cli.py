"""`degaml build generator|policy|baselines`: help, one-line errors before any work, and a real generator build on
the tiny model (collect + train as child processes, copy with a manifest into a stand-in for the package)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from degaml.cli import main
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.mark.parametrize("command", ["generator", "policy", "baselines"])
def test_help_has_examples(command, capsys):
    assert run(["build", command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out and f"degaml build {command}" in out and "--skip-training" in out


@pytest.mark.parametrize("argv", [
    ["build", "generator", "--meta", "specs/meta/absent.yaml"],
    ["build", "policy", "--meta", "specs/meta/absent.yaml"],
    ["build", "baselines", "--meta", "specs/meta/absent.yaml"],
])
def test_a_missing_meta_spec_is_one_line_exit_2(argv, capsys, monkeypatch):
    import degaml.checkout

    monkeypatch.setattr(degaml.checkout.subprocess, "Popen", lambda *a, **k: pytest.fail("work started"))
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "absent.yaml" in err and "not found" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, needle", [
    (["build", "generator", "--meta", "/elsewhere/meta.yaml"], "not inside the checkout"),
    (["build", "baselines", "--method", "lora"], "unknown meta-trained baseline"),
    (["build", "baselines", "--profile", "gpu"], "--profile"),
    (["build", "baselines", "--leave-one-out", "nope"], "not a task of this meta spec"),
    (["build", "policy", "--exclude", "nope"], "not a task of this meta spec"),
    (["build", "policy", "--shards", "0"], "--shards"),
    (["build", "policy", "--out", "runs/never-trained", "--skip-training"], "no trained policy"),
])
def test_bad_arguments_are_one_line_exit_2_before_any_work(argv, needle, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def tiny_checkout(tmp_path, tiny_model_dir) -> Path:
    """A stand-in checkout: a meta spec of two tiny tasks whose output directory is relative to the checkout."""
    for name in ("alpha", "beta"):
        data = write_jsonl(tmp_path / f"{name}.jsonl", mc_rows(50))
        spec = mc_spec_dict(data, model=str(tiny_model_dir), task=name, num_train=8, num_test=5)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    meta = {
        "version": 1, "name": "toy", "model": str(tiny_model_dir), "device": "cpu", "out_dir": "runs/meta/toy",
        "tasks": ["alpha.yaml", "beta.yaml"],
        "collection": {"phase1_steps": 2, "phase1_lr": 0.01, "phase2_steps": 1, "phase2_lr": 0.001, "batch_size": 4,
                       "max_length": 32, "rank": 2, "alpha": 4, "eval_checkpoints": 1, "eval_items": 4},
        "generator": {"num_prompts": 4, "prompt_tokens": 8, "chunk": 16, "hidden_dims": [[8, 8, 24]], "steps": 3,
                      "batch_size": 2, "pairs_per_task": 10, "position_dim": 8},
    }
    (tmp_path / "meta.yaml").write_text(yaml.safe_dump(meta))
    return tmp_path


def test_build_generator_trains_and_ships_with_a_manifest(tiny_checkout, monkeypatch):
    from degaml.generator.artifact import GeneratorBundle
    from degaml.generator.build import FILES, build_generator
    from degaml.io import file_sha256

    monkeypatch.chdir(tiny_checkout.parent)  # the output directory is the checkout's, wherever the build is started
    dest = tiny_checkout / "shipped"
    manifest = build_generator(tiny_checkout / "meta.yaml", dest=dest, repo=tiny_checkout)
    assert (tiny_checkout / "runs" / "meta" / "toy" / "generator" / "generator.json").is_file()
    assert manifest["commands"] == ["degaml generator collect meta.yaml", "degaml generator train meta.yaml"]
    assert manifest["rebuild"] == "degaml build generator --meta meta.yaml"
    assert set(manifest["collection"]) == {"alpha", "beta"} and manifest["metrics"]["tasks"] == ["alpha", "beta"]
    assert manifest["sha256"] == {name: file_sha256(dest / name) for name in FILES}
    assert json.loads((dest / "manifest.json").read_text()) == manifest
    GeneratorBundle.load(dest)  # the copy loads, its manifest's hashes checked
    again = build_generator(tiny_checkout / "meta.yaml", skip_training=True, dest=dest, repo=tiny_checkout)
    assert again["sha256"] == manifest["sha256"]  # --skip-training: only the copy
