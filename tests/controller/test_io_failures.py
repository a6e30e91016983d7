"""Faults during an episode are never scored: a full disk while a strategy saves stops the run (not reward 0), the
step is retried on resume; a best action that crashes on the test split is never reported as `test 0.0, n=0`."""

from __future__ import annotations

import dataclasses
import errno

import pytest
import yaml
from safetensors import SafetensorError

import degaml.strategies.mixing as mixing
from degaml.cli import main
from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.policy.reference import FixedPolicy
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.io import as_os_error
from degaml.strategies.registry import RUNNERS
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

MIX = {"strategy": {"family": "lora_mix", "lambda": 0.5}}
ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"  # what safetensors raises


@pytest.fixture
def spec_file(tmp_path, tiny_model_dir, tiny_generator_dir, monkeypatch):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir), adapt={"steps": 1, "policy": "random"})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setattr("degaml.controller.episode.adapt.RandomPolicy", lambda salt="": FixedPolicy(MIX))  # always lora_mix
    return tmp_path / "toy.yaml"


def test_io_errors_are_recognised():
    assert as_os_error(SafetensorError(ENOSPC)).errno == errno.ENOSPC
    assert isinstance(as_os_error(OSError(errno.EIO, "x")), OSError)
    assert as_os_error(SafetensorError("Error while deserializing header: HeaderTooLarge")) is None
    assert as_os_error(ValueError("x")) is None


def _cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_a_full_disk_while_a_strategy_saves_stops_the_run_and_is_retried(spec_file, tmp_path, monkeypatch, capsys):
    real_save = mixing.save_file

    def disk_full(*args, **kwargs):
        raise SafetensorError(ENOSPC)

    monkeypatch.setattr(mixing, "save_file", disk_full)
    run_dir = tmp_path / "run"
    code, out, err = _cli(["adapt", str(spec_file), "--run-dir", str(run_dir)], capsys)
    assert code == 1 and "No space left on device" in err and f"--resume {run_dir}" in err
    assert "Traceback" not in err and "test (best)" not in out
    store = TrajectoryStore.open(run_dir)
    assert store.steps() == [] and store.pending_decision() is not None  # not recorded as the strategy's outcome
    assert not [e for e in store.events() if e.kind == "final"]

    monkeypatch.setattr(mixing, "save_file", real_save)  # space freed
    code, out, err = _cli(["adapt", "--resume", str(run_dir)], capsys)
    assert code == 0, err
    store = TrajectoryStore.open(run_dir)
    steps = store.steps()
    assert [s.step for s in steps] == [0] and steps[0].outcome["ok"] and steps[0].accuracy is not None
    assert [e.kind for e in store.events()].count("decision") == 1 and store.status() == "finished"


def test_a_best_action_crashing_on_the_test_split_is_not_a_score(spec_file, tmp_path, monkeypatch):
    real = RUNNERS["lora_mix"]

    def wins_on_validation_crashes_on_test(params, ctx, split):
        if split == "test":
            raise RuntimeError("boom on the test split")
        out = real(params, ctx, split)
        perfect = dataclasses.replace(out.result, accuracy=1.0,
                                      predictions=[dataclasses.replace(p, correct=True) for p in out.result.predictions])
        return dataclasses.replace(out, accuracy=1.0, result=perfect)  # kept under the paired rule too

    from degaml.controller.episode.rollout import Rollout

    real_scoring = Rollout.score_fitted

    def crashes_on_test(self, action, adapter, config, split, work, step):  # lora_mix's test replay scores the
        raise RuntimeError("boom on the test split")                        # adapter validation chose

    monkeypatch.setitem(RUNNERS, "lora_mix", wins_on_validation_crashes_on_test)
    monkeypatch.setattr(Rollout, "score_fitted", crashes_on_test)
    store = create_run(spec_file, [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    with pytest.raises(RuntimeError):
        run_adapt(store, spec)
    store = TrajectoryStore.open(store.run_dir)
    assert store.steps()[0].best_step == 0
    assert not [e for e in store.events() if e.kind == "final"] and store.status() == "failed"

    monkeypatch.setitem(RUNNERS, "lora_mix", real)
    monkeypatch.setattr(Rollout, "score_fitted", real_scoring)
    store, spec = open_run(store.run_dir)
    final = run_adapt(store, spec)
    assert final.best_step == 0 and final.test.n == spec.num_test and store.status() == "finished"


def _fsync_fails_under(directory):
    """os.fsync that fails as on a full disk for files under `directory` (elsewhere it works)."""
    import os
    from pathlib import Path

    real = os.fsync

    def fsync(fd):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_relative_to(directory):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    return fsync


def test_a_full_disk_at_run_creation_is_one_line_and_leaves_no_directory(spec_file, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "runs" / "new" / "run"
    monkeypatch.setattr("os.fsync", _fsync_fails_under(tmp_path / "runs"))
    code, out, err = _cli(["adapt", str(spec_file), "--run-dir", str(run_dir)], capsys)
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()  # nothing half-created


def test_a_full_disk_while_writing_theta0_stops_cleanly_and_resumes(spec_file, tmp_path, monkeypatch, capsys):
    import json

    import degaml.generator.generate as generate

    real_save = generate.save_file
    monkeypatch.setattr(generate, "save_file", lambda *a, **k: (_ for _ in ()).throw(SafetensorError(ENOSPC)))
    run_dir = tmp_path / "run"
    code, out, err = _cli(["adapt", str(spec_file), "--run-dir", str(run_dir)], capsys)
    assert code == 1 and "No space left on device" in err and f"--resume {run_dir}" in err and "Traceback" not in err
    assert not list((run_dir / "adapters").glob("adapter-*"))  # no half-written θ₀ adapter to reuse

    monkeypatch.setattr(generate, "save_file", real_save)
    code, out, err = _cli(["adapt", "--resume", str(run_dir), "--json", str(tmp_path / "final.json")], capsys)
    assert code == 0, err
    final = json.loads((tmp_path / "final.json").read_text())
    recorded = json.loads((run_dir / "run.json").read_text())["data"]
    assert final["data"] == recorded and len(final["data"]["dataset"]["used"]["sha256"]) == 64  # items hash, as run.json
