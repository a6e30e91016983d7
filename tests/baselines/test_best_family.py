"""`best_family` keeps the family with the best validation score; `degaml_random` is the controller with the random
policy, `degaml_strict` the controller keeping a step on any validation gain, `degaml_strict_balanced` on any gain of
validation balanced accuracy."""

from __future__ import annotations

import pytest

from degaml.baselines.best_family import FIXED, fixed_settings
from degaml.baselines.method import RunContext
from degaml.baselines.registry import make_config
from degaml.baselines.runner import fit_method
from degaml.errors import DegamlError
from degaml.protocol import ProtocolTask
from degaml.data import load_task_data
from degaml.specs import load_spec
from degaml.strategies.registry import FAMILIES
from tests.baselines.helpers import write_world


def test_every_fixed_setting_is_a_valid_action_of_its_family():
    settings = fixed_settings(list(FIXED))
    assert [s.family for s in settings] == list(FIXED)
    assert set(FIXED) <= set(FAMILIES)
    assert [s.family for s in fixed_settings(["slot", "slot", "ttt"])] == ["slot", "ttt"]  # duplicates tried once


def test_unknown_family_is_a_one_line_config_error():
    with pytest.raises(DegamlError, match="families"):
        make_config("best_family", "cpu", ["families=[magic]"])


def test_random_policy_variant_runs_the_controller_with_the_random_policy():
    config = make_config("degaml_random", "cpu", [])
    assert config.overrides == ["adapt.policy=random"]
    spec = load_spec("specs/sciq.yaml")
    assert config.policy(spec) == "random"


def test_strict_reward_variant_runs_the_controller_with_the_strict_rule():
    config = make_config("degaml_strict", "cpu", [])
    assert config.overrides == ["adapt.reward=strict"]
    assert config.policy(load_spec("specs/sciq.yaml")) == "default"  # the shipped policy, as the DeGAML row


def test_strict_balanced_variant_compares_validation_balanced_accuracy_and_a_generative_task_refuses_it():
    from degaml.controller.episode.rollout import check_metric

    config = make_config("degaml_strict_balanced", "cpu", [])
    assert config.overrides == ["adapt.reward=strict", "adapt.metric=balanced_acc"]
    spec = load_spec("specs/rg/syllogism.yaml", config.overrides)
    assert (spec.adapt.reward, spec.adapt.metric) == ("strict", "balanced_acc")
    check_metric(spec.adapt.metric, spec.format)  # Yes/No exact-match labels: allowed
    with pytest.raises(DegamlError, match="adapt.metric: balanced_acc needs a multiple-choice or exact-match task"):
        check_metric("balanced_acc", load_spec("specs/gsm8k.yaml").format)
    spec = load_spec("specs/rg/syllogism.yaml", make_config("degaml_balanced_a10", "cpu", []).overrides)
    assert (spec.adapt.reward, spec.adapt.metric, spec.adapt.alpha) == ("paired", "balanced_acc", 0.1)


@pytest.mark.slow
def test_best_family_keeps_the_best_validation_candidate(tmp_path, tiny_model_dir, tiny_loaded, tiny_generator_dir):
    world = write_world(tmp_path / "world", tiny_model_dir)
    ptask = ProtocolTask.from_task(load_task_data(load_spec(world["target"])))
    config = make_config("best_family", "tiny", [])
    fitted = fit_method("best_family", ptask, config, RunContext(tiny_loaded, tmp_path, world["target"],
                                                                generator=str(tiny_generator_dir)))
    tried = [c for c in fitted.info["candidates"] if c["validation"] is not None]
    assert [c["params"]["family"] for c in fitted.info["candidates"]] == ["calibrate", "fewshot"]
    assert fitted.info["chosen"]["family"] == max(tried, key=lambda c: c["validation"])["params"]["family"]
    assert ptask.test_reads == 0


def test_a_spec_with_train_pool_demonstrations_takes_them_from_the_support_under_the_protocol(
        tmp_path, tiny_model_dir, tiny_loaded):
    from degaml.baselines.strategy_row import strategy_context
    from degaml.specs import spec_from_dict
    from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

    spec = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(80)), model=str(tiny_model_dir),
                                       num_fewshot=3, num_train=20))  # demonstrations from the train pool, as RG specs
    ptask = ProtocolTask.from_task(load_task_data(spec))
    sctx = strategy_context(ptask, RunContext(tiny_loaded, tmp_path, None), tmp_path / "start")
    assert sctx.spec.fewshot_from == "support" and sctx.task.fewshot_pool() == ptask.support  # never the train pool
    assert len(sctx.task.fewshot_pool()) >= spec.num_fewshot and ptask.test_reads == 0
