"""The strategy context over the tiny generator: θ₀ is a loadable PEFT adapter, cached per prompt batch."""

from __future__ import annotations

from peft import PeftModel


def test_initial_adapter_is_a_cached_peft_adapter(mc_context, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    first = mc_context.initial_adapter()
    assert (first / "adapter_config.json").is_file() and (first / "adapter_model.safetensors").is_file()
    assert mc_context.sampler.adapter_for(mc_context.support_prompts()) == first  # same batch → same directory
    other = mc_context.sampler.adapter_for(mc_context.sampler.draw(mc_context.unlabeled_inputs("validation"), seed=3))
    assert other != first
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(other))


def test_context_scores_a_split_with_an_adapter(mc_context):
    result = mc_context.evaluate("validation", mc_context.initial_adapter())
    assert result.n == len(mc_context.task.validation) == 20
    assert 0.0 <= result.accuracy <= 1.0
