"""answer_nll: the training loss computed with logits at labelled positions only equals the model's own loss."""

from __future__ import annotations

import torch

from degaml.baselines.functional import pairs_loss
from degaml.generator.collect import build_batch, lora_config
from degaml.models.heads import answer_nll

PAIRS = [("Question: 2 + 2 =", " 4"), ("A much longer prompt that is padded less: 7 + 1 =", " 8 and some more"),
         ("Q:", " yes")]


def _batch(loaded):
    return build_batch(loaded.tokenizer, PAIRS, max_length=64)  # right-padded, varied prompt and answer lengths


def test_equals_the_models_labels_loss(tiny_loaded):
    batch = _batch(tiny_loaded)
    with torch.no_grad():
        reference = tiny_loaded.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                      labels=batch.labels).loss
        ours = answer_nll(tiny_loaded.model, batch.input_ids, batch.attention_mask, batch.labels)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_gradients_through_a_lora_equal_the_models(tiny_loaded):
    from peft import get_peft_model

    batch = _batch(tiny_loaded)
    torch.manual_seed(0)
    model = get_peft_model(tiny_loaded.model, lora_config(4, 8, ["q_proj", "v_proj"]))
    try:
        params = [p for p in model.parameters() if p.requires_grad]
        with torch.no_grad():  # lora_B starts at zero; make the LoRA non-trivial so its gradients are all exercised
            for p in params:
                p.normal_(0, 0.05)
        reference = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
        ref_grads = torch.autograd.grad(reference, params)
        ours = answer_nll(model, batch.input_ids, batch.attention_mask, batch.labels)
        our_grads = torch.autograd.grad(ours, params)
        assert torch.allclose(ours, reference, atol=1e-5)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(our_grads, ref_grads))
        # the functional form (MAML / ABMLL) substitutes LoRA tensors and gives the same loss
        named = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        assert torch.allclose(pairs_loss(model, tiny_loaded, named, PAIRS, 64), reference, atol=1e-5)
    finally:
        model.unload()


def test_a_batch_without_labels_gives_a_non_finite_loss(tiny_loaded):
    """Nothing to learn is not a zero loss: the training loops' non-finite guard stops on it."""
    batch = _batch(tiny_loaded)
    with torch.no_grad():
        loss = answer_nll(tiny_loaded.model, batch.input_ids, batch.attention_mask, torch.full_like(batch.labels, -100))
    assert not torch.isfinite(loss)


def test_the_head_gets_a_contiguous_input_while_an_adapter_freezes_it(tiny_model_dir):
    """load_llm hooks the head once: transformers' last-position slice reaches its matmul as a contiguous copy (the
    frozen-weight path of a sliced bf16 input is a batched matmul against a broadcast weight: models/heads.py), and
    the logits are those of the contiguous input."""
    from degaml.models import load_llm
    from degaml.models.heads import contiguous_head_inputs

    loaded = load_llm(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    head = loaded.model.get_output_embeddings()
    contiguous_head_inputs(loaded.model)  # a second call adds nothing
    assert len(head._forward_pre_hooks) == 1
    seen = []
    head.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    ids = torch.randint(3, 300, (4, 6))  # (B, T)
    for p in loaded.model.parameters():
        p.requires_grad_(False)  # as PEFT leaves the base model while an adapter is attached
    with torch.no_grad():
        last = loaded.model(input_ids=ids, logits_to_keep=1).logits  # (B, 1, V): the head saw hidden[:, -1:, :]
        full = loaded.model(input_ids=ids).logits  # (B, T, V)
    assert seen == [True, True]
    torch.testing.assert_close(last[:, 0], full[:, -1])  # bf16 tolerances: an M-row product may round differently
