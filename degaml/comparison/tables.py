"""Tables 1 and 2 of the paper from cell records: per task and average accuracy with 95% CIs, Δ rows with a
paired test on the same test items (McNemar exact per task; paired bootstrap over items for the average)."""

from __future__ import annotations

from typing import Any

from degaml.comparison.stats import bootstrap_average, mcnemar_exact, paired_bootstrap
from degaml.evaluation.metrics import wilson_interval

TABLES: dict[str, dict[str, Any]] = {
    "table1": {"title": "Table 1: DeGAML vs the adaptation baselines",
               "rows": ["union_lora", "abmll", "maml", "no_meta_lora", "degaml", "majority"],
               "deltas": [("degaml", "maml"), ("degaml", "abmll"), ("degaml", "no_meta_lora"), ("degaml", "union_lora"),
                          ("degaml", "majority")]},
    "table2": {"title": "Table 2: Base → Generalization → Adaptation",
               "rows": ["base", "generator", "degaml", "majority"],
               "deltas": [("generator", "base"), ("degaml", "generator"), ("degaml", "base"), ("degaml", "majority")]},
}  # `majority` (not in the paper): the support's most common answer everywhere, the answer-prior reference
LABELS = {"base": "Base Model", "generator": "Generalization (θ₀)", "no_meta_lora": "No Meta-Train LoRA",
          "union_lora": "Union Train LoRA", "maml": "MAML (LoRA)", "abmll": "ABMLL", "degaml": "DeGAML-LLM (adapt)",
          "majority": "Support-majority answer (reference)"}


def _correct(records: list[dict]) -> list[bool] | None:
    """Per-item test correctness concatenated over seeds (None if any record has none)."""
    out: list[bool] = []
    for r in records:
        if not r.get("predictions"):
            return None
        out += r["predictions"]["correct"]
    return out


def _row_cell(records: list[dict]) -> dict:
    correct = _correct(records)
    accuracy = sum(r["test"]["accuracy"] for r in records) / len(records)
    if correct is not None:
        ci = wilson_interval(sum(correct), len(correct))
    else:
        ci = tuple(records[0]["test"]["ci95"]) if len(records) == 1 else (None, None)
    return {"accuracy": accuracy, "ci95": list(ci), "n": records[0]["test"]["n"], "seeds": len(records),
            "validation": sum(r["validation"]["accuracy"] for r in records) / len(records),
            "seconds": sum(r.get("seconds", 0.0) for r in records)}


def build_table(name: str, tasks: list[str], records: dict[tuple[str, str], list[dict]]) -> dict[str, Any]:
    """`records[(method, task)]` = one record per seed (deterministic methods repeated to the seed count)."""
    spec = TABLES[name]
    rows: dict[str, dict] = {}
    for method in spec["rows"]:
        row = {t: _row_cell(records[(method, t)]) for t in tasks if records.get((method, t))}
        vectors = [_correct(records[(method, t)]) for t in tasks if records.get((method, t))]
        if len(row) == len(tasks) and all(v is not None for v in vectors):
            point, ci = bootstrap_average(vectors)
            row["avg"] = {"accuracy": sum(c["accuracy"] for c in row.values()) / len(tasks), "ci95": list(ci),
                          "test": "bootstrap over items", "pooled_point": point}
        elif len(row) == len(tasks):
            row["avg"] = {"accuracy": sum(c["accuracy"] for c in row.values()) / len(tasks), "ci95": [None, None]}
        rows[method] = row
    deltas = []
    for a, b in spec["deltas"]:
        entry: dict[str, Any] = {"a": a, "b": b}
        pairs = []
        for t in tasks:
            ra, rb = records.get((a, t)), records.get((b, t))
            if not ra or not rb:
                continue
            va, vb = _correct(ra), _correct(rb)
            cell = {"delta": rows[a][t]["accuracy"] - rows[b][t]["accuracy"]}
            if va is not None and vb is not None and len(va) == len(vb):
                cell |= {"p": mcnemar_exact(va, vb), "test": "McNemar exact"}
                pairs.append((va, vb))
            else:
                cell |= {"p": None, "test": "none (no per-item predictions)"}
            entry[t] = cell
        if len(pairs) == len(tasks):
            entry["avg"] = paired_bootstrap([p[0] for p in pairs], [p[1] for p in pairs]) | {"test": "paired bootstrap"}
        deltas.append(entry)
    return {"table": name, "title": spec["title"], "tasks": tasks, "rows": rows, "deltas": deltas}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def render_markdown(table: dict[str, Any]) -> str:
    cols = table["tasks"] + ["avg"]
    lines = [f"**{table['title']}** — test accuracy % (95% CI); Δ in points (paired p-value)", "",
             "| Method | " + " | ".join(c if c != "avg" else "Avg" for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for method, row in table["rows"].items():
        cells = []
        for c in cols:
            cell = row.get(c)
            if cell is None:
                cells.append("—")
            else:
                lo, hi = cell["ci95"]
                cells.append(_pct(cell["accuracy"]) + (f" ({_pct(lo)}–{_pct(hi)})" if lo is not None else ""))
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    for d in table["deltas"]:
        cells = []
        for c in cols:
            cell = d.get(c)
            if cell is None:
                cells.append("—")
            else:
                p = cell.get("p")
                cells.append(f"{100 * cell['delta']:+.1f}" + (f" (p={p:.3g})" if p is not None else ""))
        lines.append(f"| Δ {LABELS[d['a']]} vs {LABELS[d['b']]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_png(table: dict[str, Any], path) -> None:
    """Grouped bars: one group per task (+ average), one bar per method, 95% CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = table["tasks"] + ["avg"]
    methods = list(table["rows"])
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(cols)), 4))
    for k, method in enumerate(methods):
        row = table["rows"][method]
        xs, ys, err = [], [], [[], []]
        for i, c in enumerate(cols):
            cell = row.get(c)
            if cell is None:
                continue
            acc, (lo, hi) = 100 * cell["accuracy"], cell["ci95"]
            xs.append(i + (k - (len(methods) - 1) / 2) * width)
            ys.append(acc)
            # whiskers are lengths: a bootstrap interval may sit a hair off its point estimate
            err[0].append(max(0.0, acc - 100 * lo) if lo is not None else 0)
            err[1].append(max(0.0, 100 * hi - acc) if hi is not None else 0)
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=LABELS[method])
    ax.set_xticks(range(len(cols)), [c if c != "avg" else "Avg" for c in cols], rotation=20)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(table["title"], fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
