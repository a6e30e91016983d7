"""What the generator's encoder sees of each task, with the plain prompt (`{{question}}`) vs the spec's
`generator_input`: the share of train-pool inputs cut at the encoder's L tokens, and how well a held-out prompt
batch identifies its task — nearest task by cosine of pooled prompt-batch embeddings (the retrieval baseline's
key), and the margin: similarity to the own task minus the best other task. Needs no collected checkpoints.

Batches and split as in generator training: per task 40 seeded batches of N train-pool inputs, the first 10% held
out; task keys = mean pooled embedding of the other 90%.

Usage: python benchmarks/studies/generator_inputs.py [--meta specs/meta/in_domain.yaml] [--out docs/results/generator_inputs.json]
       python benchmarks/studies/generator_inputs.py --truncation-only   # tokenizer only: seconds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from degaml.io import write_json
from degaml.data import load_task_data
from degaml.generator.embedding import PromptEmbedder
from degaml.evaluation.prompts import generator_inputs
from degaml.generator.pipeline import included_tasks
from degaml.generator.reconstruction import nearest_task
from degaml.generator.shards import pooled_embedding
from degaml.generator.train import PROMPT_BATCHES_PER_TASK, prompt_batches, split_indices
from degaml.models import load_encoder
from degaml.specs import load_meta_spec

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator_inputs.json")
    parser.add_argument("--truncation-only", action="store_true", help="skip embedding (no identification scores)")
    args = parser.parse_args()
    meta = load_meta_spec(args.meta)
    recipe = meta.generator
    embedder = PromptEmbedder(load_encoder(meta.encoder), recipe.num_prompts, recipe.prompt_tokens)
    specs = [spec for _, spec in included_tasks(meta, [])]
    train = {s.task: load_task_data(s, on_skip=lambda _: None).train for s in specs}
    pooled: dict[tuple[str, str], torch.Tensor] = {}  # (task, mode) → (batches, C)
    report = {"meta": meta.name, "num_prompts": recipe.num_prompts, "prompt_tokens": recipe.prompt_tokens, "tasks": {}}
    for i, spec in enumerate(specs):
        row = {"generator_input": spec.generator_input}
        for mode in ("question", "spec"):
            texts = [e.question for e in train[spec.task]] if mode == "question" else generator_inputs(spec, train[spec.task])
            if mode == "spec" and spec.generator_input == "{{question}}":
                pooled[(spec.task, mode)] = pooled.get((spec.task, "question"))
                row[mode] = dict(row["question"])
                continue
            row[mode] = {"truncated": embedder.truncated_fraction(texts)}
            if not args.truncation_only:
                batches = prompt_batches(texts, recipe.num_prompts, recipe.seed + i)
                pooled[(spec.task, mode)] = torch.stack([pooled_embedding(embedder.embed(b)) for b in batches])
        report["tasks"][spec.task] = row
    if args.truncation_only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, report, indent=2)
        return print(json.dumps(report, indent=2))
    _, held = split_indices(PROMPT_BATCHES_PER_TASK, recipe.held_out_fraction, first=True)
    kept = [b for b in range(PROMPT_BATCHES_PER_TASK) if b not in held]
    for mode in ("question", "spec"):
        keys = torch.stack([pooled[(s.task, mode)][kept].mean(0) for s in specs])  # (K, C)
        norm_keys = torch.nn.functional.normalize(keys, dim=-1)
        for k, spec in enumerate(specs):
            queries = pooled[(spec.task, mode)][held]  # (H, C)
            sims = torch.nn.functional.normalize(queries, dim=-1) @ norm_keys.T  # (H, K)
            others = torch.cat([sims[:, :k], sims[:, k + 1 :]], 1)
            report["tasks"][spec.task][mode].update(
                hit_rate=float((nearest_task(queries, keys) == k).float().mean()),
                margin=float((sims[:, k] - others.max(1).values).mean()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
