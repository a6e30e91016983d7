"""The shipped default policy adapter: present with a manifest whose sha256 match, picked by `adapt.policy: default`."""

from __future__ import annotations

import hashlib
import json

import pytest

from degaml.controller.policy.model import SHIPPED_POLICY, resolve_policy

pytestmark = pytest.mark.skipif(not (SHIPPED_POLICY / "manifest.json").is_file(), reason="no shipped policy in this checkout")


def test_manifest_hashes_match_the_files_and_record_how_it_was_made():
    manifest = json.loads((SHIPPED_POLICY / "manifest.json").read_text())
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((SHIPPED_POLICY / name).read_bytes()).hexdigest() == digest, name
    assert manifest["command"].startswith("degaml policy train ")
    assert manifest["iterations"] and all("reward_rate" in it for it in manifest["iterations"])
    held_out = {"gsm8k", "rg_gcd", "rg_word_sorting", "rg_syllogism", "rg_binary_alternation", "breast_cancer", "digits"}
    assert set(manifest["tasks"]).isdisjoint(held_out)  # the tasks the policy is evaluated on (benchmarks/studies/heldout_compare.py)


def test_default_resolves_to_the_shipped_policy_and_base_to_none():
    assert resolve_policy("default") == SHIPPED_POLICY
    assert resolve_policy("base") is None
