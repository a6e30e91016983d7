"""Is the residual generator (θ₀ = θ_union + G(prompts)) at least as good as the multi-task LoRA?

On held-out multiple-choice tasks (never in a meta spec), four arms are scored on the test split once each, with
no support fit (what the generator hands the controller):
  base       the base model
  union      θ_union alone: the multi-task LoRA of the meta spec's tasks (generator.union recipe, seed 0)
  old_theta0 θ₀ of the shipped direct generator (degaml/generator/pretrained/smollm2-135m-in-domain)
  residual   θ₀ of the residual generator (`degaml generator train META generator.mode=residual`)
θ₀ is generated from the task's support prompts in order (as `degaml generator generate SPEC --seed 0`). Reported:
accuracy and balanced accuracy with 95% intervals, and paired comparisons (exact McNemar; paired bootstrap of
accuracy and of balanced accuracy, 2000 resamples, seed 0) per task and pooled over the tasks (mean over tasks).
The residual generator's reconstruction metrics (MSE of Δ tokens vs θ_union's Δ = 0) are copied beside.
Resumable: each (task, arm) score is cached under --work.

Usage: python benchmarks/studies/residual_generator.py specs/sciq.yaml specs/openbookqa.yaml specs/commonsenseqa.yaml
           [--meta specs/meta/in_domain.yaml] [--residual runs/meta/in_domain/generator-residual]
           [--work runs/residual_generator] [--out docs/results/residual-generator/heldout.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from degaml.data import load_task_data  # noqa: E402
from degaml.evaluation.prompts import generator_inputs  # noqa: E402
from degaml.generator.artifact import GeneratorBundle  # noqa: E402
from degaml.generator.embedding import PromptEmbedder  # noqa: E402
from degaml.generator.generate import generate_state_dict, write_peft_adapter  # noqa: E402
from degaml.generator.pipeline import SHIPPED_GENERATOR  # noqa: E402
from degaml.io import write_json  # noqa: E402
from degaml.models import load_encoder, load_llm  # noqa: E402
from degaml.protocol import ProtocolTask, final_score  # noqa: E402
from degaml.specs import load_meta_spec, load_spec  # noqa: E402
from degaml.stats import mcnemar_exact  # noqa: E402
from degaml.stats.paired import bootstrap_average, paired_bootstrap  # noqa: E402

ARMS = ("base", "union", "old_theta0", "residual")
PAIRS = (("residual", "union"), ("residual", "old_theta0"), ("union", "old_theta0"), ("residual", "base"),
         ("union", "base"), ("old_theta0", "base"))


def theta0(generator: Path, spec, data, out: Path) -> Path:
    """The generator's adapter for the support prompts in order (seed 0, no noise)."""
    if (out / "adapter_model.safetensors").is_file():
        return out
    bundle = GeneratorBundle.load(generator)
    embedder = PromptEmbedder(load_encoder(bundle.config.encoder), bundle.config.dims[0][0], bundle.config.dims[0][1])
    state = generate_state_dict(bundle, embedder, generator_inputs(spec, data.support))
    return write_peft_adapter(state, bundle, out)


def union_adapter(residual: Path, out: Path) -> Path:
    """θ_union as the residual generator carries it, as a PEFT adapter."""
    if (out / "adapter_model.safetensors").is_file():
        return out
    bundle = GeneratorBundle.load(residual)
    return write_peft_adapter(bundle.union, bundle, out)


ORDER = ("union", "residual", "old_theta0", "base")  # the comparison first: a partial run still answers it


def score_all(spec_paths: list[Path], residual: Path, work: Path, arms: tuple[str, ...] = ORDER) -> dict[str, dict]:
    """task → arm → cached score; arms outer, tasks inner (one model load)."""
    tasks = {p: load_spec(p) for p in spec_paths}
    data = {p: load_task_data(s, on_skip=lambda _: None) for p, s in tasks.items()}
    rows: dict[str, dict] = {s.task: {} for s in tasks.values()}
    loaded = None
    for arm in arms:
        for path, spec in tasks.items():
            cache = work / spec.task / f"{arm}.json"
            if cache.is_file():
                rows[spec.task][arm] = json.loads(cache.read_text())
                continue
            adapter = {"base": lambda: None, "union": lambda: union_adapter(residual, work / spec.task / "union-adapter"),
                       "old_theta0": lambda: theta0(SHIPPED_GENERATOR, spec, data[path], work / spec.task / "old-theta0"),
                       "residual": lambda: theta0(residual, spec, data[path], work / spec.task / "residual-theta0")}[arm]()
            loaded = loaded or load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
            score = final_score(loaded, ProtocolTask.from_task(data[path]), [adapter])  # the test split, once per arm
            rows[spec.task][arm] = {"adapter": str(adapter) if adapter else None, **score.summary(), **score.per_item()}
            write_json(cache, rows[spec.task][arm], indent=None)
            print(f"{spec.task} {arm}: test {score.accuracy:.3f} (n={score.n})", flush=True)
    return rows


def compare(tasks: dict[str, dict]) -> dict:
    """Per-arm pooled metrics and paired comparisons, per task and pooled over tasks."""
    names = sorted(tasks)
    arms = [a for a in ARMS if all(a in tasks[t] for t in names)]
    out = {"arms": {}, "paired": {}}
    for arm in arms:
        correct = [tasks[t][arm]["correct"] for t in names]
        gold = [tasks[t][arm]["gold"] for t in names]
        acc, acc_ci = bootstrap_average(correct)
        bal, bal_ci = bootstrap_average(correct, gold=gold)
        out["arms"][arm] = {"mean_accuracy": acc, "ci95": list(acc_ci), "mean_balanced_accuracy": bal, "balanced_ci95": list(bal_ci)}
    for a, b in [(a, b) for a, b in PAIRS if a in arms and b in arms]:
        per_task = {}
        for t in names:
            x, y = tasks[t][a], tasks[t][b]
            if x["ids"] != y["ids"]:
                raise SystemExit(f"{t}: arms {a} and {b} scored different items")
            per_task[t] = {"delta_points": 100 * (x["accuracy"] - y["accuracy"]),
                           "mcnemar_p": mcnemar_exact(x["correct"], y["correct"]),
                           "balanced": paired_bootstrap([x["correct"]], [y["correct"]], gold=[x["gold"]]),
                           "discordant": [sum(p and not q for p, q in zip(x["correct"], y["correct"])),
                                          sum(q and not p for p, q in zip(x["correct"], y["correct"]))]}
        pooled_acc = paired_bootstrap([tasks[t][a]["correct"] for t in names], [tasks[t][b]["correct"] for t in names])
        pooled_bal = paired_bootstrap([tasks[t][a]["correct"] for t in names], [tasks[t][b]["correct"] for t in names],
                                      gold=[tasks[t][a]["gold"] for t in names])
        out["paired"][f"{a}-vs-{b}"] = {"per_task": per_task, "pooled_accuracy": pooled_acc, "pooled_balanced_accuracy": pooled_bal}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", type=Path, nargs="+")
    parser.add_argument("--meta", type=Path, default=Path("specs/meta/in_domain.yaml"))
    parser.add_argument("--residual", type=Path, default=Path("runs/meta/in_domain/generator-residual"))
    parser.add_argument("--work", type=Path, default=Path("runs/residual_generator"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/residual-generator/heldout.json"))
    parser.add_argument("--arms", default=",".join(ORDER), help="arms to score now (cached ones are reused)")
    args = parser.parse_args()
    meta = load_meta_spec(args.meta)
    held = {s.stem for s in args.specs} & {p.stem for p in meta.task_paths()}
    if held:
        raise SystemExit(f"{sorted(held)} are tasks of {args.meta}: this study is for tasks held out of it")
    config = json.loads((args.residual / "generator.json").read_text())
    tasks = score_all(args.specs, args.residual, args.work, tuple(args.arms.split(",")))
    report = {"command": "python benchmarks/studies/residual_generator.py " + " ".join(sys.argv[1:]),
              "residual_generator": {"dir": str(args.residual), "mode": config["mode"], "union_artifact": config["union_artifact"],
                                     "union_sha256": config["union_sha256"], "metrics": config["meta"]["metrics"]},
              "tasks": {t: {arm: {k: r[arm][k] for k in ("adapter", "accuracy", "ci95", "n", "answers")} for arm in r}
                        for t, r in tasks.items()},
              **compare(tasks)}
    write_json(args.out, report, indent=1)
    for t, r in tasks.items():
        print(t, " ".join(f"{arm} {r[arm]['accuracy']:.3f}/{r[arm]['answers']['balanced_accuracy']:.3f}" for arm in r))


if __name__ == "__main__":
    main()
