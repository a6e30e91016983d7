"""`degaml strategy run|schema` on the tiny model and tiny generator: every family end to end, bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from degaml.cli import main
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

ACTIONS = [
    {"family": "ttt", "ttl_steps": 5, "learning_rate": 1e-4, "batch_size": 2, "shuffle_data": True},
    {"family": "tts", "num_prompt_batches": 2, "method": "majority_vote"},
    {"family": "tts", "num_prompt_batches": 3, "method": "avg_prompt_embed"},
    {"family": "lora_mix", "lambda": 0.5},
    {"family": "slot", "times": 3, "learning_rate": 0.01},
]


@pytest.fixture
def spec_file(tmp_path, tiny_model_dir, tiny_generator_dir):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir))))
    return path


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a["family"] + "-" + str(a.get("method", "")))
@pytest.mark.slow
def test_every_family_runs_from_the_cli(action, spec_file, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(["strategy", "run", str(spec_file), "--action", json.dumps(action), "--work-dir",
                              str(tmp_path / "work"), "--json", str(out_json)], capsys)
    assert code == 0, err + out
    result = json.loads(out_json.read_text())
    assert {"family", "params", "baseline_accuracy", "accuracy", "seconds"} <= set(result)
    assert result["family"] == action["family"] and result["params"] == action
    assert 0 <= result["accuracy"] <= 1 and result["n"] == 20


def test_adapter_option_skips_the_generator_for_non_tts(spec_file, tmp_path, capsys, tiny_generator_dir):
    first = tmp_path / "first.json"
    run_cli(["strategy", "run", str(spec_file), "--action", json.dumps(ACTIONS[3]), "--work-dir", str(tmp_path / "w"), "--json", str(first)], capsys)
    theta0 = json.loads(first.read_text())["adapter"]
    code, _, err = run_cli(["strategy", "run", str(spec_file), "generator=/nonexistent", "--adapter", theta0, "--action",
                            json.dumps(ACTIONS[3]), "--work-dir", str(tmp_path / "w2")], capsys)
    assert code == 0, err


@pytest.mark.parametrize("action, message", [
    ('{"family": "ttt", "ttl_steps": 7}', "ttt.ttl_steps"),
    ('{"family": "nope"}', "--action"),
    ('{"family": "lora_mix", "lambda": 0.5, "extra": 1}', "lora_mix.extra"),
    ("[1, 2", "--action: not JSON"),
])
def test_bad_action_is_one_line_exit_2(action, message, spec_file, capsys, tmp_path):
    code, _, err = run_cli(["strategy", "run", str(spec_file), "--action", action, "--work-dir", str(tmp_path / "w")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()


def test_schema_is_the_policy_union(capsys):
    from degaml.strategies.registry import action_json_schema

    code, out, _ = run_cli(["strategy", "schema"], capsys)
    assert code == 0 and json.loads(out) == action_json_schema()
