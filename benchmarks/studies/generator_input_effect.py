"""What the generator reads, measured: for every task of `--meta` whose spec sets `generator_input`
(e.g. BoolQ: question first, then the passage), the same seeded prompt batches read two ways — the spec's template
and the plain prompt (`{{question}}`, the default) — and, for each, in a trained generator's token space against
the task's collected checkpoints (MSE units of `degaml/generator/reconstruction.py`):

- `truncated`: share of the task's train-pool inputs longer than the L encoder tokens kept;
- `generator`: MSE of the generator's tokens from those batches (in training: the generator saw this task, read
  the spec's way — so `plain` is what a generator trained before the field existed would have read, not a retrained
  one), and `generator_shift`: MSE between the two readings' outputs (how much the decoder responds at all);
- `retrieval`: per batch the task whose key (mean pooled embedding of its 8 batches; the other tasks read the
  spec's way, the task itself read as its batches are) is the most cosine-similar — hit rate (its own task),
  margin (cosine to its own key minus the best other task's), and the MSE of the retrieved tasks' mean checkpoints
  (a predictor that needs no training, so both readings are fair);
- `prompt_blind_mean`: the mean checkpoint of the other tasks (the same for both readings: a reference).

Usage: python benchmarks/studies/generator_input_effect.py [--meta specs/meta/broad.yaml --set draws=1]
         [--generator runs/meta/broad/generator] [--out docs/results/generator_input_effect.json]
(needs `degaml generator collect` of the meta spec and a generator trained on it.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import BATCHES, SEED, TaskSpace  # noqa: E402  (the same token space and batches as generator_predictability)
from degaml.io import write_json



def retrieval(pooled: torch.Tensor, keys: torch.Tensor, own: int) -> dict:
    """(P, C) batch embeddings, (K, C) task keys, the batches' own task → hit rate, margin, retrieved index per batch."""
    sims = torch.nn.functional.normalize(pooled, dim=-1) @ torch.nn.functional.normalize(keys, dim=-1).T  # (P, K)
    others = sims.clone()
    others[:, own] = -2.0
    return {"hit_rate": float((sims.argmax(-1) == own).float().mean()),
            "margin": float((sims[:, own] - others.max(-1).values).mean()),
            "retrieved": sims.argmax(-1).tolist()}


def main() -> None:
    from degaml.data import load_task_data
    from degaml.generator.pipeline import included_tasks, load_trajectories
    from degaml.generator.reconstruction import generate_tokens
    from degaml.generator.train import build_shards
    from degaml.specs import load_meta_spec
    from degaml.specs.model import TaskSpec

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "broad.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--generator", default="runs/meta/broad/generator")
    parser.add_argument("--work", type=Path, default=Path("runs") / "generator_input_effect")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator_input_effect.json")
    args = parser.parse_args()
    overrides = ["draws=1"] if args.overrides is None else args.overrides
    meta = load_meta_spec(args.meta, overrides)
    specs = [spec for _, spec in included_tasks(meta, [])]
    trajectories = load_trajectories(meta, [])
    names = [t.task for t in trajectories]
    default = TaskSpec.model_fields["generator_input"].default
    chosen = [i for i, s in enumerate(specs) if s.generator_input.strip() != default]
    if not chosen:
        raise SystemExit(f"{args.meta}: no task sets generator_input; nothing to compare")
    space = TaskSpace.build(args.generator, meta.encoder, trajectories, args.work / "spec")
    bundle, recipe, embedder, tok = space.bundle, space.recipe, space.embedder, space.bundle.tokenizer
    shards, mask, keys, targets, means = space.shards, space.mask, space.keys, space.targets, space.means
    rows = {}
    for i in chosen:
        plain = trajectories[i]
        spec_prompts = list(plain.prompts)
        plain.prompts = [e.question for e in load_task_data(specs[i], on_skip=lambda _: None).train]
        # same seed as the task's position in the list → the same items in every batch, read the other way
        (plain_shard,) = build_shards([plain], tok, embedder, recipe.model_copy(update={"seed": SEED + i}),
                                      args.work / f"plain-{names[i]}", bundle.config.encoder, n_batches=BATCHES)
        others = [k for k in range(len(names)) if k != i]
        row = {"generator_input": specs[i].generator_input,
               "prompt_blind_mean": targets[i].mse(means[others].mean(0))}
        outputs = {}
        for reading, shard in (("spec", shards[i]), ("plain", plain_shard)):
            own_keys = keys.clone()
            own_keys[i] = shard.pooled.mean(0)  # the task's key read the same way as its batches
            found = retrieval(shard.pooled, own_keys, i)
            outputs[reading] = generate_tokens(bundle.model, shard, range(BATCHES))  # (P, T, r, chunk)
            row[reading] = {"truncated": embedder.truncated_fraction(plain.prompts if reading == "plain" else spec_prompts),
                            "generator": targets[i].mse(outputs[reading]),
                            "hit_rate": found["hit_rate"], "margin": found["margin"],
                            "retrieval": targets[i].mse(means[found["retrieved"]]),
                            "retrieved": sorted({names[k] for k in found["retrieved"]})}
        row["generator_shift"] = float((((outputs["spec"] - outputs["plain"]) ** 2) * mask).sum() / (BATCHES * mask.sum()))
        rows[names[i]] = row
        shutil.rmtree(args.work / f"plain-{names[i]}", ignore_errors=True)
        print(names[i], json.dumps(row), flush=True)
    report = {"command": "python benchmarks/studies/generator_input_effect.py " + " ".join(f"--set {o}" for o in overrides),
              "meta": meta.name, "generator": args.generator, "tasks": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    shutil.rmtree(args.work / "spec", ignore_errors=True)


if __name__ == "__main__":
    main()
