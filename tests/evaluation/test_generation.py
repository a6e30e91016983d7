"""The one decoder (`generate_greedy`, HF generate) against a naive reference decoder: a full forward pass of
prompt + continuation per step, argmax of head(h_last + δ), no cache, no batching, no merging. In fp32 on the
tiny model the outputs must be identical — plain, steered (SLOT's δ as a logit bias) and with a merged LoRA;
merged-LoRA multiple-choice scoring matches the unmerged side path."""

from __future__ import annotations

import pytest
import torch

from degaml.evaluation.generation import cut_at_stop, generate_greedy
from degaml.evaluation.latent import generate_with_offsets
from degaml.models.heads import backbone_and_head
from degaml.models.merge import merged_lora

PROMPTS = [f"What is {i} plus {i}?" + " yes" * i for i in range(6)] + ["Question: What is two plus two?\nAnswer:", "a"]


@torch.no_grad()
def naive_generate(model, tokenizer, prompt, until, max_new_tokens, delta=None):
    """One prompt, no cache: re-run the whole sequence every step; stop at EOS or when a stop string appears."""
    backbone, head = backbone_and_head(model)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
    new: list[int] = []
    eos = {tokenizer.eos_token_id, model.config.eos_token_id} - {None}
    for _ in range(max_new_tokens):
        h = backbone(input_ids=torch.tensor([ids + new])).last_hidden_state[0, -1]  # (d,)
        token = int(head(h + (delta if delta is not None else 0)).argmax())
        if token in eos:
            break
        new.append(token)
        if any(s in tokenizer.decode(new, skip_special_tokens=True) for s in until if s):
            break
    return cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), until)


@pytest.mark.slow
def test_plain_generation_equals_the_naive_reference(tiny_loaded):
    tok = tiny_loaded.tokenizer
    got = generate_greedy(tiny_loaded.model, tok, PROMPTS, ["\n", "no"], 8, 3, 128)
    assert [g.text for g in got] == [naive_generate(tiny_loaded.model, tok, p, ["\n", "no"], 8) for p in PROMPTS]


@pytest.mark.slow
def test_steered_generation_equals_the_naive_reference_with_h_plus_delta(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    d = model.config.hidden_size
    deltas = torch.randn(len(PROMPTS), d, generator=torch.Generator().manual_seed(1)) * 3.0
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in PROMPTS]
    order = sorted(range(len(PROMPTS)), key=lambda i: -lengths[i])  # the decoder's batch order
    batch_size = 3
    calls = []

    def fit(states, targets, owner, n):
        k = len(calls)
        calls.append(n)
        rows = order[k * batch_size : k * batch_size + n]
        return deltas[rows]

    got = generate_with_offsets(model, tok, PROMPTS, ["\n"], 8, batch_size, 128, fit)
    ref = [naive_generate(model, tok, p, ["\n"], 8, deltas[i]) for i, p in enumerate(PROMPTS)]
    assert [g.text for g in got] == ref
    plain = [naive_generate(model, tok, p, ["\n"], 8) for p in PROMPTS]
    assert ref != plain  # the offsets really steer


@pytest.fixture
def peft_model(tiny_loaded):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"], lora_dropout=0.0)
    model = get_peft_model(tiny_loaded.model, config)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # a non-trivial adapter
    model.eval()
    yield model
    model.unload()


@pytest.mark.slow
def test_merged_lora_generation_equals_the_unmerged_reference_and_restores_the_base_exactly(peft_model, tiny_loaded):
    tok = tiny_loaded.tokenizer
    before = {k: v.clone() for k, v in peft_model.get_base_model().state_dict().items() if "lora" not in k}
    ref = [naive_generate(peft_model, tok, p, ["\n"], 8) for p in PROMPTS]  # unmerged LoRA side path
    got = generate_greedy(peft_model, tok, PROMPTS, ["\n"], 8, 4, 128)
    assert [g.text for g in got] == ref
    after = {k: v for k, v in peft_model.get_base_model().state_dict().items() if "lora" not in k}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(getattr(m, "merged", False) for m in peft_model.modules())


def test_merged_lora_is_the_same_function(peft_model):
    ids = torch.randint(3, 300, (2, 12))
    with torch.no_grad():
        plain = peft_model(input_ids=ids).logits
        with merged_lora(peft_model) as model:
            assert any(getattr(m, "merged", False) for m in model.modules())
            merged = model(input_ids=ids).logits
    torch.testing.assert_close(merged, plain, rtol=1e-4, atol=1e-4)
    with peft_model.disable_adapter(), merged_lora(peft_model) as model:  # disabled adapters are not merged
        assert not any(getattr(m, "merged", False) for m in model.modules())


def test_merged_lora_scoring_equals_the_unmerged_side_path(peft_model, tiny_loaded):
    from degaml.evaluation.loglikelihood import encode_pair, score_continuations

    tok = tiny_loaded.tokenizer
    pairs = [(f"Question number {i} about planets?\nAnswer:", f" {c}") for i in range(3) for c in ("Mars", "Venus")]
    got = score_continuations(peft_model, tok, pairs, 2, 128)
    with torch.no_grad():
        for (ctx, cont), score in zip(pairs, got):
            c, k = encode_pair(tok, ctx, cont)
            logits = peft_model(input_ids=torch.tensor([c + k])).logits[0].float()  # unmerged: the side path
            ref = torch.log_softmax(logits[len(c) - 1 : -1], -1).gather(1, torch.tensor(k)[:, None]).sum()
            assert abs(score.logprob - float(ref)) < 1e-4
    assert not any(getattr(m, "merged", False) for m in peft_model.modules())
