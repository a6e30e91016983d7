"""benchmarks/studies/heldout_report.py: files of one policy merge, θ₀ comes from the episodes, two policies never mix."""


import pytest

from tests.benchmarks.helpers import load_script


def load():
    return load_script("studies/heldout_report")


def row(correct: str, theta0: str) -> dict:
    return {"test": correct.count("1") / len(correct), "correct": correct, "n_test": len(correct),
            "validation": 0.5, "theta0_test": theta0.count("1") / len(theta0), "theta0_correct": theta0}


def report(sha: str | None, arms: dict) -> dict:
    return {"policy_adapter_sha256": sha, "cells": {"rg/gcd": {"0": arms}}}


def test_merge_derives_theta0_and_renders_the_policy_sha():
    m = load()
    a = report(None, {"random": row("1100", "1000")})
    b = report("ab" * 32, {"policy": row("1000", "1000")})
    cells = m.merge([a, b])
    assert set(cells["rg/gcd"]["0"]) == {"random", "policy", "theta0"}
    assert cells["rg/gcd"]["0"]["theta0"]["agrees_across_arms"] is True
    text = m.render([a, b])
    assert "Policy adapter sha256: abababababab." in text
    assert "| random vs theta0 | 1 | 4 | +25.0 |" in text


def test_policy_rows_of_two_adapters_do_not_merge():
    m = load()
    old = report("aa" * 32, {"policy": row("1000", "1000")})
    new = report("bb" * 32, {"policy": row("1100", "1000")})
    with pytest.raises(SystemExit, match="2 different policy adapters"):
        m.merge([old, new])
    other_arm_only = report("cc" * 32, {"random": row("1100", "1000")})  # a file without policy rows does not count
    assert "policy" in m.merge([new, other_arm_only])["rg/gcd"]["0"]
