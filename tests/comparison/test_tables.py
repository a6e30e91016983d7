"""Table statistics: the test item is the unit — a row's seeds are averaged per item, an unseeded row repeated to the
seed count weighs as one run, and intervals and paired tests do not shrink with the number of seeds."""

from __future__ import annotations

import random

import pytest

from degaml.comparison.tables import build_table
from degaml.stats import mcnemar_exact, wilson_interval


def record(correct: list[bool], gold: list[str]) -> dict:
    acc = sum(correct) / len(correct)
    return {"test": {"accuracy": acc, "ci95": list(wilson_interval(sum(correct), len(correct))), "n": len(correct)},
            "validation": {"accuracy": acc}, "predictions": {"correct": correct, "gold": gold}}


def world(seeds: int, seeded_runs: list[list[bool]] | None = None):
    rng = random.Random(0)
    n = 120
    gold = [rng.choice("ABCD") for _ in range(n)]
    base = [rng.random() < 0.3 for _ in range(n)]
    theta0 = [rng.random() < 0.45 for _ in range(n)]
    majority = [g == "A" for g in gold]
    runs = seeded_runs or [theta0] * seeds
    records = {}
    for task in ("t1",):
        records[("base", task)] = [record(base, gold)] * seeds  # unseeded: one run repeated to the seed count
        records[("generator", task)] = [record(theta0, gold)] * seeds
        records[("degaml", task)] = [record(r, gold) for r in runs]
        records[("majority", task)] = [record(majority, gold)] * seeds
    return records, base, theta0


def test_repeating_a_run_to_the_seed_count_changes_no_interval_and_no_p_value():
    one, base, theta0 = world(1)
    three, _, _ = world(3)
    t1, t3 = build_table("table2", ["t1"], one), build_table("table2", ["t1"], three)
    for m in t1["rows"]:
        assert t1["rows"][m]["t1"]["ci95"] == t3["rows"][m]["t1"]["ci95"]
        assert t1["rows"][m]["t1"]["accuracy"] == t3["rows"][m]["t1"]["accuracy"]
        assert t1["rows"][m]["avg"]["ci95"] == t3["rows"][m]["avg"]["ci95"]
    for d1, d3 in zip(t1["deltas"], t3["deltas"], strict=True):
        assert d1["t1"]["p"] == d3["t1"]["p"] and d1["t1"]["test"] == "McNemar exact"
    generator_vs_base = next(d for d in t3["deltas"] if (d["a"], d["b"]) == ("generator", "base"))
    assert generator_vs_base["t1"]["p"] == mcnemar_exact(theta0, base)  # on the 120 items, not 360
    assert t3["balanced"]["rows"]["base"]["t1"] == t1["balanced"]["rows"]["base"]["t1"]


def test_seeds_that_disagree_are_averaged_per_item_and_tested_by_paired_bootstrap():
    rng = random.Random(1)
    runs = [[rng.random() < 0.5 for _ in range(120)] for _ in range(3)]
    records, _, _ = world(3, seeded_runs=runs)
    table = build_table("table2", ["t1"], records)
    cell = table["rows"]["degaml"]["t1"]
    assert cell["accuracy"] == pytest.approx(sum(map(sum, runs)) / 360)
    lo, hi = cell["ci95"]
    assert lo < cell["accuracy"] < hi and hi - lo > 0.1  # an interval over 120 items, not 360
    delta = next(d for d in table["deltas"] if (d["a"], d["b"]) == ("degaml", "generator"))
    assert delta["t1"]["test"] == "paired bootstrap (seed-mean per item)" and 0.0 < delta["t1"]["p"] <= 1.0


def test_seeds_on_different_items_are_refused():
    records, _, _ = world(2)
    short = record([True] * 100, ["A"] * 100)
    records[("degaml", "t1")] = [records[("degaml", "t1")][0], short]
    with pytest.raises(ValueError, match="different numbers of test items"):
        build_table("table2", ["t1"], records)
