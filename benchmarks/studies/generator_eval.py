"""The generalization module's numbers: validation accuracy of base model / collected checkpoints / generated adapter
(in-training and leave-one-out), generation latency, and generation vs fine-tuning a LoRA on the support examples.

For each task of the meta spec, on the first `collection.eval_items` validation items (the items the collection
manifest scored its checkpoints on):
  - base model and checkpoints: read from the collection manifest (`degaml generator collect` measured them);
  - generated: θ₀ = generator(support prompts) from the generator trained on all tasks (`generator/`), and from the
    leave-one-out generator `generator-minus-<task>/` when it exists (the paper's "Generalization" row);
  - reconstruction (MSE in token space) with its baselines: `benchmarks/studies/generator_reconstruction.py`;
  - latency: prompts → adapter on disk, after the generator and encoder are loaded (median of 5 prompt batches);
  - fine-tuning: a LoRA trained on the task's 20 support examples *with their labels* (5 epochs, batch 4 = 25 steps,
    the collection code and CPU recipe otherwise) — timed (the cost generation replaces).

Usage: python benchmarks/studies/generator_eval.py [--meta specs/meta/in_domain.yaml] [--out docs/results/generator.json] [--finetune-task arc_easy]
       python benchmarks/studies/generator_eval.py --leave-one-out-only   # add the leave-one-out generators trained since
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


from degaml.io import write_json
from degaml.data import load_task_data
from degaml.evaluation import evaluate
from degaml.evaluation.prompts import generator_inputs
from degaml.generator.pipeline import collection_dir, generator_dir, included_tasks
from degaml.generator.sampler import AdapterSampler
from degaml.models import load_encoder, load_llm
from degaml.specs import load_meta_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import finetune_on_support  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def score(loaded, spec, items, pool, adapter) -> dict:
    r = evaluate(loaded, spec, items, "validation", fewshot_pool=pool, adapter=adapter)
    return {"accuracy": r.accuracy, "ci95": list(r.ci95), "n": r.n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", type=Path, default=REPO / "specs" / "meta" / "in_domain.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "generator.json")
    parser.add_argument("--finetune-task", default="arc_easy")
    parser.add_argument("--leave-one-out-only", action="store_true",
                        help="only score leave-one-out generators missing from an existing --out report (merged into it)")
    args = parser.parse_args()
    meta = load_meta_spec(args.meta)
    if args.leave_one_out_only:
        return add_leave_one_out(meta, args.out)
    loaded = load_llm(meta.model, meta.device, "float32")
    encoder = load_encoder(meta.encoder)
    work = Path(tempfile.mkdtemp(prefix="degaml-geneval-"))
    full = AdapterSampler.load(generator_dir(meta, []), work / "full", encoder=encoder)
    report = {"meta": meta.name, "generator": str(generator_dir(meta, [])), "generator_metrics": full.bundle.config.meta.get("metrics"), "tasks": {}}
    latencies = []
    for _, spec in included_tasks(meta, []):
        task = load_task_data(spec, on_skip=lambda _: None)
        items = task.validation[: meta.collection.eval_items]
        manifest = json.loads((collection_dir(meta, spec.task) / "manifest.json").read_text())
        row = {"n": len(items), "base": manifest["validation"][0], "checkpoints": manifest["validation"][1:],
               "collection_seconds": manifest["seconds"], "collection_seconds_per_step": manifest["seconds_per_step"]}
        prompts = generator_inputs(spec, task.support)
        row["generated"] = score(loaded, spec, items, task.train, full.adapter_for(prompts))
        for seed in range(1, 6):  # latency: fresh batches (not cached), after load
            batch = full.draw(prompts, seed)
            start = time.perf_counter()
            full.adapter_for(batch)
            latencies.append(time.perf_counter() - start)
        loo_dir = generator_dir(meta, [spec.task])
        if (loo_dir / "generator.json").is_file():
            loo = AdapterSampler.load(loo_dir, work / f"loo-{spec.task}", encoder=encoder)
            row["generated_leave_one_out"] = score(loaded, spec, items, task.train, loo.adapter_for(prompts))
        if spec.task == args.finetune_task:
            ft = finetune_on_support(loaded, task, meta.collection, work / "finetune")
            row["finetune_support"] = {"steps": 25, "batch_size": 4, "seconds": ft["seconds"], "examples": ft["train_items"]}
        report["tasks"][spec.task] = row
        print(spec.task, json.dumps({k: v for k, v in row.items() if k != "checkpoints"}), flush=True)
    report["latency_seconds"] = {"median": statistics.median(latencies), "max": max(latencies), "runs": len(latencies)}
    ft = next((r["finetune_support"] for r in report["tasks"].values() if "finetune_support" in r), None)
    if ft:
        report["finetune_over_generation"] = ft["seconds"] / report["latency_seconds"]["median"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report, indent=2)
    print(json.dumps({k: v for k, v in report.items() if k != "tasks"}, indent=2))


def add_leave_one_out(meta, out: Path) -> None:
    """Score each task's leave-one-out generator (when trained and not yet in the report) on the same items."""
    report = json.loads(out.read_text())
    loaded = load_llm(meta.model, meta.device, "float32")
    encoder = load_encoder(meta.encoder)
    work = Path(tempfile.mkdtemp(prefix="degaml-geneval-loo-"))
    for _, spec in included_tasks(meta, []):
        row = report["tasks"][spec.task]
        loo_dir = generator_dir(meta, [spec.task])
        if not (loo_dir / "generator.json").is_file() or "generated_leave_one_out" in row:
            continue
        loo = AdapterSampler.load(loo_dir, work / f"loo-{spec.task}", encoder=encoder)
        task = load_task_data(spec, on_skip=lambda _: None)
        prompts = generator_inputs(spec, task.support)
        row["generated_leave_one_out"] = score(loaded, spec, task.validation[: row["n"]], task.train, loo.adapter_for(prompts))
        row["leave_one_out_metrics"] = loo.bundle.config.meta.get("metrics")
        write_json(out, report, indent=2)
        print(spec.task, json.dumps(row["generated_leave_one_out"]), flush=True)


if __name__ == "__main__":
    main()
