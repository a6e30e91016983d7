"""Reconstruction of collected LoRA checkpoints (MSE in the generator's normalised token space) by the generator and
by the baselines a reader needs to judge it (`degaml/generator/reconstruction.py`): the prompt-blind mean of the
training tasks' checkpoints, retrieval (the nearest training task's mean checkpoint by prompt-embedding cosine), the
task's own mean checkpoint (in training only a baseline; for a never-seen task an unknowable floor), and a LoRA
fine-tuned on the task's 20 labelled support examples (25 steps, batch 4; `benchmarks/_common.py`).

- in training: the given generator (default: the shipped one); per task its held-out prompt batches (the first
  10% of the 40 seeded batches, as in training) × held-out checkpoints (10%, evenly spaced). A generator trained
  before checkpoints were held out (the shipped one) has seen those checkpoints — the report says so.
- leave-one-task-out: per task u, its first 8 prompt batches (seeds 10000+i) × all its checkpoints, in the token
  space of the generator trained without u (`generator-minus-u`, when present). Without that generator the
  tokenizer is re-fitted exactly as its training would (same checkpoints, same code) and the generator column is
  carried over from `--previous` (a report of an earlier run that had it); its prompt-blind column reproduces
  that run's, which checks that the re-collected checkpoints are the same.

- held-out (`--held-out META2`): every task of META2 (tasks never in `--meta`, collected with `degaml generator
  collect META2`, e.g. specs/heldout/rg_families.yaml), scored as a never-seen task against the given generator,
  which was trained on all of `--meta`: its first 8 prompt batches (seeds 10000+i) × all its checkpoints, in that
  generator's token space, with the same baselines (prompt-blind mean and retrieval over `--meta`'s tasks).

Usage: python benchmarks/studies/generator_reconstruction.py [--meta specs/meta/in_domain.yaml] [--set KEY=VALUE ...] [--generator default]
         [--inputs spec|question] [--parts in_training leave_one_out held_out] [--held-out META2]
         [--out docs/results/generator_reconstruction.json]
(needs `degaml generator collect META` first; `--inputs question` feeds the encoder the plain prompts, ignoring
the specs' `generator_input`, as generators trained before that field existed saw them.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from degaml.io import write_json
from degaml.data import load_task_data
from degaml.generator.artifact import GeneratorBundle
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.pipeline import generator_dir, included_tasks, load_trajectories, resolve_generator
from degaml.generator.reconstruction import in_training_reconstruction, unseen_task_reconstruction
from degaml.generator.shards import TrajectoryFile
from degaml.generator.tokenizer import LoraTokenizer
from degaml.generator.train import build_shards, split_indices
from degaml.models import load_encoder, load_llm
from degaml.specs import load_meta_spec
from degaml.specs.meta import GeneratorRecipe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import finetune_on_support  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
UNSEEN_BATCHES, UNSEEN_SEED = 8, 10


class CachedEmbedder(PromptEmbedder):
    """A PromptEmbedder that embeds each distinct prompt batch once (folds share the tasks' batches)."""

    def __init__(self, encoder, num_prompts: int, prompt_tokens: int) -> None:
        super().__init__(encoder, num_prompts, prompt_tokens)
        self.cache: dict[tuple[str, ...], torch.Tensor] = {}

    def embed(self, prompts):
        key = tuple(prompts)
        if key not in self.cache:
            self.cache[key] = super().embed(prompts)
        return self.cache[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--generator", default="default", help="in-training generator: default (shipped) or a directory")
    parser.add_argument("--inputs", choices=["spec", "question"], default="spec")
    parser.add_argument("--previous", type=Path, default=REPO / "docs" / "results" / "generator.json")
    parser.add_argument("--work", type=Path, default=Path("runs") / "generator_reconstruction")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator_reconstruction.json")
    parser.add_argument("--parts", nargs="+", default=["in_training", "leave_one_out"],
                        choices=["in_training", "leave_one_out", "held_out"])
    parser.add_argument("--held-out", type=Path, default=None, help="meta spec of never-seen evaluation tasks (collected)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override of --meta, as given to `degaml generator collect/train` (e.g. draws=1)")
    args = parser.parse_args()
    if ("held_out" in args.parts) != (args.held_out is not None):
        parser.error("--parts held_out and --held-out META go together")
    meta = load_meta_spec(args.meta, args.overrides)
    specs = [spec for _, spec in included_tasks(meta, [])]
    trajectories = load_trajectories(meta, [])
    if args.inputs == "question":
        for traj, spec in zip(trajectories, specs):
            traj.prompts = [e.question for e in load_task_data(spec, on_skip=lambda _: None).train]
    names = [t.task for t in trajectories]
    encoder = load_encoder(meta.encoder)
    loaded = load_llm(meta.model, meta.device, "float32")
    held_meta = load_meta_spec(args.held_out) if args.held_out else None
    held_specs = [spec for _, spec in included_tasks(held_meta, [])] if held_meta else []
    if {s.task for s in held_specs} & set(names):
        raise SystemExit(f"--held-out: {sorted({s.task for s in held_specs} & set(names))} are tasks of {args.meta}")
    finetuned = {}
    needs = (specs if {"in_training", "leave_one_out"} & set(args.parts) else []) + held_specs
    for spec in needs:  # resumable: collect_task returns a finished run's manifest
        finetune_on_support(loaded, load_task_data(spec, on_skip=lambda _: None), meta.collection, args.work / "finetune" / spec.task)
        finetuned[spec.task] = TrajectoryFile(args.work / "finetune" / spec.task / "trajectory.safetensors")[-1]
    del loaded

    bundle = GeneratorBundle.load(resolve_generator(args.generator))
    recipe = GeneratorRecipe(**bundle.config.meta["recipe"])
    embedder = CachedEmbedder(encoder, recipe.num_prompts, recipe.prompt_tokens)
    report = {"meta": meta.name, "inputs": args.inputs, "generator_input": {s.task: s.generator_input for s in specs},
              "inputs_truncated": {t.task: embedder.truncated_fraction(t.prompts) for t in trajectories},
              "generator": str(args.generator), "leave_one_out": {}}
    if "in_training" in args.parts:
        report["in_training"] = in_training(bundle, args.generator, trajectories, names, recipe, embedder, finetuned, args.work)
    if held_meta is not None:
        report["held_out_meta"] = held_meta.name
        report["held_out"] = held_out(bundle, trajectories, held_meta, embedder, recipe, finetuned, args.work)
    previous = json.loads(args.previous.read_text())["tasks"] if args.previous.is_file() else {}
    for k, name in enumerate(names if "leave_one_out" in args.parts else []):
        report["leave_one_out"][name] = leave_one_out(meta, trajectories, k, embedder, finetuned[name], args.work,
                                                     (previous.get(name) or {}).get("unseen_task_reconstruction"))
        print(name, json.dumps(report["leave_one_out"][name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)


def in_training(bundle, generator: str, trajectories, names, recipe, embedder, finetuned, work: Path) -> dict:
    tok = bundle.tokenizer
    shards = build_shards(trajectories, tok, embedder, recipe, work / "shards-in-training", bundle.config.encoder)
    batches = [split_indices(s.n_batches, recipe.held_out_fraction, first=True) for s in shards]
    ckpts = [split_indices(s.n_checkpoints, recipe.held_out_fraction) for s in shards]
    mask = tok.tokenize(trajectories[0].checkpoints[0])[1].float()
    extra = [{"finetune_support": tok.tokenize(finetuned[n])[0]} for n in names]
    result = in_training_reconstruction(bundle.model, shards, [b[0] for b in batches], [b[1] for b in batches],
                                        [c[0] for c in ckpts], [c[1] for c in ckpts], mask, names, extra)
    shutil.rmtree(work / "shards-in-training", ignore_errors=True)
    seen = "held_out" not in (bundle.config.meta.get("metrics") or {})  # trained before checkpoints were held out
    return {"generator": generator, "checkpoints_seen_in_training": seen, **result}


def held_out(bundle, trajectories, held_meta, embedder, recipe, finetuned, work: Path) -> dict:
    """Tasks of another meta spec, never in training: each against the generator trained on all of `trajectories`."""
    tok = bundle.tokenizer
    train_shards = build_shards(trajectories, tok, embedder, recipe, work / "shards-held-out-train")
    rows = {}
    for unseen in load_trajectories(held_meta, []):
        fold = work / f"shards-held-out-{unseen.task}"
        (shard,) = build_shards([unseen], tok, embedder, recipe.model_copy(update={"seed": UNSEEN_SEED}), fold, n_batches=UNSEEN_BATCHES)
        mask = tok.tokenize(unseen.checkpoints[0])[1].float()
        rows[unseen.task] = unseen_task_reconstruction(bundle.model, train_shards, shard, range(UNSEEN_BATCHES), mask,
                                                       {"finetune_support": tok.tokenize(finetuned[unseen.task])[0]},
                                                       [t.task for t in trajectories])
        print(unseen.task, json.dumps(rows[unseen.task]), flush=True)
        shutil.rmtree(fold, ignore_errors=True)
    shutil.rmtree(work / "shards-held-out-train", ignore_errors=True)
    return rows


def leave_one_out(meta, trajectories, k: int, embedder, finetuned: dict, work: Path, previous: dict | None) -> dict:
    unseen, others = trajectories[k], trajectories[:k] + trajectories[k + 1 :]
    loo_dir = generator_dir(meta, [unseen.task])
    model, recipe = None, meta.generator
    if (loo_dir / "generator.json").is_file():
        loo = GeneratorBundle.load(loo_dir)
        tok, model, recipe = loo.tokenizer, loo.model, GeneratorRecipe(**loo.config.meta["recipe"])
    else:  # the tokenizer its training would fit: same checkpoints, same code
        tok = LoraTokenizer.from_state_dict(others[0].checkpoints[0], recipe.chunk).fit(c for t in others for c in t.checkpoints)
    fold = work / f"shards-minus-{unseen.task}"
    train_shards = build_shards(others, tok, embedder, recipe, fold / "train")
    (unseen_shard,) = build_shards([unseen], tok, embedder, recipe.model_copy(update={"seed": UNSEEN_SEED}), fold / "unseen",
                                  n_batches=UNSEEN_BATCHES)
    mask = tok.tokenize(unseen.checkpoints[0])[1].float()
    row = unseen_task_reconstruction(model, train_shards, unseen_shard, range(UNSEEN_BATCHES), mask,
                                     {"finetune_support": tok.tokenize(finetuned)[0]}, [t.task for t in others])
    shutil.rmtree(fold, ignore_errors=True)
    if model is None and previous:
        row["generator"] = previous["generated_mse"]
        row["generator_from"] = "earlier run of the leave-one-out generator (not on this machine)"
        row["previous_prompt_blind_mean"] = previous["training_tasks_mean_mse"]
    return row


if __name__ == "__main__":
    main()
