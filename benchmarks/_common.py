"""Plumbing shared by the scripts of benchmarks/speed and benchmarks/studies (import it with this file's directory
on sys.path: `sys.path.insert(0, str(Path(__file__).resolve().parents[1]))`; scripts never import each other).

Hardware limits measured in the benchmark's own process (speed/evaluator_throughput.py): matmul GFLOP/s and memory
bandwidth, and the decoding/scoring speed they allow for a causal LM.

- matmul roofline: fastest of many `linear` calls at the model's shapes (rows × hidden → intermediate) per dtype;
- bandwidth: fastest of several reductions over a 512 MiB buffer (bytes read per second);
- a decoding step of B rows costs ≥ max(2·P·B / roofline, weight bytes / bandwidth) (P = parameters used per
  token incl. the LM head; weights are read once per step), so tokens/s ≤ B / that; scoring (prefill) tokens/s
  ≤ roofline / (2·P_backbone) with the head only on the scored positions.

A random LoRA on all seven projections (`random_lora`: speed/evaluator_throughput.py, speed/lora_merge_speed.py).
Tasks in a trained generator's token space (`TaskSpace`, `BATCHES`, `SEED`: studies/generator_predictability.py,
studies/generator_input_effect.py). A LoRA fine-tuned on a task's labelled support examples (`finetune_on_support`:
studies/generator_eval.py, studies/generator_reconstruction.py). The held-out reasoning-gym families and the partition
seed rule of the held-out episode studies (`HELD_OUT`, `spec_seed`: studies/heldout_compare.py,
studies/generator_heldout.py).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

BATCHES, SEED = 8, 10  # seeded prompt batches per task in a TaskSpace, and their seed
HELD_OUT = ["rg/gcd", "rg/word_sorting", "rg/syllogism", "rg/binary_alternation"]  # never in specs/meta/*.yaml
SEED_STRIDE = 104_729  # seed s uses spec seed + s × this (broad.yaml's draws use multiples of 7919)


def spec_seed(spec_path: Path, seed: int) -> int:
    """The spec seed of partition seed `seed`: another draw of items and another support/validation/test split."""
    import yaml

    return int(yaml.safe_load(Path(spec_path).read_text()).get("seed", 1234)) + SEED_STRIDE * seed


def _fastest(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def matmul_gflops(dtype: torch.dtype, rows: int, hidden: int = 576, out: int = 1536, reps: int = 30) -> float:
    a, w = torch.randn(rows, hidden, dtype=dtype), torch.randn(out, hidden, dtype=dtype)
    torch.nn.functional.linear(a, w)
    return 2 * rows * hidden * out / _fastest(lambda: torch.nn.functional.linear(a, w), reps) / 1e9


@torch.inference_mode()
def bandwidth_gbs(mib: int = 512, reps: int = 5) -> float:
    x = torch.ones(mib * 2**20 // 4, dtype=torch.float32)
    x.sum()
    return x.numel() * 4 / _fastest(lambda: x.sum(), reps) / 1e9


def model_sizes(model: torch.nn.Module) -> dict[str, float]:
    """Parameters per token (backbone without embeddings, head) and weight bytes read per decoding step."""
    head = model.get_output_embeddings().weight
    backbone = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and p is not head)
    elem = next(model.parameters()).element_size()
    return {"backbone_params": backbone, "head_params": head.numel(), "step_bytes": (backbone + head.numel()) * elem}


def decode_limit(sizes: dict[str, float], rows: int, gflops: float, gbs: float) -> float:
    """Upper bound on new tokens/s for greedy decoding with `rows` rows per step."""
    flop = 2 * (sizes["backbone_params"] + sizes["head_params"]) * rows
    return rows / max(flop / (gflops * 1e9), sizes["step_bytes"] / (gbs * 1e9))


def prefill_limit(sizes: dict[str, float], gflops: float) -> float:
    """Upper bound on tokens/s through the backbone (scoring)."""
    return gflops * 1e9 / (2 * sizes["backbone_params"])


def random_lora(model: torch.nn.Module) -> torch.nn.Module:
    """A PEFT LoRA (r = 8 on all seven projections, as the shipped generator's adapters) with random B: not a no-op."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.01)
    return peft_model.eval()


@dataclass
class TaskSpace:
    """Tasks in a trained generator's token space: its bundle and embedder, each task's shard of BATCHES seeded
    prompt batches, the token mask, prompt keys (K, C), target sets and mean checkpoints (K, T, r, chunk)."""

    bundle: Any
    recipe: Any
    embedder: Any
    shards: list
    mask: torch.Tensor
    keys: torch.Tensor
    targets: list
    means: torch.Tensor

    @classmethod
    def build(cls, generator: str, encoder: str, trajectories: list, work: Path) -> TaskSpace:
        from degaml.generator.artifact import GeneratorBundle
        from degaml.generator.embedding import PromptEmbedder
        from degaml.generator.pipeline import resolve_generator
        from degaml.generator.reconstruction import TargetSet
        from degaml.generator.train import build_shards
        from degaml.models import load_encoder
        from degaml.specs.meta import GeneratorRecipe

        bundle = GeneratorBundle.load(resolve_generator(generator))
        recipe = GeneratorRecipe(**bundle.config.meta["recipe"]).model_copy(update={"seed": SEED})
        embedder = PromptEmbedder(load_encoder(encoder), recipe.num_prompts, recipe.prompt_tokens)
        shards = build_shards(trajectories, bundle.tokenizer, embedder, recipe, work, bundle.config.encoder, n_batches=BATCHES)
        mask = bundle.tokenizer.tokenize(trajectories[0].checkpoints[0])[1].float()
        targets = [TargetSet.of(s, range(s.n_checkpoints), mask) for s in shards]
        return cls(bundle, recipe, embedder, shards, mask, torch.stack([s.pooled.mean(0) for s in shards]),
                   targets, torch.stack([t.mean for t in targets]))


def finetune_on_support(loaded: Any, task: Any, collection: Any, out_dir: Path) -> dict:
    """A LoRA trained on the task's support examples *with their labels* (25 steps, batch 4, the collection code and
    recipe otherwise); returns the collection manifest (its trajectory's last checkpoint is the fine-tuned LoRA)."""
    from degaml.generator.collect import collect_task

    ft_task = dataclasses.replace(task, train=task.labelled_support)  # the support items with labels
    recipe = collection.model_copy(update={"phase1_steps": 25, "phase2_steps": 0, "batch_size": 4, "eval_checkpoints": 0})
    return collect_task(loaded, ft_task, recipe, out_dir)
