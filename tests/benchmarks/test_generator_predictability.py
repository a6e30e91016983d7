"""The predictability analysis: its closed-form MSEs equal direct computation, and it finds structure where the
LoRAs follow the prompts and none where they are shuffled."""

import numpy as np
import torch

from tests.benchmarks.helpers import load_script

gp = load_script("studies/generator_predictability")


def synthetic(k: int = 12, shuffle: bool = False, seed: int = 0):
    """k tasks in 3 prompt clusters; each task's LoRA mean = its cluster's centre + small noise (or shuffled)."""
    g = torch.Generator().manual_seed(seed)
    cluster = torch.arange(k) % 3
    keys = torch.eye(3)[cluster] * 5 + 0.1 * torch.randn(k, 3, generator=g)  # (K, C)
    centres = torch.randn(3, 2, 2, 4, generator=g)
    means = centres[cluster] + 0.05 * torch.randn(k, 2, 2, 4, generator=g)  # (K, T, r, chunk)
    if shuffle:
        means = means[torch.randperm(k, generator=g)]
    return keys, means, torch.ones(2, 2, 4)


def direct_mse(means: torch.Tensor, target: int, group: list[int], spread: float) -> float:
    pred = means[group].mean(0)
    return float(((pred - means[target]) ** 2).sum() / pred.numel()) + spread


def test_closed_form_group_mse_matches_direct_computation():
    keys, means, mask = synthetic()
    prompt, lora = gp.pairwise(keys, means, mask)
    spread = np.full(len(keys), 0.25)
    out = gp.neighbour_predictions(prompt, lora, spread, ks=(3,))
    for i, row in enumerate(out["per_task"]):
        others = [j for j in range(len(keys)) if j != i]
        assert abs(row["prompt_blind_mean"] - direct_mse(means.double(), i, others, 0.25)) < 1e-9
        near = sorted(others, key=lambda j: prompt[i, j])[:3]
        assert abs(row["nearest_3"] - direct_mse(means.double(), i, near, 0.25)) < 1e-9


def test_structure_is_found_when_loras_follow_prompts():
    keys, means, mask = synthetic()
    prompt, lora = gp.pairwise(keys, means, mask)
    assert gp.mantel(prompt, lora, permutations=199)["p_value"] < 0.05
    summary = gp.neighbour_predictions(prompt, lora, np.zeros(len(keys)))["summary"]
    assert summary["nearest_1"]["beats_prompt_blind"] == len(keys)


def test_no_structure_when_loras_are_shuffled():
    keys, means, mask = synthetic(k=30, shuffle=True, seed=3)
    prompt, lora = gp.pairwise(keys, means, mask)
    assert gp.mantel(prompt, lora, permutations=199)["p_value"] > 0.05
    summary = gp.neighbour_predictions(prompt, lora, np.zeros(len(keys)))["summary"]
    assert summary["nearest_1"]["mean_mse"] > summary["prompt_blind_mean"]["mean_mse"]


def test_redraws_are_judged_against_their_own_family():
    keys, means, mask = synthetic(k=9)
    # three redraws: copies of tasks 0, 1, 2 with small perturbations
    keys = torch.cat([keys, keys[:3] + 0.01])
    means = torch.cat([means, means[:3] + 0.01])
    prompt, lora = gp.pairwise(keys, means, mask)
    out = gp.redraw_predictions(prompt, lora, np.zeros(12), {9: 0, 10: 1, 11: 2}, list(range(9)))
    assert out["redraws"] == 3
    assert out["summary"]["retrieval_hit_rate"] == 1.0
    assert out["summary"]["same_family_is_nearest_lora"] == 3
    assert out["summary"]["same_family"]["beats_prompt_blind"] == 3


def test_output_spread_tells_a_collapsed_generator_from_one_that_follows_the_task():
    _, means, mask = synthetic()
    following = gp.output_spread(means * 0.5, means, mask)
    assert following["deviation_cosine_mean"] > 0.99
    assert abs(following["prediction_between_spread"] - following["target_between_spread"] / 4) < 1e-6
    collapsed = gp.output_spread(means.mean(0, keepdim=True).expand_as(means).clone(), means, mask)
    assert collapsed["prediction_between_spread"] < 1e-9


def test_delta_w_distances_match_explicit_products_and_ignore_the_factorisation():
    g = torch.Generator().manual_seed(1)
    ckpts = []
    for _ in range(3):
        ckpts.append({f"m{j}.lora_A.weight": torch.randn(2, 5, generator=g) for j in range(2)}
                     | {f"m{j}.lora_B.weight": torch.randn(4, 2, generator=g) for j in range(2)})
    s = torch.tensor([[2.0, 1.0], [0.0, 0.5]])  # same ΔW, other factors: B·S⁻¹, S·A
    ckpts.append({k: (v @ torch.linalg.inv(s) if "lora_B" in k else s @ v) for k, v in ckpts[0].items()})
    dw = gp.delta_w_distances(ckpts)
    full = [torch.cat([(c[f"m{j}.lora_B.weight"] @ c[f"m{j}.lora_A.weight"]).flatten() for j in range(2)]) for c in ckpts]
    for i in range(4):
        for j in range(4):
            assert abs(dw[i, j] - float(((full[i] - full[j]) ** 2).mean())) < 1e-5
    assert dw[0, 3] < 1e-9
