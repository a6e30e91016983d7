"""The policy's observation: the action space described from the strategies' JSON Schema, history, budget."""

from __future__ import annotations

from degaml.controller.episode.state import HistoryItem, PolicyState, answer_profile, describe_action_space, render_messages
from degaml.strategies.registry import FAMILIES, Action, action_json_schema


def state(**extra) -> PolicyState:
    base = dict(task="gsm8k", description="Math word problems.", format="numeric", examples=["What is 2+2?", "x" * 1000],
                baseline=0.25, best=0.3, n_validation=100, step=1, steps_total=4, minutes_left=12.0)
    return PolicyState(**(base | extra))


def test_action_space_lists_every_family_and_grid():
    text = describe_action_space(action_json_schema())
    assert [line.split(":")[0] for line in text.splitlines()] == [f"- {f}" for f in FAMILIES]
    assert "ttl_steps ∈ 5|10|25" in text and "shuffle_data ∈ true|false" in text
    assert '"majority_vote"' in text and "lambda ∈ 0.0|0.25|0.5|0.75|1.0" in text


def test_every_listed_value_is_a_valid_action():
    schema = action_json_schema()
    for ref in schema["properties"]["strategy"]["oneOf"]:
        props = schema["$defs"][ref["$ref"].split("/")[-1]]["properties"]
        family = props["family"]["const"]
        for name, prop in props.items():
            for value in prop.get("enum", []):
                example = {"family": family} | {k: (p.get("enum") or [True])[0] for k, p in props.items() if k != "family"}
                Action.model_validate({"strategy": example | {name: value}})


def test_user_prompt_has_metrics_history_and_budget():
    history = [HistoryItem(0, {"strategy": {"family": "lora_mix", "lambda": 0.5}}, 0.3, 0.05, 1, 12.0),
               HistoryItem(1, None, None, None, 0, 0.5)]
    system, user = render_messages(state(history=history), action_json_schema())
    assert system["role"] == "system" and "JSON" in system["content"]
    content = user["content"]
    assert "Task: gsm8k (numeric). Math word problems." in content
    assert "0.250 on 100 items." in content and "Current: θ₀, accuracy 0.300. Step 2 of 4" in content
    assert "kept only for" in content
    before_step = [render_messages(state(history=history[:k]), action_json_schema())[1]["content"] for k in (1, 2)]
    assert before_step[1].startswith(before_step[0].rsplit("\n", 1)[0])  # a step only appends to the previous prompt
    assert '{"family":"lora_mix","lambda":0.5} → accuracy 0.300 (delta +0.050, reward 1, 12 s)' in content
    assert "invalid output → failed" in content
    assert "Step 2 of 4, 12.0 min left" in content
    assert max(len(line) for line in content.splitlines()) < 300  # long questions are clipped


def test_user_prompt_shows_balanced_accuracy_collapse_and_the_reward_metric():
    plain = render_messages(state(), action_json_schema())[1]["content"]
    assert "balanced" not in plain and "most common prediction" not in plain  # generative task: no answer metrics
    content = render_messages(state(balanced=0.5, collapse=0.9, metric="balanced_acc", reward_rule="paired"),
                              action_json_schema())[1]["content"]
    assert "Current: θ₀, accuracy 0.300, balanced accuracy 0.500, most common prediction on 90% of items." in content
    assert "a significant paired gain on the same items in balanced accuracy" in content


def test_state_round_trips_through_json():
    import json

    s = state(history=[HistoryItem(0, None, None, None, 0, 1.0)], balanced=0.4, collapse=0.75, metric="balanced_acc")
    assert PolicyState.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_answer_profile_of_the_labelled_support():
    from degaml.data.example import Example

    yes_no = [Example(str(i), "q", answer=a) for i, a in enumerate(["Yes", "No", "Yes", "Yes", None])]
    assert answer_profile(yes_no) == '4 labelled; 2 distinct answers; most common "Yes" (3 of 4)'
    mc = [Example(str(i), "q", ("a", "b", "c"), answer=2) for i in range(3)]
    assert answer_profile(mc) == '3 labelled; 1 distinct answer; most common "C" (3 of 3)'
    assert answer_profile([Example("0", "q")]) == ""  # unlabeled support: no profile, no prompt line


def test_support_profile_is_in_the_prompt_and_the_state_round_trips():
    s = state(support_answers='20 labelled; 2 distinct answers; most common "Yes" (14 of 20)',
              history=[HistoryItem(0, None, None, None, 0, 1.0)])
    assert 'Labelled support answers: 20 labelled; 2 distinct answers; most common "Yes" (14 of 20).' in render_messages(
        s, action_json_schema())[1]["content"]
    assert "Labelled support answers" not in render_messages(state(), action_json_schema())[1]["content"]
    assert PolicyState.from_dict(s.to_dict()) == s


def test_state_fields_are_validated():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        state(baseline="high")
    with pytest.raises(ValidationError):
        PolicyState.from_dict(state().to_dict() | {"history": [{"step": "one"}]})
