"""The split discipline, enforced: with a TaskData that records every read (degaml.data.guard), an adaptation
episode running every strategy family, a ReST^EM E-step and `degaml strategy run` on validation must not read any
test item before the final scoring, nor any label except inside the evaluator.
"""

from __future__ import annotations

import json

import pytest
import yaml

import degaml.controller.policy.estep as estep
import degaml.controller.policy.rest_em as rest_em
import degaml.data as data_pkg
from degaml.cli import main
from degaml.controller.episode.adapt import create_run, open_run, run_adapt
from degaml.controller.policy.reference import FixedPolicy, RandomPolicy
from degaml.controller.episode.episode import Runtime
from degaml.controller.episode.outcome_cache import OutcomeCache
from degaml.controller.policy.model import Decision
from degaml.data import load_task_data
from degaml.data.guard import AccessLog, guard_task_data
from degaml.data.seal import ProtocolError
from degaml.generator.sampler import AdapterSampler
from degaml.specs.meta import PolicyRecipe
from degaml.strategies.base import StrategyContext
from tests.conftest import mc_rows, mc_spec_dict, numeric_rows, numeric_spec_dict, write_jsonl

ACTIONS = [  # every family, and both kinds of TTS combination (per-item confidences, embedding routers)
    {"strategy": {"family": "ttt", "ttl_steps": 5, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True}},
    {"strategy": {"family": "tts", "num_prompt_batches": 2, "method": "max_confidence"}},
    {"strategy": {"family": "tts", "num_prompt_batches": 2, "method": "avg_sim_score"}},
    {"strategy": {"family": "slot", "times": 1, "learning_rate": 0.01}},
    {"strategy": {"family": "lora_mix", "lambda": 0.5}},
]


class ScriptedPolicy:
    """Step t → ACTIONS[t] (the episode's step seed is spec.seed + t)."""

    def __init__(self, base_seed: int) -> None:
        self.actions = [FixedPolicy(a).action for a in ACTIONS]
        self.base_seed = base_seed

    def decide(self, messages, config, seed, tried, progress=None) -> Decision:
        action = self.actions[seed - self.base_seed]
        return Decision(json.dumps(action), action, None, 1, 0.0)


def _spec_dict(fmt: str, tmp_path, tiny_model_dir, tiny_generator_dir, **extra) -> dict:
    if fmt == "multiple_choice":
        return mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir),
                            generator=str(tiny_generator_dir), **extra)
    return numeric_spec_dict(write_jsonl(tmp_path / "num.jsonl", numeric_rows(40)), model=str(tiny_model_dir),
                             generator=str(tiny_generator_dir), **extra)


def _no_leak(log: AccessLog) -> None:
    leaks = log.label_reads(scoring=False)
    assert not leaks, f"labels read outside the evaluator: {leaks[:5]}"
    assert log.label_reads(scoring=True), "the evaluator's label reads were not seen: is the guard wired?"


@pytest.mark.parametrize("fmt", ["multiple_choice", "numeric"])
@pytest.mark.slow
def test_an_episode_reads_test_only_in_the_final_scoring_and_labels_only_in_the_evaluator(
        fmt, tmp_path, tiny_loaded, tiny_encoder, tiny_model_dir, tiny_generator_dir):
    spec_dict = _spec_dict(fmt, tmp_path, tiny_model_dir, tiny_generator_dir, adapt={"steps": len(ACTIONS), "policy": "random"})
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec_dict))
    store = create_run(tmp_path / "spec.yaml", [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    log = AccessLog()
    task = guard_task_data(load_task_data(spec), log)
    sampler = AdapterSampler.load(tiny_generator_dir, store.run_dir / "adapters", encoder=tiny_encoder)
    runtime = Runtime(StrategyContext(tiny_loaded, spec, task, sampler, store.run_dir / "work", seed=spec.seed),
                      ScriptedPolicy(spec.seed))

    def on_event(event) -> None:
        if event.kind == "step":
            log.mark(f"step {event.step}")

    final = run_adapt(store, spec, runtime=runtime, on_event=on_event)
    steps = store.steps()
    assert final is not None and [s.action["strategy"]["family"] for s in steps] == [a["strategy"]["family"] for a in ACTIONS]
    assert final.test.n == spec.num_test
    last_step = log.marks[f"step {len(ACTIONS) - 1}"]
    test_reads = log.test_reads()
    assert test_reads, "the final scoring's test reads were not seen: is the guard wired?"
    early = [a for a in test_reads if a.index < last_step]
    assert not early, f"test items read before the final scoring: {early[:5]}"
    _no_leak(log)


@pytest.mark.slow
def test_a_rest_em_e_step_never_reads_test_items_or_labels_outside_the_evaluator(
        tmp_path, tiny_loaded, tiny_encoder, tiny_model_dir, tiny_generator_dir, monkeypatch):
    from degaml.specs import spec_from_dict

    spec = spec_from_dict(_spec_dict("multiple_choice", tmp_path, tiny_model_dir, tiny_generator_dir))
    log = AccessLog()
    monkeypatch.setattr(estep, "load_task_data", lambda s, on_skip=None: guard_task_data(load_task_data(s), log))
    sampler = AdapterSampler.load(tiny_generator_dir, tmp_path / "adapters", encoder=tiny_encoder)
    recipe = PolicyRecipe(episodes_per_task=1, steps_per_episode=2, samples_per_state=2, validation_items=8)
    ctx = rest_em.task_context(tiny_loaded, spec, sampler, recipe, tmp_path / "work")
    records = rest_em.rollout_task(ctx, RandomPolicy(salt="e-step"), recipe, OutcomeCache(tmp_path / "cache"), "g", 0, lambda _: None)
    assert len(records) == 4
    assert not log.test_reads()
    _no_leak(log)


@pytest.mark.parametrize("action", [ACTIONS[0], ACTIONS[1], ACTIONS[3]], ids=["ttt", "tts", "slot"])
@pytest.mark.slow
def test_strategy_run_on_validation_never_reads_test_items_or_labels_outside_the_evaluator(
        action, tmp_path, tiny_model_dir, tiny_generator_dir, monkeypatch, capsys):
    spec_dict = _spec_dict("numeric", tmp_path, tiny_model_dir, tiny_generator_dir)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec_dict))
    log = AccessLog()
    real = data_pkg.load_task_data
    monkeypatch.setattr(data_pkg, "load_task_data", lambda s, on_skip=None: guard_task_data(real(s, on_skip), log))
    with pytest.raises(SystemExit) as info:
        main(["strategy", "run", str(tmp_path / "spec.yaml"), "--action", json.dumps(action["strategy"]),
              "--split", "validation", "--work-dir", str(tmp_path / "work")])
    assert info.value.code in (0, 1), capsys.readouterr().err  # 1: the strategy failed (reverted) — still scored
    assert not log.test_reads()
    _no_leak(log)


def test_the_guard_catches_a_strategy_that_peeks(mc_context, monkeypatch):
    """The checks above can fail: a strategy reading a validation label is logged; one reading a test item is stopped
    by the seal before it reads anything (and logged too, where the test split is released)."""
    from degaml.strategies.registry import RUNNERS, Action, run_strategy

    log = AccessLog()
    ctx = StrategyContext(mc_context.loaded, mc_context.spec, guard_task_data(mc_context.task, log), mc_context.sampler,
                          mc_context.work_dir, seed=0)
    real = RUNNERS["lora_mix"]

    def peeking(params, ctx, split):
        _ = ctx.examples(split)[0].answer
        if peek_test:
            _ = ctx.task.test[0].question
        return real(params, ctx, split)

    monkeypatch.setitem(RUNNERS, "lora_mix", peeking)
    action = Action.model_validate(ACTIONS[-1]).strategy
    peek_test = False
    assert run_strategy(action, ctx, "validation").ok
    assert [(a.split, a.field) for a in log.label_reads(scoring=False)] == [("validation", "answer")]
    peek_test = True
    with pytest.raises(ProtocolError, match="test split is read only by the final scoring"):
        run_strategy(action, ctx, "validation")  # a bug, not a strategy failure: it stops the run
    assert log.test_reads() == []
    with ctx.task.test.released("a release around a peeking strategy"):
        run_strategy(action, ctx, "validation")
    assert [(a.split, a.field) for a in log.test_reads()] == [("test", "question")]
