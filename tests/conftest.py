"""Shared fixtures: a tiny random Llama with a tiny BPE tokenizer (built in seconds, no downloads),
small JSONL task files, and spec dictionaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

CORPUS = [
    "Question: What is two plus two?\nAnswer: four",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 #### $ , .",
    "Which planet is known as the red planet? Mars, Venus, Earth, Jupiter",
    "yes no true false Problem: \\boxed{x} _ blank sentence option",
]


def build_tiny_model_dir(path: Path, seed: int = 0) -> Path:
    """Save a 2-layer random Llama and a byte-level BPE tokenizer to `path` (a transformers model dir)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    from degaml.models import load_llm

    return load_llm(str(tiny_model_dir), device="cpu", dtype="float32")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mc_rows(n: int) -> list[dict]:
    return [
        {"id": f"q{i}", "question": f"Question number {i} about planets?", "choices": ["Mars", "Venus", f"Earth {i}"], "answer": i % 3}
        for i in range(n)
    ]


def numeric_rows(n: int) -> list[dict]:
    return [{"id": f"n{i}", "question": f"What is {i} plus {i}?", "choices": [], "answer": str(2 * i), "rationale": f"{i}+{i}"} for i in range(n)]


@pytest.fixture
def mc_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))


@pytest.fixture
def numeric_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))


def mc_spec_dict(data_file: Path, model: str = "default", **extra) -> dict:
    return {
        "version": 1, "task": "toy_mc", "format": "multiple_choice", "model": model, "device": "cpu",
        "dataset": [{"source": str(data_file)}], "num_support": 5, "num_validation": 20, "num_test": 20, **extra,
    }


def numeric_spec_dict(data_file: Path, model: str = "default", **extra) -> dict:
    return {
        "version": 1, "task": "toy_num", "format": "numeric", "model": model, "device": "cpu",
        "dataset": [{"source": str(data_file)}], "num_support": 5, "num_validation": 10, "num_test": 10,
        "generation": {"until": ["\n"], "max_new_tokens": 4}, **extra,
    }
