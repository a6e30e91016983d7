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


CHAT_TEMPLATE = (  # ChatML, as SmolLM2 uses
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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
    fast.chat_template = CHAT_TEMPLATE
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


# --- a tiny trained generator and a strategy context over it (strategies, controller, TUI tests) ---------------


@pytest.fixture(scope="session")
def tiny_encoder():
    from degaml.models import load_encoder

    return load_encoder("default")


@pytest.fixture(scope="session")
def tiny_generator_dir(tmp_path_factory, tiny_model_dir, tiny_encoder) -> Path:
    """A generator meta-trained (a few steps) on one tiny LoRA trajectory of the tiny model: real code path, seconds."""
    from degaml.data import load_task_data
    from degaml.generator.collect import collect_task, load_trajectory
    from degaml.generator.embedding import PromptEmbedder
    from degaml.generator.train import TaskTrajectory, train_generator
    from degaml.models import load_llm
    from degaml.specs import spec_from_dict
    from degaml.specs.meta import CollectionRecipe, GeneratorRecipe

    collect = CollectionRecipe(phase1_steps=3, phase1_lr=1e-2, phase2_steps=1, phase2_lr=1e-3, batch_size=4,
                               max_length=32, rank=2, alpha=4, eval_checkpoints=0)
    recipe = GeneratorRecipe(num_prompts=4, prompt_tokens=8, chunk=16, hidden_dims=[(8, 8, 24)], steps=6, lr=1e-3,
                             batch_size=4, pairs_per_task=20, position_dim=8)
    root = tmp_path_factory.mktemp("tiny-generator")
    spec = spec_from_dict(mc_spec_dict(write_jsonl(root / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir), num_train=12, num_test=5))
    task = load_task_data(spec)
    collect_task(load_llm(str(tiny_model_dir), device="cpu"), task, collect, root / "collect")
    traj = TaskTrajectory("toy", load_trajectory(root / "collect" / "trajectory.safetensors"), [e.question for e in task.train])
    embedder = PromptEmbedder(tiny_encoder, recipe.num_prompts, recipe.prompt_tokens)
    train_generator([traj], recipe, collect, embedder, "default", str(tiny_model_dir), root / "generator")
    return root / "generator"


def make_context(tmp_path: Path, loaded, encoder, generator_dir: Path, spec_dict: dict):
    """A StrategyContext over the tiny model, the tiny generator and a task built from `spec_dict`."""
    from degaml.data import load_task_data
    from degaml.generator.sampler import AdapterSampler
    from degaml.specs import spec_from_dict
    from degaml.strategies.base import StrategyContext

    spec = spec_from_dict(spec_dict)
    sampler = AdapterSampler.load(generator_dir, tmp_path / "adapters", encoder=encoder)
    return StrategyContext(loaded, spec, load_task_data(spec), sampler, tmp_path / "work", seed=0)


@pytest.fixture
def mc_context(tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, tiny_model_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    return make_context(tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, mc_spec_dict(data, model=str(tiny_model_dir)))


@pytest.fixture
def numeric_context(tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, tiny_model_dir):
    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    return make_context(tmp_path, tiny_loaded, tiny_encoder, tiny_generator_dir, numeric_spec_dict(data, model=str(tiny_model_dir)))


@pytest.fixture(autouse=True)
def _private_cost_file(tmp_path, monkeypatch):
    """Episodes learn this machine's strategy costs into a cost file: each test gets its own (never ~/.cache)."""
    monkeypatch.setenv("DEGAML_COST_FILE", str(tmp_path / "costs.json"))
