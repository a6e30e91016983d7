"""The strategy registry: which families can run on a task, and policies never offered the others."""

from __future__ import annotations

from degaml.controller.policy.action_language import all_actions
from degaml.controller.policy.reference import RandomPolicy, unavailable_actions
from degaml.specs import spec_from_dict
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import FAMILIES, unavailable_families
from tests.conftest import mc_rows, mc_spec_dict, numeric_rows, numeric_spec_dict, write_jsonl


def test_families_that_cannot_run_are_named_from_the_spec(tmp_path):
    mc = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))))
    num = spec_from_dict(numeric_spec_dict(write_jsonl(tmp_path / "n.jsonl", numeric_rows(40))))
    assert unavailable_families(mc) == {"library_mix"}  # no adapt.library
    assert unavailable_families(num) == {"calibrate", "tfew", "library_mix"}
    with_library = mc.model_copy(update={"adapt": mc.adapt.model_copy(update={"library": "specs/meta/in_domain.yaml"})})
    assert unavailable_families(with_library) == frozenset()
    assert unavailable_families(num) < set(FAMILIES)


def test_random_policy_never_draws_an_unavailable_family(tmp_path):
    num = spec_from_dict(numeric_spec_dict(write_jsonl(tmp_path / "n.jsonl", numeric_rows(40))))
    excluded = unavailable_actions(num)
    assert excluded and len(excluded) < len(all_actions())
    policy = RandomPolicy(salt="t")
    families = {policy.decide([], AdaptConfig(), seed=s, tried=excluded).action["strategy"]["family"] for s in range(200)}
    assert families.isdisjoint({"calibrate", "tfew", "library_mix"})
    assert len(families) == len(FAMILIES) - 3  # every runnable family is still drawn
