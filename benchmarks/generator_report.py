"""Markdown tables for docs/results.md from the generator evaluation (`benchmarks/generator_eval.py` →
docs/results/generator.json): validation accuracy of base model, collected checkpoints and generated adapters (task
in training), the leave-one-task-out table (task never seen by collection or generator training), and the
leave-one-out generators' reconstruction MSE on their never-seen task's checkpoints.

Usage: python benchmarks/generator_report.py [--report docs/results/generator.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
              "Δ never seen − base", "MSE on held-out pairs of its training tasks (per-task mean)", "training minutes"]
    rows = []
    for name, t in tasks.items():
        loo = t.get("generated_leave_one_out")
        if loo is None:
            rows.append([name, acc_ci(t["base"]), acc_ci(t["generated"]), "not trained yet", "–", "–", "–"])
            continue
        m = t.get("leave_one_out_metrics") or {}
        mse = f"{m['held_out_mse']:.3f} ({m['mean_checkpoint_mse']:.3f})" if "held_out_mse" in m else "–"
        minutes = f"{m['seconds'] / 60:.0f}" if "seconds" in m else "–"
        rows.append([name, acc_ci(t["base"]), acc_ci(t["generated"]), acc_ci(loo), delta(loo, t["base"]), mse, minutes])
    return markdown(header, rows)


def unseen_reconstruction_table(tasks: dict) -> str:
    header = ["never-seen task", "pairs", "generated tokens (its prompts)", "mean checkpoint of the training tasks (prompt-blind)",
              "the task's own mean checkpoint (floor, unknowable)"]
    rows = [[name, str(r["pairs"]), f"{r['generated_mse']:.3f}", f"{r['training_tasks_mean_mse']:.3f}", f"{r['own_mean_mse']:.3f}"]
            for name, t in tasks.items() if (r := t.get("unseen_task_reconstruction")) is not None]
    return markdown(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "results" / "generator.json")
    args = parser.parse_args()
    tasks = json.loads(args.report.read_text())["tasks"]
    print(in_training_table(tasks), end="\n\n")
    print(leave_one_out_table(tasks), end="\n\n")
    print(unseen_reconstruction_table(tasks))


if __name__ == "__main__":
    main()
