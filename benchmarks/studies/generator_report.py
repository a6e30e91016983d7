"""Markdown tables for docs/findings/generator.md from the generator evaluation: validation accuracy of base model, collected
checkpoints and generated adapters (task in training) and the leave-one-task-out table (`benchmarks/studies/generator_eval.py`
→ docs/results/generator.json); reconstruction MSE with its baselines, in training and leave-one-out
(`benchmarks/studies/generator_reconstruction.py` → docs/results/generator_reconstruction.json, when present); what the
encoder sees of each task (`benchmarks/studies/generator_inputs.py` → docs/results/generator_inputs.json, when present).

Usage: python benchmarks/studies/generator_report.py [--report docs/results/generator.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def acc_ci(r: dict) -> str:
    """`65 [55–74]`: accuracy and Wilson 95% CI in whole points (n = 100 makes decimals noise)."""
    lo, hi = r["ci95"]
    return f"{100 * r['accuracy']:.0f} [{100 * lo:.0f}–{100 * hi:.0f}]"


def delta(a: dict, b: dict) -> str:
    d = round(100 * (a["accuracy"] - b["accuracy"]))
    return f"+{d}" if d > 0 else ("0" if d == 0 else f"−{-d}")


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: header, separator, rows."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def in_training_table(tasks: dict) -> str:
    header = ["task", "base model", "collected checkpoints (step: acc %)", "generated θ₀ (support prompts)", "Δ generated − base"]
    rows = [[name, acc_ci(t["base"]), ", ".join(f"{c['step']}: {100 * c['accuracy']:.0f}" for c in t["checkpoints"]),
             acc_ci(t["generated"]), delta(t["generated"], t["base"])] for name, t in tasks.items()]
    return markdown(header, rows)


def leave_one_out_table(tasks: dict) -> str:
    header = ["task", "base model", "generated, task in training", "generated, task **never seen** (leave-one-out)",
              "Δ never seen − base", "MSE on held-out prompt batches of its training tasks (global mean checkpoint)", "training minutes"]
    rows = []
    for name, t in tasks.items():
        loo = t.get("generated_leave_one_out")
        if loo is None:
            rows.append([name, acc_ci(t["base"]), acc_ci(t["generated"]), "not trained yet", "–", "–", "–"])
            continue
        m = t.get("leave_one_out_metrics") or {}
        blind = m.get("prompt_blind_mean_mse", m.get("mean_checkpoint_mse"))
        mse = f"{m['held_out_mse']:.3f} ({blind:.3f})" if "held_out_mse" in m else "–"
        minutes = f"{m['seconds'] / 60:.0f}" if "seconds" in m else "–"
        rows.append([name, acc_ci(t["base"]), acc_ci(t["generated"]), acc_ci(loo), delta(loo, t["base"]), mse, minutes])
    return markdown(header, rows)


def unseen_reconstruction_table(tasks: dict) -> str:
    """The earlier run's leave-one-out reconstruction (generator.json), kept while its generators are not re-run."""
    header = ["never-seen task", "pairs", "generated tokens (its prompts)", "mean checkpoint of the training tasks (prompt-blind)",
              "the task's own mean checkpoint (floor, unknowable)"]
    rows = [[name, str(r["pairs"]), f"{r['generated_mse']:.3f}", f"{r['training_tasks_mean_mse']:.3f}", f"{r['own_mean_mse']:.3f}"]
            for name, t in tasks.items() if (r := t.get("unseen_task_reconstruction")) is not None]
    return markdown(header, rows)


PREDICTORS = [("generator", "generator"), ("prompt_blind_mean", "prompt-blind mean of training tasks"),
              ("retrieval", "retrieval (nearest training task's mean)"), ("finetune_support", "LoRA fine-tuned on labelled support"),
              ("own_task_mean", "task's own mean checkpoint")]


def _cell(row: dict, key: str) -> str:
    return f"{row[key]:.3f}" if key in row else "–"


def reconstruction_in_training_table(recon: dict) -> str:
    rows = recon["in_training"]["per_task"]
    header = ["task (in training)", "pairs", *[label for _, label in PREDICTORS], "retrieval hit rate"]
    body = [[name, str(r["pairs"]), *[_cell(r, key) for key, _ in PREDICTORS], f"{r['retrieval_hit_rate']:.2f}"] for name, r in rows.items()]
    pooled = recon["in_training"]
    body.append(["**all**", str(pooled["pairs"]), *[_cell(pooled, key) for key, _ in PREDICTORS], f"{pooled['retrieval_hit_rate']:.2f}"])
    return markdown(header, body)


def reconstruction_unseen_table(rows: dict, what: str = "never-seen task") -> str:
    """Never-seen tasks (leave-one-out folds or another meta spec's tasks), with the target count: on how
    many tasks the generator is closer to the task's own checkpoints than the prompt-blind mean."""
    header = [what, "pairs", *[label for _, label in PREDICTORS[:-1]], "its own mean checkpoint (floor, unknowable)", "retrieved"]
    body = []
    for name, r in rows.items():
        gen = _cell(r, "generator") + (" †" if "generator_from" in r else "")
        body.append([name, str(r["pairs"]), gen, *[_cell(r, key) for key, _ in PREDICTORS[1:]], ", ".join(r.get("retrieved", []))])
    scored = [r for r in rows.values() if "generator" in r]
    wins = sum(r["generator"] < r["prompt_blind_mean"] for r in scored)
    return markdown(header, body) + (f"\n\nGenerator closer than the prompt-blind mean on {wins} of {len(scored)} tasks."
                                     if scored else "")


def reconstruction_tables(recon: dict) -> str:
    parts = []
    if "in_training" in recon:
        parts.append(reconstruction_in_training_table(recon))
    if recon.get("leave_one_out"):
        parts.append(reconstruction_unseen_table(recon["leave_one_out"]))
    if recon.get("held_out"):
        parts.append(reconstruction_unseen_table(recon["held_out"], f"task of {recon['held_out_meta']} (never in training)"))
    return "\n\n".join(parts)


def inputs_table(inputs: dict) -> str:
    def pair(t: dict, key: str, fmt: str) -> str:
        return f"{t['question'][key]:{fmt}} → {t['spec'][key]:{fmt}}" if key in t["question"] else "–"

    header = ["task", "generator_input", "cut at L tokens: prompt → generator_input", "task identified (hit rate)", "margin"]
    body = [[name, "`" + t["generator_input"].replace("\n", "⏎").replace("|", "\\|") + "`",
             f"{100 * t['question']['truncated']:.0f}% → {100 * t['spec']['truncated']:.0f}%",
             pair(t, "hit_rate", ".2f"), pair(t, "margin", ".3f")] for name, t in inputs["tasks"].items()]
    return markdown(header, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "results" / "generator.json")
    parser.add_argument("--reconstruction", type=Path, default=None,
                        help="only render this generator_reconstruction.py report (e.g. of the broad generator)")
    args = parser.parse_args()
    if args.reconstruction is not None:
        print(reconstruction_tables(json.loads(args.reconstruction.read_text())))
        return
    tasks = json.loads(args.report.read_text())["tasks"]
    print(in_training_table(tasks), end="\n\n")
    print(leave_one_out_table(tasks), end="\n\n")
    if any("unseen_task_reconstruction" in t for t in tasks.values()):
        print(unseen_reconstruction_table(tasks), end="\n\n")
    for name, render in (("generator_reconstruction.json", reconstruction_tables),
                         ("generator_inputs.json", inputs_table)):
        path = args.report.with_name(name)
        if path.is_file():
            print(render(json.loads(path.read_text())), end="\n\n")


if __name__ == "__main__":
    main()
