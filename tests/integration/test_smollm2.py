"""Integration tests on the real embedded SmolLM2-135M-Instruct and all-MiniLM-L6-v2 (offline).

They check behaviour (loading, exactness of packed scoring, CLI end to end), never speed or accuracy levels.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from degaml.data import load_task_data, shared_data_dir
from degaml.evaluation import PromptBuilder, evaluate
from degaml.evaluation.loglikelihood import encode_pair, score_continuations
from degaml.specs import load_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smollm2():
    from degaml.models import load_llm

    return load_llm("default", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def arc_easy():
    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    spec = load_spec(REPO / "specs" / "arc_easy.yaml")
    return spec, load_task_data(spec)


def test_default_model_is_a_plain_trainable_llama(smollm2):
    model = smollm2.model
    assert type(model).__name__ == "LlamaForCausalLM"
    assert getattr(model.config, "quantization_config", None) is None  # saveable and trainable, unlike the GGUF load
    assert model.config.vocab_size == 49152 and model.config.num_hidden_layers == 30
    assert smollm2.tokenizer.chat_template  # the instruct template is kept for the policy


def test_packed_scoring_equals_naive_on_real_items(smollm2, arc_easy):
    spec, data = arc_easy
    builder = PromptBuilder(spec)
    pairs = [pair for ex in data.validation[:3] for pair in builder.choice_pairs(ex)]
    packed = score_continuations(smollm2.model, smollm2.tokenizer, pairs, batch_size=4, max_length=2048)
    for (context, continuation), score in zip(pairs, packed):
        ctx, cont = encode_pair(smollm2.tokenizer, context, continuation)
        with torch.no_grad():
            logprobs = torch.log_softmax(smollm2.model(torch.tensor([ctx + cont])).logits[0], -1)
        naive = sum(logprobs[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont))
        assert score.logprob == pytest.approx(naive, abs=2e-3)


def test_generation_stops_at_stop_sequences(smollm2):
    spec = load_spec(REPO / "specs" / "gsm8k.yaml", ["generation.max_new_tokens=24", "num_validation=3"])
    data = load_task_data(spec)
    result = evaluate(smollm2, spec, data.validation, "validation")
    assert result.n == 3
    for pred in result.predictions:
        assert "Question:" not in pred.output and isinstance(pred.correct, bool)


def test_cli_eval_on_the_embedded_default(arc_easy, tmp_path):
    from degaml.cli import main

    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as info:
        main(["eval", str(REPO / "specs" / "arc_easy.yaml"), "--limit", "6", "--json", str(out)])
    assert info.value.code == 0
    summary = json.loads(out.read_text())
    assert summary["n"] == 6 and summary["model"] == "default" and 0.0 <= summary["accuracy"] <= 1.0
    assert summary["data_source"] == "shared:arc_easy/validation.jsonl"


def test_embedded_encoder_embeds_prompts():
    from degaml.models import load_encoder

    encoder = load_encoder("default")
    vectors = encoder.encode(["What is two plus two?", "Which planet is red?"], convert_to_tensor=True)
    assert tuple(vectors.shape) == (2, 384)
    assert torch.isfinite(vectors).all()
