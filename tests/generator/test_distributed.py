"""Scale-out of meta-training: task sharding, and 2 CPU processes (gloo, torchrun launcher) whose collection covers
every task once and whose DDP generator training reproduces the one-process generator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from safetensors.torch import load_file

from degaml.cli import main
from degaml.generator.distributed import Topology, topology
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def test_shards_cover_every_item_exactly_once():
    items = list(range(7))
    shards = [Topology(r, 3).shard(items) for r in range(3)]
    assert sorted(x for s in shards for x in s) == items
    assert shards[0] == [0, 3, 6]
    assert Topology().shard(items) == items and Topology().is_main and Topology().describe() == ""
    assert Topology(1, 2).describe() == "(process 2/2) "


def test_without_a_launcher_there_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert topology("cpu") == Topology(0, 1)


@pytest.fixture
def meta_file(tmp_path, tiny_model_dir):
    for name in ("alpha", "beta", "gamma"):
        data = write_jsonl(tmp_path / f"{name}.jsonl", mc_rows(50))
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, task=name, num_train=8, num_test=5)))
    meta = {
        "version": 1, "name": "toy", "model": str(tiny_model_dir), "device": "cpu", "out_dir": str(tmp_path / "runs"),
        "tasks": ["alpha.yaml", "beta.yaml", "gamma.yaml"],
        "collection": {"phase1_steps": 2, "phase1_lr": 0.01, "phase2_steps": 1, "phase2_lr": 0.001, "batch_size": 4,
                       "max_length": 32, "rank": 2, "alpha": 4, "eval_checkpoints": 0},
        "generator": {"num_prompts": 4, "prompt_tokens": 8, "chunk": 16, "hidden_dims": [[8, 8, 24]], "steps": 4,
                      "batch_size": 4, "pairs_per_task": 10, "position_dim": 8, "input_noise": 0.1},
    }
    path = tmp_path / "meta.yaml"
    path.write_text(yaml.safe_dump(meta))
    return path


def launch_two(args: list[str], cwd) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 -m degaml ARGS` (what `accelerate launch --multi_gpu` runs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "degaml", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_processes_shard_collection_and_train_the_one_process_generator(meta_file, tmp_path):
    done = launch_two(["generator", "collect", str(meta_file)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = tmp_path / "runs"
    assert sorted(p.name for p in (runs / "collect").iterdir()) == ["alpha", "beta", "gamma"]
    assert "(process 1/2) alpha" in done.stdout and "(process 2/2) beta" in done.stdout and "(process 1/2) gamma" in done.stdout

    with pytest.raises(SystemExit) as one:  # reference: one process, same global batches
        main(["generator", "train", str(meta_file)])
    assert one.value.code == 0
    shutil.move(runs / "generator", runs / "generator-one")

    done = launch_two(["generator", "train", str(meta_file)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    ddp = json.loads((runs / "generator" / "generator.json").read_text())["meta"]["metrics"]
    ref = json.loads((runs / "generator-one" / "generator.json").read_text())["meta"]["metrics"]
    assert ddp["processes"] == 2 and ref["processes"] == 1
    assert ddp["held_out_mse"] == pytest.approx(ref["held_out_mse"], rel=1e-4)
    a, b = load_file(str(runs / "generator" / "generator.safetensors")), load_file(str(runs / "generator-one" / "generator.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-4, key

    done = launch_two(["generator", "train", str(meta_file), "generator.batch_size=3"], tmp_path)
    assert done.returncode != 0
    assert "generator.batch_size: 3 is not divisible by the 2 launched processes" in done.stderr


@pytest.mark.slow
def test_a_checkpoint_written_by_rank_0_resumes_under_two_processes(meta_file, tmp_path):
    with pytest.raises(SystemExit) as collected:
        main(["generator", "collect", str(meta_file)])
    assert collected.value.code == 0
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as one:  # reference: one process, all 4 steps at once
        main(["generator", "train", str(meta_file)])
    assert one.value.code == 0
    shutil.move(runs / "generator", runs / "generator-one")

    def launch(*extra: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "degaml.cli", "generator", "train", str(meta_file), *extra]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    done = launch("--save-every", "2", "--stop-after", "2")  # a slice: 2 of 4 steps, then stop
    assert done.returncode == 0, done.stderr[-2000:]
    assert (runs / "generator" / "train_state.pt").is_file() and not (runs / "generator" / "generator.json").exists()
    done = launch()  # both processes resume from rank 0's state
    assert done.returncode == 0, done.stderr[-2000:]
    ddp = json.loads((runs / "generator" / "generator.json").read_text())["meta"]["metrics"]
    assert ddp["processes"] == 2 and ddp["resumed_from_step"] == 2 and ddp["steps"] == 4
    assert not (runs / "generator" / "train_state.pt").exists()
    a, b = load_file(str(runs / "generator" / "generator.safetensors")), load_file(str(runs / "generator-one" / "generator.safetensors"))
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-4, key
