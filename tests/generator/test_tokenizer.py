"""Parameter tokenizer: exact round trip (ranks, target modules, padding), normalisation, layout, persistence."""

from __future__ import annotations

import pytest
import torch

from degaml.generator.tokenizer import LoraTokenizer


def lora_state(layers: int, rank: int, modules: dict[str, tuple[int, int]], seed: int = 0, scale: float = 1.0):
    """A PEFT-style LoRA state dict: modules maps name → (d_in, d_out)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for i in range(layers):
        for name, (d_in, d_out) in modules.items():
            prefix = f"base_model.model.model.layers.{i}.{name}"
            sd[f"{prefix}.lora_A.weight"] = torch.randn(rank, d_in, generator=gen) * scale
            sd[f"{prefix}.lora_B.weight"] = torch.randn(d_out, rank, generator=gen) * scale * 0.01
    return sd


SMOL = {"self_attn.q_proj": (576, 576), "self_attn.v_proj": (576, 192), "mlp.down_proj": (1536, 576)}
ODD = {"self_attn.q_proj": (50, 70), "mlp.up_proj": (33, 129)}  # widths not multiples of the chunk


@pytest.mark.parametrize("rank,modules,chunk", [(8, SMOL, 64), (4, ODD, 16), (16, ODD, 128), (1, ODD, 7), (2, SMOL, 1000)])
def test_round_trip_is_exact(rank, modules, chunk):
    sd = lora_state(3, rank, modules)
    tok = LoraTokenizer.from_state_dict(sd, chunk).fit([sd, lora_state(3, rank, modules, seed=1)])
    tokens, mask = tok.tokenize(sd)
    assert tokens.shape == mask.shape == (tok.n_tokens, rank, chunk)
    back = tok.detokenize(tokens)
    assert set(back) == set(sd)
    for key in sd:
        torch.testing.assert_close(back[key], sd[key], rtol=1e-5, atol=1e-6)


def test_padding_is_zero_and_masked():
    sd = lora_state(2, 4, ODD)
    tok = LoraTokenizer.from_state_dict(sd, 16).fit([sd])
    tokens, mask = tok.tokenize(sd)
    assert (tokens[~mask] == 0).all()
    assert int(mask.sum()) == sum(t.numel() for t in sd.values())
    # garbage in padding positions does not change the detokenized state
    noisy = tokens + (~mask) * 123.0
    for key, value in tok.detokenize(noisy).items():
        torch.testing.assert_close(value, sd[key], rtol=1e-5, atol=1e-6)


def test_layer_wise_normalisation_standardises_each_factor_kind():
    sds = [lora_state(2, 8, SMOL, seed=s, scale=1 + s) for s in range(4)]
    tok = LoraTokenizer.from_state_dict(sds[0], 64).fit(sds)
    stacked = torch.stack([tok.tokenize(sd)[0] for sd in sds])
    mask = tok.tokenize(sds[0])[1]
    for slot_kind in ("A", "B"):
        for layer in range(2):
            idx = [t for s in tok.slots if s.layer == layer and s.kind == slot_kind for t in range(s.first_token, s.first_token + s.n_tokens)]
            values = stacked[:, idx][:, mask[idx]]
            assert values.mean().abs() < 1e-3 and (values.std() - 1).abs() < 1e-2


def test_layout_counts_tokens_per_layer_like_the_paper():
    # Qwen2.5-0.5B, rank 8, q/o (896→896): 7 + 7 tokens with 128-column chunks (upstream layout)
    sd = lora_state(1, 8, {"self_attn.q_proj": (896, 896)})
    tok = LoraTokenizer.from_state_dict(sd, 128)
    assert tok.n_tokens == 14 and tok.token_shape == (8, 128)


def test_layout_mismatch_and_mixed_ranks_are_errors():
    sd = lora_state(2, 4, ODD)
    tok = LoraTokenizer.from_state_dict(sd, 16)
    with pytest.raises(ValueError, match="does not match"):
        tok.tokenize(lora_state(3, 4, ODD))
    mixed = dict(sd)
    mixed["base_model.model.model.layers.0.x.lora_A.weight"] = torch.zeros(2, 5)
    mixed["base_model.model.model.layers.0.x.lora_B.weight"] = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="one rank"):
        LoraTokenizer.from_state_dict(mixed, 16)
    with pytest.raises(ValueError, match="shape"):
        tok.detokenize(torch.zeros(1, 4, 16))


def test_position_embedding_encodes_layer_and_in_layer_index():
    sd = lora_state(3, 4, ODD)
    tok = LoraTokenizer.from_state_dict(sd, 16)
    pe = tok.position_embedding(32)
    assert pe.shape == (tok.n_tokens, 32) and torch.isfinite(pe).all()
    firsts = [s.first_token for s in tok.slots if s.layer_token == 0]  # first token of each layer
    assert all(torch.allclose(pe[firsts[0], 16:], pe[f, 16:]) for f in firsts)  # same in-layer index
    assert not torch.allclose(pe[firsts[0], :16], pe[firsts[1], :16])  # different layer
    assert len({tuple(row.tolist()) for row in pe}) == tok.n_tokens  # every token distinct


def test_save_and_load(tmp_path):
    sd = lora_state(2, 4, ODD)
    tok = LoraTokenizer.from_state_dict(sd, 16).fit([sd])
    tok.save(tmp_path)
    again = LoraTokenizer.load(tmp_path)
    assert again.slots == tok.slots and torch.equal(again.stats, tok.stats)
    torch.testing.assert_close(again.tokenize(sd)[0], tok.tokenize(sd)[0])
