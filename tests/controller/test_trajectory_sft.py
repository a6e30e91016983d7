"""`degaml policy train --trajectories`: the M-step on exported runs — format round trip with a real run's export,
SFT on accepted records only (minus excluded tasks), manifest, and one-line errors for bad files."""

from __future__ import annotations

import json

import pytest
import yaml
from peft import PeftModel

from degaml.cli import main
from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.store.export import export_trajectories
from degaml.controller.policy.trajectory_sft import read_exported
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

ACTION = '{"strategy":{"family":"lora_mix","lambda":0.5}}'


def record(task: str, reward: int, i: int = 0) -> dict:
    return {"prompt": [{"role": "system", "content": "pick a strategy"}, {"role": "user", "content": f"task {task} #{i}"}],
            "completion": [{"role": "assistant", "content": ACTION}], "reward": reward, "task": task}


@pytest.fixture
def meta_file(tmp_path, tiny_model_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir))))
    policy = {"epochs": 2, "lr": 1e-3, "batch_size": 2, "max_length": 512, "lora_rank": 2, "lora_alpha": 4}
    meta = {"version": 1, "name": "toy", "tasks": ["toy.yaml"], "model": str(tiny_model_dir), "device": "cpu", "policy": policy}
    (tmp_path / "meta.yaml").write_text(yaml.safe_dump(meta))
    return tmp_path / "meta.yaml"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr()


@pytest.mark.slow
def test_a_real_runs_export_reads_back_in_both_formats(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir), adapt={"steps": 2, "policy": "random"})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    store = create_run(tmp_path / "toy.yaml", [], tmp_path / "run")
    run_adapt(store, open_run(store.run_dir)[1])
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"all.{fmt}"
        assert export_trajectories([store.run_dir], out, fmt=fmt) == 2
        records = read_exported([out])
        assert [r["step"] for r in records] == [0, 1] and all(r["task"] == "toy_mc" for r in records)
        assert json.loads(records[0]["completion"][0]["content"])["strategy"]["family"]


def test_policy_trains_on_accepted_records_minus_excluded_tasks(meta_file, tmp_path, tiny_model_dir, capsys):
    from transformers import AutoModelForCausalLM

    rows = [record("a", 1, 0), record("a", 1, 1), record("a", 0, 2), record("held_out", 1, 3)]
    write_jsonl(tmp_path / "accepted.jsonl", rows)
    code, out = run(["policy", "train", str(meta_file), "--out", str(tmp_path / "p"), "--trajectories",
                     str(tmp_path / "accepted.jsonl"), "--exclude", "held_out"], capsys)
    assert code == 0, out.err
    manifest = json.loads((tmp_path / "p" / "policy" / "manifest.json").read_text())
    assert manifest["records"] == 3 and manifest["accepted"] == 2 and manifest["accepted_per_task"] == {"a": 2}
    assert manifest["tasks"] == ["a"] and manifest["sft"]["examples"] == 2 and manifest["excluded_tasks"] == ["held_out"]
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(tmp_path / "p" / "policy"))


@pytest.mark.parametrize("content, message", [
    ('{"prompt": []}\n', "field 'prompt' must be a non-empty list"),
    ("not json\n", ":1: not JSON"),
    (json.dumps(record("a", 1) | {"reward": 0.5}) + "\n", "field 'reward' must be 0 or 1"),
    (json.dumps(record("a", 1) | {"completion": "x"}) + "\n", "field 'completion' must be one assistant message"),
    (json.dumps(record("a", 0)) + "\n", "no accepted (reward = 1) record among the 1 records"),
])
def test_bad_trajectory_files_are_one_line_exit_2(meta_file, tmp_path, capsys, content, message):
    (tmp_path / "bad.jsonl").write_text(content)
    code, out = run(["policy", "train", str(meta_file), "--out", str(tmp_path / "p"), "--trajectories", str(tmp_path / "bad.jsonl")], capsys)
    assert code == 2 and message in out.err and len(out.err.strip().splitlines()) == 1
    assert not (tmp_path / "p" / "policy").exists()


def test_rollout_options_do_not_mix_with_trajectories(meta_file, tmp_path, capsys):
    write_jsonl(tmp_path / "a.jsonl", [record("a", 1)])
    code, out = run(["policy", "train", str(meta_file), "--out", str(tmp_path / "p"), "--trajectories", str(tmp_path / "a.jsonl"),
                     "--iterations", "2"], capsys)
    assert code == 2 and "do not apply" in out.err
    code, out = run(["policy", "train", str(meta_file), "--out", str(tmp_path / "p"), "--trajectories", str(tmp_path / "missing.jsonl")], capsys)
    assert code == 2 and "file not found" in out.err


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1-2", "a/b", "1/"])
def test_bad_shard_is_one_line_exit_2(meta_file, tmp_path, capsys, shard):
    code, out = run(["policy", "train", str(meta_file), "--out", str(tmp_path / "p"), "--shard", shard], capsys)
    assert code == 2 and "--shard" in out.err and len(out.err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
