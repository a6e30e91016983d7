"""The paper profile's code path end to end (collect → train → generate) on a tiny random Qwen2-architecture model
with a Qwen-style byte-level BPE tokenizer: the paper's LoRA targets (all seven projections of Qwen2.5), kernel,
learning rates; only the sizes (steps, prompts, tokens, hidden dims) are overridden small. So "the same spec on a
GPU with Qwen2.5-0.5B" is exercised here, up to scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from degaml.cli import main
from degaml.specs import load_meta_spec
from degaml.specs.meta import PROFILES
from tests.conftest import CORPUS, mc_rows, mc_spec_dict, write_jsonl

QWEN_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build_tiny_qwen2(path: Path) -> Path:
    """A 2-layer random Qwen2ForCausalLM and a byte-level BPE tokenizer with Qwen's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None, bos_token=None)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    Qwen2ForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def paper_meta(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("paper")
    model = build_tiny_qwen2(root / "qwen2-tiny")
    for name in ("alpha", "beta"):
        data = write_jsonl(root / f"{name}.jsonl", mc_rows(50))
        (root / f"{name}.yaml").write_text(yaml.safe_dump(mc_spec_dict(data, model=str(model), task=name, num_train=8, num_test=5)))
    meta = {
        "version": 1, "name": "paper-tiny", "profile": "paper", "model": str(model), "device": "cpu",
        "out_dir": str(root / "runs"), "tasks": ["alpha.yaml", "beta.yaml"],
        "collection": {"phase1_steps": 2, "phase2_steps": 1, "batch_size": 2, "max_length": 32, "eval_checkpoints": 0},
        "generator": {"num_prompts": 4, "prompt_tokens": 8, "chunk": 16, "hidden_dims": [[8, 8, 32]], "steps": 3,
                      "batch_size": 4, "pairs_per_task": 10},
    }
    (root / "meta.yaml").write_text(yaml.safe_dump(meta))
    return root / "meta.yaml"


def run(args: list[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0


@pytest.mark.slow
def test_paper_profile_collects_trains_and_generates_on_a_qwen2_architecture(paper_meta, tmp_path):
    from peft import PeftModel, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    meta = load_meta_spec(paper_meta)
    assert meta.collection.target_modules == QWEN_TARGETS == PROFILES["paper"]["collection"]["target_modules"]
    assert meta.generator.kernel == 9 and meta.collection.phase1_lr == 1e-4  # the paper's recipe, sizes overridden
    run(["generator", "collect", str(paper_meta)])
    run(["generator", "train", str(paper_meta)])
    gen = meta.output_dir() / "generator"
    config = json.loads((gen / "generator.json").read_text())
    assert config["target_modules"] == QWEN_TARGETS and not (gen / "shards").exists()
    metrics = config["meta"]["metrics"]
    assert metrics["held_out_pairs"] > 0 and {"prompt_blind_mean_mse", "retrieval_mse"} <= set(metrics)

    adapter = tmp_path / "adapter"
    run(["generator", "generate", str(paper_meta.parent / "alpha.yaml"), "--generator", str(gen), "--out", str(adapter)])
    base = AutoModelForCausalLM.from_pretrained(meta.model)
    assert type(base).__name__ == "Qwen2ForCausalLM"
    state = get_peft_model_state_dict(PeftModel.from_pretrained(base, str(adapter)))
    assert {k.split(".")[-3] for k in state} == set(QWEN_TARGETS)  # every projection of both layers has a factor
    assert len(state) == 2 * 2 * len(QWEN_TARGETS) and all(torch.isfinite(v).all() for v in state.values())
