"""The input-effect benchmark's retrieval: hit rate, margin and retrieved tasks from cosine similarity to task keys."""

import torch

from tests.benchmarks.helpers import load_script

gie = load_script("studies/generator_input_effect")


def test_retrieval_finds_own_task_with_positive_margin():
    keys = torch.eye(3)  # (K, C)
    pooled = torch.tensor([[0.9, 0.1, 0.0], [1.0, 0.0, 0.2]])  # both batches point at task 0
    out = gie.retrieval(pooled, keys, own=0)
    assert out["hit_rate"] == 1.0 and out["retrieved"] == [0, 0]
    assert out["margin"] > 0


def test_retrieval_reports_misses_and_negative_margin():
    keys = torch.eye(3)
    pooled = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # first batch reads like task 1
    out = gie.retrieval(pooled, keys, own=0)
    assert out["hit_rate"] == 0.5 and out["retrieved"] == [1, 0]
    # margins: batch 1: 0 − 1 = −1; batch 2: 1 − 0 = +1 → mean 0
    assert abs(out["margin"]) < 1e-6
