"""Streaming generator data from disk (lazy trajectories, memory-mapped task shards), the exact reconstruction
MSE and its baselines, the train/held-out splits, and the spec's `generator_input`."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from degaml.errors import DegamlError
from degaml.generator.collect import load_trajectory
from degaml.evaluation.prompts import generator_inputs
from degaml.generator.reconstruction import TargetSet, masked_mse, nearest_task, unseen_task_reconstruction
from degaml.generator.shards import TaskShard, TrajectoryFile, pooled_embedding
from degaml.generator.train import split_indices
from degaml.specs import spec_from_dict
from degaml.errors import SpecError
from tests.conftest import mc_spec_dict


def test_trajectory_file_reads_the_same_checkpoints_lazily(tmp_path):
    stacked = {"a.layers.0.q.lora_A.weight": torch.randn(5, 2, 3), "a.layers.0.q.lora_B.weight": torch.randn(5, 3, 2)}
    save_file(stacked, str(tmp_path / "t.safetensors"))
    lazy, eager = TrajectoryFile(tmp_path / "t.safetensors"), load_trajectory(tmp_path / "t.safetensors")
    assert len(lazy) == 5
    for i in (0, 3, -1):
        for key in stacked:
            torch.testing.assert_close(lazy[i][key], eager[i][key])
    assert [c["a.layers.0.q.lora_A.weight"].sum() for c in lazy] == [c["a.layers.0.q.lora_A.weight"].sum() for c in eager]
    with pytest.raises(IndexError):
        lazy[5]


def make_shard(directory, tokens, embeddings, fingerprint):
    return TaskShard.build(directory, fingerprint, len(tokens), lambda i: tokens[i], len(embeddings), lambda i: embeddings[i])


def test_task_shard_round_trips_rows_and_is_reused_only_when_its_fingerprint_matches(tmp_path):
    tokens, emb = torch.randn(4, 3, 2, 5), torch.randn(6, 2, 3, 7)
    emb[:, :, 2] = 0  # padding tokens
    shard = make_shard(tmp_path / "s", tokens, emb, {"v": 1})
    assert (shard.n_checkpoints, shard.n_batches) == (4, 6)
    torch.testing.assert_close(shard.tokens(2), tokens[2])
    torch.testing.assert_close(shard.embedding(5), emb[5])
    torch.testing.assert_close(shard.pooled[1], emb[1, :, :2].mean((0, 1)))
    torch.testing.assert_close(shard.mean_tokens([0, 1]), tokens[:2].mean(0))
    stamp = (tmp_path / "s" / "tokens.npy").stat().st_mtime_ns
    again = make_shard(tmp_path / "s", tokens * 0, emb, {"v": 1})  # same fingerprint: reused, not rewritten
    assert (tmp_path / "s" / "tokens.npy").stat().st_mtime_ns == stamp
    torch.testing.assert_close(again.tokens(0), tokens[0])
    rebuilt = make_shard(tmp_path / "s", tokens * 0, emb, {"v": 2})
    assert float(rebuilt.tokens(0).abs().sum()) == 0 and not (tmp_path / "s.tmp").exists()


def test_target_set_mse_equals_the_mean_over_every_pair(tmp_path):
    tokens = torch.randn(6, 3, 2, 4)
    shard = make_shard(tmp_path / "s", tokens, torch.randn(2, 1, 2, 3), {})
    mask = (torch.rand(3, 2, 4) > 0.3).float()
    preds = torch.randn(5, 3, 2, 4)
    targets = TargetSet.of(shard, [1, 3, 4], mask)
    brute = sum(float(masked_mse(p[None], tokens[c][None], mask)) for p in preds for c in (1, 3, 4)) / 15
    assert targets.mse(preds) == pytest.approx(brute, rel=1e-5)
    assert targets.mse(tokens[[1, 3, 4]].mean(0)) <= targets.mse(preds[0])  # the mean is the best constant


def test_retrieval_picks_the_nearest_task_and_unseen_reconstruction_reports_every_baseline(tmp_path):
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nearest_task(torch.tensor([[0.1, 2.0], [3.0, 0.2]]), keys).tolist() == [1, 0]
    mask = torch.ones(2, 1, 2)
    emb = lambda d: torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])[d].expand(3, 1, 1, 2).clone()  # noqa: E731
    a = make_shard(tmp_path / "a", torch.zeros(4, 2, 1, 2), emb(0), {})
    b = make_shard(tmp_path / "b", torch.ones(4, 2, 1, 2), emb(1), {})
    new = make_shard(tmp_path / "n", torch.full((4, 2, 1, 2), 0.9), torch.tensor([[[0.1, 1.0]]]).expand(3, 1, 1, 2).clone(), {})
    row = unseen_task_reconstruction(None, [a, b], new, range(3), mask, {"zeros": torch.zeros(2, 1, 2)}, ["a", "b"])
    assert row["retrieved"] == ["b"] and row["pairs"] == 12
    assert row["retrieval"] == pytest.approx(0.01) and row["prompt_blind_mean"] == pytest.approx(0.16)
    assert row["own_task_mean"] == pytest.approx(0.0, abs=1e-9) and row["zeros"] == pytest.approx(0.81)
    assert "generator" not in row


def test_pooled_embedding_ignores_padding():
    e = torch.zeros(2, 4, 3)
    e[0, 0], e[1, :2] = 3.0, 6.0
    torch.testing.assert_close(pooled_embedding(e), torch.full((3,), 5.0))


def test_split_holds_out_first_or_evenly_spaced_items():
    assert split_indices(40, 0.1, first=True) == (list(range(4, 40)), [0, 1, 2, 3])
    kept, held = split_indices(40, 0.1)
    assert held == [5, 15, 25, 35] and len(kept) == 36
    assert split_indices(2, 0.1) == ([0], [1])
    with pytest.raises(DegamlError, match="at least 2"):
        split_indices(1, 0.1)


def test_generator_input_renders_unlabeled_fields_and_refuses_labels(mc_file):
    from degaml.data import load_task_data

    spec = spec_from_dict(mc_spec_dict(mc_file, generator_input="{{ choices | join(', ') }} | {{ question }}"))
    task = load_task_data(spec)
    assert generator_inputs(spec, task.support[:1]) == [f"{', '.join(task.support[0].choices)} | {task.support[0].question}"]
    assert spec_from_dict(mc_spec_dict(mc_file)).generator_input == "{{question}}"
    with pytest.raises(SpecError, match="generator_input"):
        spec_from_dict(mc_spec_dict(mc_file, generator_input="{{question}} {{answer}}"))
