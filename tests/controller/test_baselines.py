"""Reference policies: uniformly random actions from the schema's grids, and a fixed action; both drive a real
episode on the tiny model like the LLM policy does."""

from __future__ import annotations

import random

import pytest
import yaml
from pydantic import ValidationError

from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.policy.reference import FixedPolicy, RandomPolicy, random_action
from degaml.controller.policy.model import canonical
from degaml.specs.model import AdaptConfig
from degaml.strategies.registry import FAMILIES, Action, action_json_schema
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

CONFIG = AdaptConfig()


def test_random_actions_are_valid_and_cover_every_family():
    schema, rng = action_json_schema(), random.Random(0)
    actions = [random_action(schema, rng) for _ in range(200)]
    for a in actions:
        Action.model_validate(a)
    assert {a["strategy"]["family"] for a in actions} == set(FAMILIES)


def test_random_policy_is_seeded_streams_differ_and_tried_actions_are_avoided():
    first = RandomPolicy(0).decide([], CONFIG, seed=3, tried=set())
    assert RandomPolicy(0).decide([], CONFIG, seed=3, tried=set()).action == first.action
    streams = {canonical(RandomPolicy(k).decide([], CONFIG, seed=3, tried=set()).action) for k in range(10)}
    assert len(streams) > 1
    tasks = {canonical(RandomPolicy(0, salt=f"task{k}").decide([], CONFIG, seed=3, tried=set()).action) for k in range(10)}
    assert len(tasks) > 1
    again = RandomPolicy(0).decide([], CONFIG, seed=3, tried={canonical(first.action)})
    assert canonical(again.action) != canonical(first.action)
    assert Action.model_validate_json(first.raw)


def test_fixed_policy_returns_its_action_and_rejects_an_invalid_one():
    action = {"strategy": {"family": "lora_mix", "lambda": 0.5}}
    assert FixedPolicy(action).decide([], CONFIG, seed=0, tried=set()).action == action
    assert FixedPolicy(action).name == "fixed:lora_mix"
    with pytest.raises(ValidationError):
        FixedPolicy({"strategy": {"family": "lora_mix", "lambda": 0.3}})


@pytest.mark.slow
def test_an_episode_runs_with_the_random_policy(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir), adapt={"steps": 2, "policy": "random"})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    store = create_run(tmp_path / "toy.yaml", [], tmp_path / "run")
    assert store.header.policy == "random"
    _, spec = open_run(store.run_dir)
    final = run_adapt(store, spec)
    steps = store.steps()
    assert len(steps) == 2 and all(s.action is not None for s in steps)
    assert canonical(steps[0].action) != canonical(steps[1].action)
    assert final is not None and final.test.n == spec.num_test
