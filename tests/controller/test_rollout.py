"""Cumulative episodes (paper Algorithm 2: θ_{t+1} = θ_t + a_t): each action starts from the accepted configuration,
prediction-time actions stay on top of later weight actions, the chain is replayed on test, resume keeps the state."""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.policy.reference import FixedPolicy
from degaml.controller.store.events import BaselineEvent, Score
from degaml.controller.policy.model import Decision
from degaml.controller.episode.rollout import Configuration, Rollout
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

SFT = {"strategy": {"family": "support_sft", "steps": 10, "learning_rate": 1e-3, "batch_size": 4}}
SFT2 = {"strategy": {"family": "support_sft", "steps": 10, "learning_rate": 3e-4, "batch_size": 4}}
SLOT = {"strategy": {"family": "slot", "times": 1, "learning_rate": 0.01}}



def replay_test(rollout, config, *args, **kwargs):
    """`rollout.replay` on the test split, inside the final scoring's release of its seal (as the episode does)."""
    with rollout.ctx.task.test.released("final scoring"):
        return rollout.replay(config, "test", *args, **kwargs)

def everything_wrong(ctx) -> Configuration:
    """θ₀'s configuration with every validation item wrong (so any candidate that gets one right is kept, strict)."""
    n = len(ctx.task.validation)
    return Configuration(adapter=str(ctx.initial_adapter()), accuracy=0.0, correct="0" * n)


@pytest.mark.slow
def test_weight_actions_build_on_the_accepted_adapter(mc_context, tmp_path):
    rollout = Rollout(mc_context, "strict", 0.05)
    first = rollout.step(SFT, everything_wrong(mc_context), 0, tmp_path / "s0")
    assert first.reward == 1 and first.candidate.chain == [0] and first.candidate.predictor is None
    second = rollout.step(SFT2, first.candidate, 1, tmp_path / "s1")
    assert f"from {first.candidate.adapter.split('/')[-1]}" in second.outcome["log"][0]  # started from step 0's adapter
    assert second.comparison.reference == first.candidate.accuracy
    assert second.candidate.chain == [0, 1] and second.candidate.actions == [SFT, SFT2]
    assert "θ₀ → step 0 support_sft(" in second.candidate.describe()


@pytest.mark.slow
def test_a_slot_predictor_is_re_run_on_a_later_adapter(mc_context, tmp_path):
    slot = SLOT
    rollout = Rollout(mc_context, "strict", 0.05)
    on_theta0 = rollout.step(slot, everything_wrong(mc_context), 0, tmp_path / "s0")
    config = on_theta0.candidate
    assert config.predictor == slot and config.adapter == str(mc_context.initial_adapter())
    after = rollout.step(SFT, config, 1, tmp_path / "s1")
    assert [p["family"] for p in after.outcome["parts"]] == ["support_sft", "slot"]
    assert after.candidate.predictor == slot and after.candidate.adapter != config.adapter
    test, reverted = replay_test(rollout, after.candidate, tmp_path / "replay", mc_context.initial_adapter())
    assert not reverted and test.family == "slot" and test.result.n == len(mc_context.task.test)


class Script:
    """A policy that plays a fixed list of actions, one per decision (an input to the episode, like FixedPolicy)."""

    def __init__(self, actions):
        self.actions, self.calls = list(actions), 0

    def decide(self, messages, config, seed, tried, progress=None):
        action = self.actions[min(self.calls, len(self.actions) - 1)]
        self.calls += 1
        return Decision(json.dumps(action), action, None, 1, 0.0)


@pytest.fixture
def spec_file(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir),
                        adapt={"steps": 2, "policy": "base", "reward": "strict"})
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_cumulative_episode_resumes_from_the_stored_configuration(spec_file, tmp_path):
    from degaml.controller.episode.adapt import build_runtime

    store = create_run(spec_file, [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    runtime = build_runtime(spec, store)
    runtime.policy = Script([SFT, SFT2])
    n = len(runtime.ctx.task.validation)
    store.acquire()
    store.append(BaselineEvent(adapter=str(runtime.ctx.initial_adapter()), validation=Score(accuracy=0.0, ci95=(0.0, 0.1), n=n),
                               seconds=0.0, correct="0" * n))  # a θ₀ every action beats (strict rule)
    store.release()
    cancel = threading.Event()
    assert run_adapt(store, spec, runtime, cancel=cancel, on_event=lambda e: cancel.set() if e.kind == "step" else None) is None
    (first,) = store.steps()
    assert first.reward == 1 and first.best_step == 0 and first.configuration["chain"] == [0]
    store, spec = open_run(store.run_dir)
    runtime.policy = Script([SFT2])
    final = run_adapt(store, spec, runtime)
    second = store.steps()[1]
    # step 1 started from step 0's configuration (compared on balanced accuracy: `adapt.metric: auto` on an MC task)
    assert second.comparison["reference"] == pytest.approx(first.configuration["balanced_accuracy"])
    assert first.configuration["balanced_accuracy"] != first.accuracy
    step0_adapter = first.configuration["adapter"].split("/")[-1]
    assert f"from {step0_adapter}" in second.outcome["log"][0]
    assert final.chain == [s.step for s in store.steps() if s.reward == 1]
    assert final.test.n == spec.num_test and final.baseline_test is not None and final.reward_rule == "strict"
    assert len(final.test.correct) == len(final.baseline_test.correct) == spec.num_test  # both paired on test items
    assert final.reverted is False and final.failures == 0


def test_paired_rule_keeps_theta0_when_nothing_is_significant(spec_file, tmp_path):
    store = create_run(spec_file, ["adapt.reward=paired", "adapt.steps=1"], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    from degaml.controller.episode.adapt import build_runtime

    runtime = build_runtime(spec, store)
    runtime.policy = FixedPolicy({"strategy": {"family": "lora_mix", "lambda": 1.0}})  # θ₀ unchanged: no discordant item
    final = run_adapt(store, spec, runtime)
    (step,) = store.steps()
    assert step.reward == 0 and step.comparison["wins"] == step.comparison["losses"] == 0
    assert final.best_step is None and final.chain == [] and final.baseline_test is None
    baseline = next(e for e in store.events() if e.kind == "baseline")
    assert baseline.noise["n"] == len(baseline.correct) == spec.num_validation


@pytest.mark.slow
def test_failed_outcomes_are_never_cached_and_reverts_on_test_are_flagged(mc_context, tmp_path, monkeypatch):
    from degaml.controller.episode.outcome_cache import OutcomeCache
    from degaml.controller.policy.rest_em import transition
    from degaml.strategies import registry
    from degaml.strategies.base import Outcome, StrategyError

    real = registry.RUNNERS["support_sft"]
    rollout, cache = Rollout(mc_context, "strict", 0.05), OutcomeCache(tmp_path / "outcomes")

    def expected_failure(params, ctx, split):
        raise StrategyError("no labelled support (simulated)")

    monkeypatch.setitem(registry.RUNNERS, "support_sft", expected_failure)
    failed = transition(rollout, SFT, everything_wrong(mc_context), 0, cache, "g")
    assert failed.candidate is None and failed.reward == 0 and len(cache) == 0  # a failure is not an outcome to replay
    monkeypatch.setitem(registry.RUNNERS, "support_sft", real)
    kept = transition(rollout, SFT, everything_wrong(mc_context), 0, cache, "g")
    assert kept.reward == 1 and len(cache) == 1

    def reverts_on_test(params, ctx, split):
        out = real(params, ctx, split)
        if split == "test":  # e.g. the loss diverged on the test inputs: the starting adapter is scored instead
            return Outcome(out.family, out.params, split, ok=False, accuracy=out.accuracy, result=out.result,
                           artifact=None, error="loss diverged (simulated)")
        return out

    monkeypatch.setitem(registry.RUNNERS, "support_sft", reverts_on_test)
    outcome, reverted = replay_test(rollout, kept.candidate, tmp_path / "replay", mc_context.initial_adapter())
    assert reverted and outcome.result.n == len(mc_context.task.test)


@pytest.mark.parametrize("family,kept", [("slot", True), ("calibrate", True), ("fewshot", True), ("tts", False)])
def test_a_weight_step_keeps_only_predictors_that_depend_on_the_adapter(family, kept):
    from degaml.controller.episode.rollout import next_predictor

    predictor = {"strategy": {"family": family}}
    weight = {"strategy": {"family": "tfew"}}
    assert (next_predictor(predictor, weight, weight=True) == predictor) is kept
    assert next_predictor(predictor, {"strategy": {"family": "calibrate"}}, weight=False)["strategy"]["family"] == "calibrate"


@pytest.mark.slow
def test_the_test_replay_scores_the_adapter_validation_chose_for_support_fitted_steps(mc_context, tmp_path, monkeypatch):
    from degaml.strategies import registry

    rollout = Rollout(mc_context, "strict", 0.05)
    kept = rollout.step(SFT, everything_wrong(mc_context), 0, tmp_path / "s0")
    artifact = kept.candidate.adapter
    retrained, _ = replay_test(rollout, kept.candidate, tmp_path / "retrain", mc_context.initial_adapter())
    real = registry.RUNNERS["support_sft"]

    def no_training(params, ctx, split):
        raise AssertionError("support_sft trained again on the test replay")

    monkeypatch.setitem(registry.RUNNERS, "support_sft", no_training)
    reused, reverted = replay_test(rollout, kept.candidate, tmp_path / "reuse", mc_context.initial_adapter(),
                                      fitted={0: artifact})
    assert not reverted and str(reused.artifact) == artifact and "reused" in reused.log[0]
    # the same adapter as a fresh training from the same seed: the same test predictions
    assert [p.correct for p in reused.result.predictions] == [p.correct for p in retrained.result.predictions]
    monkeypatch.setitem(registry.RUNNERS, "support_sft", real)
    ttt = {"strategy": {"family": "ttt", "ttl_steps": 5, "learning_rate": 1e-4, "batch_size": 2, "shuffle_data": False}}
    chain = kept.candidate.model_copy(update={"chain": [0, 1], "actions": [ttt, SFT]})
    calls = []

    def counted(params, ctx, split):
        calls.append(split)
        return real(params, ctx, split)

    monkeypatch.setitem(registry.RUNNERS, "support_sft", counted)
    replay_test(rollout, chain, tmp_path / "after-ttt", mc_context.initial_adapter(), fitted={1: artifact})
    assert calls == ["test"]  # after a step that read the test inputs, a support-fitted step trains again


@pytest.mark.slow
def test_a_calibration_step_is_kept_only_on_a_significant_paired_gain(mc_context, tmp_path):
    calibrate = {"strategy": {"family": "calibrate", "method": "batch"}}
    reference = everything_wrong(mc_context)  # any item calibration gets right is a win, none a loss
    strict = Rollout(mc_context, "strict", 0.05).step(calibrate, reference, 0, tmp_path / "strict")
    wins = strict.comparison.wins
    assert wins >= 1 and strict.comparison.losses == 0 and strict.reward == 1  # an accuracy gain: strict keeps it
    p = strict.comparison.p_value  # exact one-sided McNemar of wins-vs-0: 0.5 ** wins
    assert p == pytest.approx(0.5 ** wins)
    below = Rollout(mc_context, "paired", alpha=p / 2).step(calibrate, reference, 0, tmp_path / "below")
    above = Rollout(mc_context, "paired", alpha=min(1.0, p * 2)).step(calibrate, reference, 0, tmp_path / "above")
    assert below.comparison.wins == wins and below.reward == 0  # the same gain, not significant at α = p/2: dropped
    assert above.reward == 1 and above.candidate.predictor == calibrate  # significant at α = 2p: kept as the predictor
