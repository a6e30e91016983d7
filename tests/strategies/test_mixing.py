"""Two-subspace LoRA mixing: params (the `lambda` alias), the mixer's algebra on toy LoRAs, PEFT round trip, run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from peft import PeftModel, get_peft_model_state_dict
from pydantic import ValidationError
from safetensors.torch import load_file

from degaml.strategies.mixing import (
    MixingParams,
    mix_adapter,
    mix_state_dict,
    mixer,
    run_mixing,
    upstream_mix_state_dict,
)

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]
KEY_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
KEY_B = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"


# --- params -----------------------------------------------------------------------------------------------------


def test_params_use_lambda_in_json():
    params = MixingParams.model_validate_json('{"family": "lora_mix", "lambda": 0.25}')
    assert params.lam == 0.25 and params.family == "lora_mix"
    assert params.model_dump(by_alias=True) == {"family": "lora_mix", "lambda": 0.25}
    assert MixingParams(lam=0.5).model_dump(by_alias=True)["lambda"] == 0.5  # populate by name
    assert MixingParams.model_validate(json.loads(params.model_dump_json(by_alias=True))) == params


@pytest.mark.parametrize("bad", [{"lambda": 0.3}, {"lambda": -0.25}, {"lambda": True}, {"lambda": "0.5"}, {},
                                 {"lambda": 0.5, "extra": 1}, {"lambda": 0.5, "family": "ttt"}])
def test_params_reject_values_off_the_grid_and_extra_keys(bad):
    with pytest.raises(ValidationError):
        MixingParams.model_validate(bad)


def test_json_schema_says_lambda_with_its_grid():
    schema = MixingParams.model_json_schema()
    props = schema["properties"]
    assert "lambda" in props and "lam" not in props and schema["required"] == ["family", "lambda"]
    assert props["lambda"]["enum"] == GRID and props["lambda"]["description"]
    assert props["family"].get("const") == "lora_mix" or props["family"].get("enum") == ["lora_mix"]
    assert schema["additionalProperties"] is False


# --- algebra on toy LoRAs ---------------------------------------------------------------------------------------


def _toy(rank: int, d_in: int = 11, d_out: int = 10, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {KEY_A: torch.randn(rank, d_in, generator=g), KEY_B: torch.randn(d_out, rank, generator=g),
            "base_model.model.lm_head.bias": torch.randn(3, generator=g)}


def _delta(sd: dict[str, torch.Tensor]) -> torch.Tensor:
    return sd[KEY_B].double() @ sd[KEY_A].double()  # (d_out, d_in)


def test_lambda_one_is_bit_for_bit_identity():
    sd = _toy(4)
    out = mix_state_dict(sd, 1.0)
    assert out.keys() == sd.keys() and all(torch.equal(out[k], sd[k]) for k in sd)
    assert torch.equal(mixer(4, 1.0), torch.eye(4, dtype=torch.float64))


@pytest.mark.parametrize("lam", GRID)
@pytest.mark.parametrize("rank", [2, 4, 5, 8])
def test_rank_is_preserved_for_every_lambda(lam, rank):
    sd = _toy(rank)
    mixed = mix_state_dict(sd, lam)
    assert torch.linalg.matrix_rank(_delta(mixed)) == torch.linalg.matrix_rank(_delta(sd)) == rank
    m = mixer(rank, lam)
    assert torch.allclose(m @ m.T, torch.eye(rank, dtype=torch.float64), atol=1e-12)  # orthogonal → invertible
    assert torch.linalg.norm(mixed[KEY_A]) == pytest.approx(torch.linalg.norm(sd[KEY_A]).item(), rel=1e-5)
    assert torch.equal(mixed[KEY_B], sd[KEY_B])  # B unchanged
    assert torch.equal(mixed["base_model.model.lm_head.bias"], sd["base_model.model.lm_head.bias"])


@pytest.mark.parametrize("lam", GRID)
def test_docstring_formula_matches(lam):
    sd, h = _toy(4), 2
    a, b = sd[KEY_A].double(), sd[KEY_B].double()
    a1, a2, b1, b2 = a[:h], a[h:], b[:, :h], b[:, h:]
    theta = (1 - lam) * math.pi / 2
    expected = math.cos(theta) * (b1 @ a1 + b2 @ a2) + math.sin(theta) * (b2 @ a1 - b1 @ a2)
    assert torch.allclose(_delta(mix_state_dict(sd, lam)), expected, atol=1e-5)
    if lam == 0.0:
        assert torch.allclose(_delta(mix_state_dict(sd, lam)), b2 @ a1 - b1 @ a2, atol=1e-5)


def test_odd_rank_keeps_the_last_component_and_rank_one_is_unchanged():
    sd = _toy(5)
    mixed = mix_state_dict(sd, 0.5)
    assert torch.equal(mixed[KEY_A][4], sd[KEY_A][4])
    assert not torch.equal(mixed[KEY_A][:4], sd[KEY_A][:4])
    one = _toy(1)
    assert torch.equal(mix_state_dict(one, 0.0)[KEY_A], one[KEY_A])


@pytest.mark.parametrize("lam", GRID)
def test_upstream_form_halves_the_rank(lam):
    sd = _toy(4)
    up = upstream_mix_state_dict(sd, lam)
    assert torch.linalg.matrix_rank(_delta(up)) == 2  # ours keeps 4 (test above)
    a, b = sd[KEY_A].double(), sd[KEY_B].double()
    expected = (b[:, :2] + b[:, 2:]) @ (lam * a[:2] + (1 - lam) * a[2:])
    assert torch.allclose(_delta(up), expected, atol=1e-5)
    if lam == 1.0:
        assert not torch.allclose(_delta(up), _delta(sd))  # upstream's λ=1 is not the identity


def test_bad_state_dicts_are_refused():
    sd = _toy(4)
    with pytest.raises(ValueError, match="no matching"):
        mix_state_dict({KEY_A: sd[KEY_A]}, 0.5)
    with pytest.raises(ValueError, match="no matching lora_A"):
        mix_state_dict({KEY_B: sd[KEY_B]}, 0.5)
    with pytest.raises(ValueError, match="no LoRA"):
        mix_state_dict({"w": torch.ones(2)}, 0.5)
    with pytest.raises(ValueError, match="rank mismatch"):
        mix_state_dict({KEY_A: sd[KEY_A], KEY_B: torch.ones(6, 3)}, 0.5)
    with pytest.raises(ValueError, match="lambda"):
        mix_state_dict(sd, 1.5)
    with pytest.raises(ValueError, match="even rank"):
        upstream_mix_state_dict(_toy(5), 0.5)


def test_dtype_is_kept():
    sd = {k: v.to(torch.bfloat16) for k, v in _toy(4).items()}
    assert all(v.dtype == torch.bfloat16 for v in mix_state_dict(sd, 0.25).values())


# --- PEFT round trip and the strategy run ---------------------------------------------------------------------


def test_mixed_adapter_loads_in_peft_with_the_mixed_weights(mc_context, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    theta0 = mc_context.initial_adapter()
    out = mix_adapter(theta0, 0.25, tmp_path / "mixed")
    assert (out / "adapter_config.json").read_text() == (theta0 / "adapter_config.json").read_text()
    expected = mix_state_dict(load_file(str(theta0 / "adapter_model.safetensors")), 0.25)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(out))
    loaded = get_peft_model_state_dict(model)
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_run_mixing_scores_the_mixed_adapter(mc_context):
    events: list[tuple[str, float]] = []
    mc_context.progress = lambda what, frac: events.append((what, frac))
    outcome = run_mixing(MixingParams.model_validate({"lambda": 0.5}), mc_context, "validation")
    assert outcome.ok and outcome.family == "lora_mix" and outcome.split == "validation"
    assert outcome.params == {"family": "lora_mix", "lambda": 0.5}
    assert outcome.accuracy == outcome.result.accuracy and outcome.result.n == 20
    assert outcome.artifact.parent == mc_context.work_dir and (outcome.artifact / "adapter_model.safetensors").is_file()
    assert outcome.tokens == outcome.result.tokens > 0 and events[-1] == ("lora_mix done", 1.0)

    same = run_mixing(MixingParams(lam=1.0), mc_context, "validation")  # λ=1 scores exactly like θ₀
    theta0 = mc_context.evaluate("validation", mc_context.initial_adapter())
    assert [p.scores for p in same.result.predictions] == [p.scores for p in theta0.predictions]
    assert same.artifact != outcome.artifact


# --- real model ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_mixing_on_smollm2(tmp_path):
    """Mixing a small random rank-4 θ₀ for SmolLM2-135M: scores, and λ = 1 scores exactly like θ₀."""
    from tests.integration.smollm2_context import smollm2_context

    ctx = smollm2_context(tmp_path, ["num_support=4", "num_validation=6", "num_test=4"], rank=4, b_std=0.05)
    mixed = run_mixing(MixingParams(lam=0.0), ctx, "validation")
    assert mixed.ok and mixed.result.n == 6 and 0.0 <= mixed.accuracy <= 1.0
    same = run_mixing(MixingParams(lam=1.0), ctx, "validation")
    theta0 = ctx.evaluate("validation", ctx.initial_adapter())
    assert [p.scores for p in same.result.predictions] == [p.scores for p in theta0.predictions]
    assert [p.scores for p in mixed.result.predictions] != [p.scores for p in theta0.predictions]
