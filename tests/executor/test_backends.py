"""LoRA collection, `reproduce` cells and the ReST^EM E-step on both backends (in-process and a 2-CPU Ray runtime):
the same results whichever ran them, a failed unit reported and never cached while the others finish, and a re-run
that skips every unit already done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from degaml.comparison.reproduce import reproduce
from degaml.errors import DegamlError
from degaml.executor import ExecutorConfig, make_executor
from degaml.generator.collect_units import collection_units
from degaml.specs import load_meta_spec, load_spec
from tests.baselines.helpers import write_world
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

pytestmark = pytest.mark.slow


def comparable(record, out: Path):
    """A record without its timings, with its output directory as a placeholder and without the torch thread count
    it computed with (a Ray worker runs 1 thread per CPU it holds)."""
    if isinstance(record, dict):
        return {k: comparable(v, out) for k, v in record.items() if "seconds" not in k and k != "threads"}
    if isinstance(record, list):
        return [comparable(v, out) for v in record]
    return record.replace(str(out), "<OUT>") if isinstance(record, str) else record


@pytest.fixture(scope="module")
def ray_executor(ray_runtime):
    ex = make_executor(ExecutorConfig(backend="ray"))
    yield ex
    ex.close()


# --- LoRA collection -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def meta_file(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("collect-world")
    for name, n_train in (("alpha", 8), ("beta", 8), ("broken", 2)):  # broken: fewer train items than a batch
        data = write_jsonl(root / f"{name}.jsonl", mc_rows(50))
        (root / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, task=name, num_train=n_train, num_test=5)))
    meta = {"version": 1, "name": "toy", "model": str(tiny_model_dir), "device": "cpu", "out_dir": str(root / "runs"),
            "tasks": ["alpha.yaml", "beta.yaml", "broken.yaml"],
            "collection": {"phase1_steps": 2, "phase1_lr": 0.01, "phase2_steps": 1, "phase2_lr": 0.001, "batch_size": 4,
                           "max_length": 32, "rank": 2, "alpha": 4, "eval_checkpoints": 1, "eval_items": 4},
            "generator": {}}
    (root / "meta.yaml").write_text(yaml.safe_dump(meta))
    return root / "meta.yaml"


def collect(meta_file: Path, out: Path, executor):
    meta = load_meta_spec(meta_file, [f"out_dir={out}"])
    done, units = collection_units(meta, [])
    return done, units, executor.run(units)


def test_collection_is_the_same_on_both_backends_and_a_rerun_skips_done_tasks(meta_file, tmp_path, ray_executor):
    trajectories = {}
    for name, ex in (("local", make_executor()), ("ray", ray_executor)):
        out = tmp_path / name
        done, units, results = collect(meta_file, out, ex)
        assert done == [] and [u.key for u in units] == ["alpha", "beta", "broken"]
        ok = {r.key: r for r in results if r.ok}
        bad = [r for r in results if not r.ok]
        assert sorted(ok) == ["alpha", "beta"]  # the broken task did not stop the others
        assert len(bad) == 1 and bad[0].key == "broken" and "fewer than batch_size 4" in bad[0].error
        assert sorted(p.name for p in (out / "collect" / "broken").iterdir()) == []  # nothing cached for it
        trajectories[name] = {t: load_file(out / "collect" / t / "trajectory.safetensors") for t in ("alpha", "beta")}
        stamps = {t: (out / "collect" / t / "trajectory.safetensors").stat().st_mtime_ns for t in ("alpha", "beta")}
        done, units, _ = collect(meta_file, out, ex)  # a re-run: only the failed task is a unit again
        assert sorted(m["task"] for m in done) == ["alpha", "beta"] and [u.key for u in units] == ["broken"]
        assert stamps == {t: (out / "collect" / t / "trajectory.safetensors").stat().st_mtime_ns for t in ("alpha", "beta")}
    for task in ("alpha", "beta"):  # the same checkpoints up to float summation order (the processes' thread counts differ)
        local, remote = trajectories["local"][task], trajectories["ray"][task]
        assert sorted(local) == sorted(remote)
        assert all(torch.allclose(local[k], remote[k], rtol=0, atol=1e-6) for k in local)


def test_the_collect_command_reports_a_failed_task_and_exits_non_zero(meta_file, tmp_path, ray_runtime, capsys):
    from degaml.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["generator", "collect", str(meta_file), f"out_dir={tmp_path / 'cli'}", "--ray"])
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "alpha: 3 checkpoints" in captured.out and "beta: 3 checkpoints" in captured.out
    assert "failed: collect broken: DataError" in captured.err


# --- reproduce cells ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tiny_generator_dir):
    paths = write_world(tmp_path_factory.mktemp("cells-world"), tiny_model_dir)
    shutil.copytree(tiny_generator_dir, paths["meta"].parent / "meta-out" / "generator-minus-target")
    return paths


def cells(out: Path) -> dict[str, dict]:
    return {p.name: comparable(json.loads(p.read_text()), out) for p in sorted((out / "cells").rglob("*.json"))}


def test_reproduce_cells_are_the_same_on_both_backends_and_a_rerun_runs_none(world, tmp_path, ray_executor):
    outs = {"local": tmp_path / "local", "ray": tmp_path / "ray"}
    pending = {}
    for name, ex in (("local", make_executor()), ("ray", ray_executor)):
        table = reproduce("table2", [world["target"]], "tiny", 1, outs[name], world["meta"], executor=ex,
                          on_units=lambda n, name=name: pending.setdefault(name, n))
        assert table["failed"] == [] and pending[name] == 4
    assert len(cells(outs["local"])) == 4
    assert cells(outs["local"]) == cells(outs["ray"])  # same keys (file names) and same records
    stamps = {p: p.stat().st_mtime_ns for p in (outs["ray"] / "cells").rglob("*.json")}
    again: list[int] = []
    reproduce("table2", [world["target"]], "tiny", 1, outs["ray"], world["meta"], executor=ray_executor, on_units=again.append)
    assert again == [0] and stamps == {p: p.stat().st_mtime_ns for p in (outs["ray"] / "cells").rglob("*.json")}


def test_failed_cells_on_ray_are_reported_not_cached(world, tmp_path, ray_executor):
    table = reproduce("table2", [world["target"]], "tiny", 1, tmp_path / "out", world["meta"], ["model=/no/such/model"],
                      executor=ray_executor)
    assert {f["method"] for f in table["failed"]} == {"base", "generator", "degaml"}
    assert all(f["error"] and f["where"] for f in table["failed"])
    cached = list((tmp_path / "out").rglob("cells/**/*.json"))
    assert [json.loads(c.read_text())["method"] for c in cached] == ["majority"]


# --- ReST^EM E-step -------------------------------------------------------------------------------------------------

RECIPE = {"iterations": 1, "steps_per_episode": 1, "samples_per_state": 2, "validation_items": 8, "epochs": 1,
          "lr": 1e-3, "batch_size": 2, "max_length": 4096, "lora_rank": 2, "lora_alpha": 4}


@pytest.fixture
def policy_world(tmp_path, tiny_model_dir):
    for name in ("a", "b"):
        data = write_jsonl(tmp_path / f"{name}.jsonl", mc_rows(60))
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir), task=name)))
    (tmp_path / "meta.yaml").write_text(yaml.safe_dump({"version": 1, "name": "toy", "tasks": ["a.yaml", "b.yaml"],
                                                        "model": str(tiny_model_dir), "device": "cpu", "policy": RECIPE}))
    meta = load_meta_spec(tmp_path / "meta.yaml")
    specs = [load_spec(tmp_path / f"{n}.yaml", [f"model={tiny_model_dir}", "device=cpu"]) for n in ("a", "b")]
    return tmp_path, meta, specs


def e_step(meta, specs, generator, out: Path, executor) -> dict[str, str]:
    from degaml.controller.policy.rest_em import train_policy

    result = train_policy(meta, specs, generator, out, log=lambda _: None, shard=(1, 1), executor=executor)
    assert result["rolled_out"] == [s.task for s in specs]  # one shard of one: the E-step only, no M-step
    return {p.name: p.read_text() for p in sorted((out / "iter-1").glob("rollouts-*.jsonl"))}


def test_the_e_step_is_the_same_on_both_backends(policy_world, tiny_generator_dir, ray_executor):
    root, meta, specs = policy_world
    local = e_step(meta, specs, tiny_generator_dir, root / "local", make_executor())
    remote = e_step(meta, specs, tiny_generator_dir, root / "ray", ray_executor)
    assert sorted(local) == ["rollouts-a.jsonl", "rollouts-b.jsonl"] and all(local.values())
    assert local == remote


def test_a_failed_e_step_task_keeps_the_others_records_and_is_retried(policy_world, tiny_generator_dir, ray_executor):
    root, meta, specs = policy_world
    out = root / "run"
    data_b = root / "b.jsonl"
    data_b.rename(root / "b.moved")  # task b's data vanishes after its spec was read
    with pytest.raises(DegamlError, match="1 of 2 task"):
        e_step(meta, specs, tiny_generator_dir, out, ray_executor)
    assert (out / "iter-1" / "rollouts-a.jsonl").is_file() and not (out / "iter-1" / "rollouts-b.jsonl").exists()
    (root / "b.moved").rename(data_b)
    from degaml.controller.policy.rest_em import train_policy

    again = train_policy(meta, specs, tiny_generator_dir, out, log=lambda _: None, shard=(1, 1), executor=ray_executor)
    assert again["rolled_out"] == ["b"]  # a was done: only b runs again
