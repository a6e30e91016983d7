"""The time budget: a per-machine cost model (file round trip, corrupt file), actions that do not fit are never
offered or started, an overrun stops cleanly and still scores the accepted chain, the policy sees the budget."""

from __future__ import annotations

import json

import pytest
import yaml

from degaml.cli import main
from degaml.controller.episode.adapt import build_runtime, create_run, open_run, run_adapt
from degaml.controller.episode.budget import episode_budget
from degaml.controller.episode.cost_model import CostModel, Rates, cost_file, read_costs
from degaml.controller.episode.state import PolicyState, user_prompt
from degaml.controller.policy.model import Decision
from degaml.errors import DegamlError
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

CALIBRATE = {"strategy": {"family": "calibrate", "method": "batch"}}


@pytest.fixture
def spec_file(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir),
                        adapt={"steps": 2, "policy": "random", "budget_minutes": 5})
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def seed_costs(only_cheap: str) -> None:
    """Cost-file rates where only `only_cheap` is cheap, under a placeholder key `_run` moves to this machine's key."""
    rates = Rates(score_item=0.001, train_row_step=1000.0, scale={f: 1e6 for f in ("ttt", "tts", "lora_mix", "slot",
                  "support_sft", "tfew", "library_mix", "fewshot")} | {only_cheap: 1.0})
    cost_file().write_text(json.dumps({"version": 1, "entries": {"*": rates.model_dump()}}))


def test_cost_model_round_trips_and_keeps_other_machines(tmp_path):
    path = tmp_path / "costs.json"
    other = CostModel("other-machine", path)
    other.observe_scoring(30.0, 10)
    other.save()
    model = CostModel("this-machine", path)
    model.observe_scoring(12.0, 40)
    model.observe_decision("base", 7.0)
    model.observe_action({"strategy": {"family": "support_sft", "steps": 10, "learning_rate": 1e-4, "batch_size": 4}},
                         60.0, 40, 20)
    model.save()
    again = CostModel("this-machine", path)
    assert again.rates == model.rates and again.rates.train_row_step is not None
    assert CostModel("other-machine", path).rates.score_item == pytest.approx(3.0)
    assert set(read_costs(path).entries) == {"other-machine", "this-machine"}


@pytest.mark.parametrize("text", ["{not json", '{"version": 1, "entries": {"k": {"score_item": "fast"}}}', '{"version": 7}'])
def test_a_corrupt_cost_file_is_one_line_naming_it_and_left_as_it_was(tmp_path, text):
    path = tmp_path / "costs.json"
    path.write_text(text)
    with pytest.raises(DegamlError) as err:
        CostModel("k", path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_text() == text


def test_cli_refuses_a_corrupt_cost_file_with_exit_2_and_no_run(spec_file, tmp_path, capsys):
    cost_file().write_text("{half a file")
    with pytest.raises(SystemExit) as exc:
        main(["adapt", str(spec_file), "--run-dir", str(tmp_path / "run")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(cost_file()) in err
    assert not (tmp_path / "run").exists()


def test_the_state_shows_minutes_left_and_each_familys_estimate():
    state = PolicyState(task="gsm8k", description="", format="numeric", examples=[], baseline=0.2, best=0.2,
                        n_validation=40, step=0, steps_total=2, minutes_left=3.5,
                        family_minutes={"calibrate": 0.4, "support_sft": 6.25}, reserve_minutes=1.5)
    text = user_prompt(state)
    assert "3.5 min left" in text and "1.5 min reserved for the test split" in text
    assert "calibrate 0.4" in text and "support_sft 6.2" in text
    assert PolicyState.from_dict(state.to_dict()) == state  # stored with the decision, read back by the TUI/export


def test_the_test_reserve_counts_no_training_for_support_fitted_steps_before_one_that_read_the_split():
    from degaml.controller.episode.budget import Budget

    costs = CostModel("k")
    costs.rates = Rates(score_item=1.0, train_row_step=10.0)
    budget = Budget(costs, 5, n_validation=40, n_test=100, n_labelled=20, policy="p", decision_prior=1.0)
    sft = {"strategy": {"family": "support_sft", "steps": 10, "learning_rate": 1e-4, "batch_size": 4}}
    ttt = {"strategy": {"family": "ttt", "ttl_steps": 5, "learning_rate": 1e-4, "batch_size": 4, "shuffle_data": True}}
    assert budget.final_seconds([]) == 100  # θ₀ on test
    assert budget.final_seconds([sft]) == 200  # + the validation adapter scored on test: no training
    assert budget.final_seconds([ttt]) == 100 + 100 + 20 * 10  # TTT trains on the test inputs
    assert budget.final_seconds([ttt, sft]) == 400 + 100 + 40 * 10  # after TTT, the SFT step trains again


def _run(spec_file, tmp_path, overrides=(), policy=None):
    store = create_run(spec_file, list(overrides), tmp_path / "run")
    _, spec = open_run(store.run_dir)
    runtime = build_runtime(spec, store)
    if policy is not None:
        runtime.policy = policy
    key = episode_budget(runtime.ctx, runtime.policy, 5).costs.key
    data = json.loads(cost_file().read_text()) if cost_file().exists() else None
    if data and "*" in data["entries"]:
        data["entries"] = {key: data["entries"]["*"]}
        cost_file().write_text(json.dumps(data))
    return store, spec, run_adapt(store, spec, runtime=runtime)


def test_only_actions_that_fit_are_offered_to_the_policy(spec_file, tmp_path):
    seed_costs("calibrate")
    store, spec, final = _run(spec_file, tmp_path)
    families = [s.action["strategy"]["family"] for s in store.steps()]
    assert families and set(families) == {"calibrate"}
    decision = next(e for e in store.events() if e.kind == "decision")
    assert "min left" in decision.messages[1]["content"] and decision.state["family_minutes"]["ttt"] > 60
    assert final is not None and final.test.n == spec.num_test


def test_the_llm_policy_is_constrained_to_actions_that_fit(spec_file, tmp_path):
    seed_costs("calibrate")
    store, _, final = _run(spec_file, tmp_path, ["adapt.policy=base", "adapt.max_new_tokens=200", "adapt.steps=1"])
    assert [s.action["strategy"]["family"] for s in store.steps()] == ["calibrate"]
    assert final is not None


class SlowSecondDecision:
    """Calibrates, then spends (reports) 400 s deciding: the budget is overrun before step 1 can start."""

    name = "slow-test-policy"
    decision_prior_seconds = 0.0

    def decide(self, messages, config, seed, tried, progress=None) -> Decision:
        step = seed - 1234
        action = CALIBRATE if step == 0 else {"strategy": {"family": "calibrate", "method": "contextual"}}
        return Decision(json.dumps(action), action, None, 1, 0.0 if step == 0 else 400.0)


def test_an_overrun_stops_cleanly_and_scores_the_accepted_chain(spec_file, tmp_path, monkeypatch):
    from degaml.controller.episode import rollout
    from degaml.controller.episode.reward import Comparison

    accept = lambda new, old, rule, alpha, weights=None: Comparison(accuracy=0.5, reference=0.4, wins=1, losses=0, p_value=0.0, reward=1)  # noqa: E731
    monkeypatch.setattr(rollout, "compare", accept)  # every candidate is kept: the chain is not empty
    store, spec, final = _run(spec_file, tmp_path, policy=SlowSecondDecision())
    assert [s.step for s in store.steps()] == [0]  # step 1 never started
    assert final is not None and final.chain == [0] and final.test.n == spec.num_test
    assert final.baseline_test is not None  # the chain was replayed on test, θ₀ scored beside it
    assert store.status() == "finished"
    assert any(e.kind == "status" and "budget" in e.message for e in store.events())


def test_a_resumed_run_rebuilds_its_costs_and_elapsed_time_from_its_events(spec_file, tmp_path):
    import threading

    store = create_run(spec_file, [], tmp_path / "run")
    _, spec = open_run(store.run_dir)
    cancel = threading.Event()
    assert run_adapt(store, spec, cancel=cancel, on_event=lambda e: cancel.set() if e.kind == "step" else None) is None
    cost_file().unlink()  # the machine's cost file is gone: what the run measured is in its events
    store, spec = open_run(store.run_dir)
    assert run_adapt(store, spec) is not None
    first, second = [e.state for e in store.events() if e.kind == "decision"]
    # θ₀'s scoring measured far below the 1 s/item prior: the estimate after resume is the measured one
    assert second["family_minutes"]["calibrate"] < 0.2 * 1.2 * spec.num_validation / 60
    assert second["minutes_left"] <= first["minutes_left"]  # the work before the kill still counts
    assert cost_file().is_file()  # and the rebuilt rates are written back
