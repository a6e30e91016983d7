"""Tables 1 and 2 of the paper from cell records: per task and average accuracy with 95% CIs, Δ rows with a
paired test on the same test items (McNemar exact per task; paired bootstrap over items for the average). The unit is
the test item: a row's seeds are averaged per item (an unseeded row counts once, however many seeds the table has).

A balanced-accuracy companion (degaml.stats.answers) has the same rows and Δ rows, with paired bootstraps, on the
classification-like tasks whose cells all carry predicted and gold answers: a gain in accuracy that leaves balanced
accuracy flat is a shift of the answer prior, not reading the task."""

from __future__ import annotations

from typing import Any

from degaml.stats import bootstrap_average, mcnemar_exact, paired_bootstrap, wilson_interval
from degaml.stats.answers import classification_like

HELDOUT_ROWS = ["base", "generator", "degaml", "majority", "calibrate_contextual", "calibrate_batch",
                "calibrate_support_bias", "calibrate_pmi", "fewshot_random", "fewshot_nearest", "tfew", "library_mix",
                "best_source", "no_meta_lora", "union_lora", "best_family", "degaml_random", "degaml_strict",
                "degaml_strict_balanced", "degaml_balanced_a10"]
TABLES: dict[str, dict[str, Any]] = {
    "table1": {"title": "Table 1: DeGAML vs the adaptation baselines",
               "rows": ["union_lora", "abmll", "maml", "no_meta_lora", "degaml", "majority"],
               "deltas": [("degaml", "maml"), ("degaml", "abmll"), ("degaml", "no_meta_lora"), ("degaml", "union_lora"),
                          ("degaml", "majority")]},
    "table2": {"title": "Table 2: Base → Generalization → Adaptation",
               "rows": ["base", "generator", "degaml", "majority"],
               "deltas": [("generator", "base"), ("degaml", "generator"), ("degaml", "base"), ("degaml", "majority")]},
    "heldout": {"title": "Held-out tasks: every row a practitioner could run, at the same labelled budget",
                "rows": HELDOUT_ROWS,
                "deltas": [(row, "base") for row in HELDOUT_ROWS if row != "base"]
                + [(row, "majority") for row in HELDOUT_ROWS if row not in ("base", "majority")]
                + [("degaml", "generator"), ("degaml", "best_family"), ("degaml", "degaml_random"),
                   ("degaml_strict", "generator"), ("degaml_strict", "best_family"),
                   ("degaml_strict_balanced", "generator"), ("degaml_strict_balanced", "best_family"),
                   ("degaml_strict_balanced", "degaml_strict"), ("degaml_balanced_a10", "generator"),
                   ("degaml_balanced_a10", "best_family"), ("degaml_balanced_a10", "degaml_strict"),
                   ("degaml", "union_lora"), ("degaml_strict", "union_lora"), ("degaml_balanced_a10", "union_lora")]},
}  # `majority` (not in the paper): the support's most common answer everywhere, the answer-prior reference
LABELS = {"base": "Base Model", "generator": "Generalization (θ₀)", "no_meta_lora": "No Meta-Train LoRA",
          "union_lora": "Union Train LoRA", "maml": "MAML (LoRA)", "abmll": "ABMLL", "degaml": "DeGAML-LLM (adapt)",
          "majority": "Support-majority answer (reference)", "calibrate_contextual": "Contextual calibration",
          "calibrate_batch": "Batch calibration", "calibrate_support_bias": "Support-fitted bias (bias-only control)",
          "calibrate_pmi": "PMI scoring", "fewshot_random": "Few-shot (random demos)",
          "fewshot_nearest": "Few-shot (nearest demos)", "tfew": "T-Few-style LoRA training",
          "library_mix": "LoRA-library composition (LoraHub)", "best_source": "Best single source LoRA",
          "best_family": "Best fixed family on validation (from θ₀)", "degaml_random": "DeGAML, random policy",
          "degaml_strict": "DeGAML, strict reward (any validation gain)",
          "degaml_strict_balanced": "DeGAML, strict reward on balanced accuracy",
          "degaml_balanced_a10": "DeGAML, paired reward on balanced accuracy, α = 0.1",
          "degaml_acc_a05": "DeGAML, paired reward on accuracy, α = 0.05 (the rule before 2026-12-08)"}


def _correct(records: list[dict]) -> list[float] | None:
    """Per-item test score: the item's correctness averaged over the seeds (None if any record has none).

    The seeds of a row are runs of a method on the *same* test items (an unseeded row is its one run repeated), so
    the unit of every interval and paired test is the item, never item × seed: concatenating seeds would count
    each item (and a repeated run) several times and shrink intervals and p-values by a factor ~√seeds."""
    vectors = []
    for r in records:
        if not r.get("predictions"):
            return None
        vectors.append(r["predictions"]["correct"])
    if len({len(v) for v in vectors}) != 1:
        raise ValueError(f"the seeds of one row scored different numbers of test items: {[len(v) for v in vectors]}")
    return [sum(float(v[i]) for v in vectors) / len(vectors) for i in range(len(vectors[0]))]


def _binary(scores: list[float]) -> bool:
    return all(x in (0.0, 1.0) for x in scores)


def _row_cell(records: list[dict]) -> dict:
    correct = _correct(records)
    accuracy = sum(r["test"]["accuracy"] for r in records) / len(records)
    if correct is not None and _binary(correct):
        ci = wilson_interval(int(sum(correct)), len(correct))
    elif correct is not None:  # seeds disagree on some items: bootstrap over items of the seed-mean score
        ci = bootstrap_average([correct])[1]
    else:
        ci = tuple(records[0]["test"]["ci95"]) if len(records) == 1 else (None, None)
    return {"accuracy": accuracy, "ci95": list(ci), "n": records[0]["test"]["n"], "seeds": len(records),
            "validation": sum(r["validation"]["accuracy"] for r in records) / len(records),
            "seconds": sum(r.get("seconds", 0.0) for r in records)}


def _paired_cell(va: list[float], vb: list[float]) -> dict[str, Any]:
    """Exact McNemar when both rows are 0/1 per item (one run, or seeds that agree); else a paired bootstrap over
    items of the seed-mean scores."""
    if _binary(va) and _binary(vb):
        return {"p": mcnemar_exact([bool(x) for x in va], [bool(x) for x in vb]), "test": "McNemar exact"}
    return {"p": paired_bootstrap([va], [vb])["p"], "test": "paired bootstrap (seed-mean per item)"}


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
                cell |= _paired_cell(va, vb)
                pairs.append((va, vb))
            else:
                cell |= {"p": None, "test": "none (no per-item predictions)"}
            entry[t] = cell
        if len(pairs) == len(tasks):
            entry["avg"] = paired_bootstrap([p[0] for p in pairs], [p[1] for p in pairs]) | {"test": "paired bootstrap"}
        deltas.append(entry)
    table = {"table": name, "title": spec["title"], "tasks": tasks, "rows": rows, "deltas": deltas}
    balanced = build_balanced(spec, tasks, records)
    return table | ({"balanced": balanced} if balanced else {})


def _gold(records: list[dict]) -> list | None:
    """The test items' gold answers (the same items in every seed; None if any record lacks them)."""
    golds = [(r.get("predictions") or {}).get("gold") for r in records]
    if not all(golds):
        return None
    if any(g != golds[0] for g in golds):
        raise ValueError("the seeds of one row scored different test items (their gold answers differ)")
    return golds[0]


def build_balanced(spec: dict[str, Any], tasks: list[str], records: dict[tuple[str, str], list[dict]]) -> dict | None:
    """The balanced-accuracy companion over the tasks where every row's cells carry gold answers and the gold
    answers are classification-like (None when there is no such task)."""
    usable = []
    for t in tasks:
        cells = [records.get((m, t)) for m in spec["rows"]]
        golds = [_gold(c) if c else None for c in cells]
        if all(g is not None for g in golds) and all(_correct(c) is not None for c in cells) and classification_like(golds[0]):
            usable.append(t)
    if not usable:
        return None
    vec = {(m, t): (_correct(records[(m, t)]), _gold(records[(m, t)])) for m in spec["rows"] for t in usable}
    rows: dict[str, dict] = {}
    for m in spec["rows"]:
        row = {}
        for t in usable:
            point, ci = bootstrap_average([vec[(m, t)][0]], gold=[vec[(m, t)][1]])
            row[t] = {"balanced_accuracy": point, "ci95": list(ci)}
        point, ci = bootstrap_average([vec[(m, t)][0] for t in usable], gold=[vec[(m, t)][1] for t in usable])
        rows[m] = row | {"avg": {"balanced_accuracy": point, "ci95": list(ci)}}
    deltas = []
    for a, b in spec["deltas"]:
        entry: dict[str, Any] = {"a": a, "b": b}
        for t in usable:
            entry[t] = paired_bootstrap([vec[(a, t)][0]], [vec[(b, t)][0]], gold=[vec[(a, t)][1]]) | {"test": "paired bootstrap"}
        entry["avg"] = paired_bootstrap([vec[(a, t)][0] for t in usable], [vec[(b, t)][0] for t in usable],
                                        gold=[vec[(a, t)][1] for t in usable]) | {"test": "paired bootstrap"}
        deltas.append(entry)
    return {"tasks": usable, "rows": rows, "deltas": deltas}


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
    if table.get("balanced"):
        lines += ["", *_balanced_markdown(table["balanced"])]
    return "\n".join(lines) + "\n"


def _balanced_markdown(balanced: dict[str, Any]) -> list[str]:
    cols = balanced["tasks"] + ["avg"]
    lines = ["Balanced accuracy % (95% CI; mean recall over gold answers) on the classification-like tasks; "
             "Δ in points (paired bootstrap p-value)", "",
             "| Method | " + " | ".join(c if c != "avg" else "Avg" for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for method, row in balanced["rows"].items():
        cells = [f"{_pct(row[c]['balanced_accuracy'])} ({_pct(row[c]['ci95'][0])}–{_pct(row[c]['ci95'][1])})" for c in cols]
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    for d in balanced["deltas"]:
        cells = [f"{100 * d[c]['delta']:+.1f} (p={d[c]['p']:.3g})" for c in cols]
        lines.append(f"| Δ {LABELS[d['a']]} vs {LABELS[d['b']]} | " + " | ".join(cells) + " |")
    return lines


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
