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
