"""Non-finite weights and scores are errors, never numbers: a NaN adapter (user-given, generated, or a policy's), a
NaN model's log-probs, and NaN in JSON output. Before these checks a NaN adapter scored 0.60 (argmax of NaN picks
choice 0) and `--json` wrote `NaN`, which is not JSON.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from degaml.cli import main
from degaml.cli.common import write_json
from degaml.data import load_task_data
from degaml.errors import DegamlError
from degaml.evaluation import evaluate
from degaml.generator.sampler import AdapterSampler
from degaml.models.adapters import NonFiniteError, attached_adapter, check_adapter_weights
from degaml.specs import spec_from_dict
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


@pytest.fixture
def sampler(tmp_path, tiny_generator_dir, tiny_encoder):
    return AdapterSampler.load(tiny_generator_dir, tmp_path / "adapters", encoder=tiny_encoder)


@pytest.fixture
def good_adapter(sampler):
    return sampler.adapter_for(["What is two plus two?", "Which planet is red?"])


def _poison(adapter, out, value=math.nan):
    shutil.copytree(adapter, out)
    weights = load_file(str(out / "adapter_model.safetensors"))
    name = sorted(weights)[0]
    weights[name][0, 0] = value
    save_file(weights, str(out / "adapter_model.safetensors"))
    return out


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_adapter_is_refused_when_checked_and_when_attached(good_adapter, tmp_path, tiny_loaded, value):
    bad = _poison(good_adapter, tmp_path / "bad", value)
    check_adapter_weights(good_adapter, "--adapter")
    with pytest.raises(NonFiniteError, match="non-finite"):
        check_adapter_weights(bad, "--adapter")
    with pytest.raises(NonFiniteError, match="lora_"):
        with attached_adapter(tiny_loaded.model, bad):
            pass
    assert not hasattr(tiny_loaded.model, "peft_config")  # the base model was restored


def test_a_truncated_adapter_file_is_one_line(good_adapter, tmp_path):
    bad = tmp_path / "cut"
    shutil.copytree(good_adapter, bad)
    data = (bad / "adapter_model.safetensors").read_bytes()
    (bad / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DegamlError, match="cannot read"):
        check_adapter_weights(bad, "adapt.policy")


def test_a_corrupt_generator_produces_no_adapter(sampler, tmp_path):
    with torch.no_grad():
        next(sampler.bundle.model.parameters()).fill_(math.nan)
    with pytest.raises(NonFiniteError, match="generated adapter"):
        sampler.adapter_for(["What is two plus two?"])
    assert not any((tmp_path / "adapters").glob("adapter-*/adapter_model.safetensors"))  # nothing written to reuse


def test_non_finite_log_probs_are_an_error_not_choice_0(tmp_path, tiny_loaded, tiny_model_dir):
    spec = spec_from_dict(mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir)))
    task = load_task_data(spec)
    norm = tiny_loaded.model.model.norm.weight
    saved = norm.detach().clone()
    try:
        with torch.no_grad():
            norm.fill_(math.nan)
        with pytest.raises(NonFiniteError, match="non-finite log-probabilities"):
            evaluate(tiny_loaded, spec, task.validation[:3], "validation")
    finally:
        with torch.no_grad():
            norm.copy_(saved)
    assert evaluate(tiny_loaded, spec, task.validation[:3], "validation").n == 3


def test_json_output_is_never_nan(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "x.json", {"scores": [math.nan]})
    assert not (tmp_path / "x.json").exists()


def test_eval_with_a_nan_adapter_exits_2_and_writes_nothing(good_adapter, tmp_path, tiny_model_dir, capsys):
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir))
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    bad = _poison(good_adapter, tmp_path / "bad")
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "toy.yaml"), "--adapter", str(bad), "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "non-finite" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.json").exists()


def test_a_nan_policy_adapter_is_refused_before_the_run_exists(good_adapter, tmp_path, tiny_model_dir, tiny_generator_dir):
    from degaml.controller.episode.adapt import create_run

    bad = _poison(good_adapter, tmp_path / "policy")
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir),
                        generator=str(tiny_generator_dir), adapt={"steps": 1, "policy": str(bad)})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(NonFiniteError, match="adapt.policy"):
        create_run(tmp_path / "toy.yaml", [], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_summary_json_of_a_real_eval_is_valid_json(good_adapter, tmp_path, tiny_model_dir, capsys):
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir))
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "toy.yaml"), "--adapter", str(good_adapter), "--limit", "3",
              "--json", str(tmp_path / "out.json"), "--predictions", str(tmp_path / "p.jsonl")])
    assert info.value.code == 0, capsys.readouterr().err
    json.loads((tmp_path / "out.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    for line in (tmp_path / "p.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_a_huge_finite_adapter_is_refused_like_a_nan_one(good_adapter, tmp_path, tiny_model_dir, capsys):
    bad = _poison(good_adapter, tmp_path / "huge", 1e30)
    with pytest.raises(NonFiniteError, match="implausibly large"):
        check_adapter_weights(bad, "--adapter")
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir))
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "toy.yaml"), "--adapter", str(bad)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "implausibly large" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("noise", [math.inf, 1e30])
def test_infinite_noise_produces_no_adapter(sampler, tmp_path, noise):
    with pytest.raises(NonFiniteError, match="generated adapter"):
        sampler.adapter_for(["What is two plus two?"], noise=noise)
    assert not list((tmp_path / "adapters").glob("*"))  # nothing written, not even a temporary directory


def test_the_adapter_writer_refuses_huge_weights_before_writing(sampler, tmp_path):
    from degaml.generator.generate import generate_state_dict, write_peft_adapter

    state = generate_state_dict(sampler.bundle, sampler.embedder, ["What is two plus two?"])
    state[sorted(state)[0]] = state[sorted(state)[0]] * 1e30
    with pytest.raises(NonFiniteError, match="implausibly large"):
        write_peft_adapter(state, sampler.bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_generate_refuses_infinite_noise_before_any_work(tmp_path, monkeypatch, capsys):
    import degaml.specs.load

    monkeypatch.setattr(degaml.specs.load, "load_spec", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as info:
        main(["generator", "generate", "specs/arc_easy.yaml", "--out", str(tmp_path / "a"), "--noise", "inf"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--noise" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_a_nan_generator_is_refused_before_the_run_exists(tmp_path, tiny_model_dir, tiny_generator_dir):
    from degaml.controller.episode.adapt import create_run

    gen = shutil.copytree(tiny_generator_dir, tmp_path / "gen")
    weights = load_file(str(gen / "generator.safetensors"))
    weights[sorted(weights)[0]].fill_(math.nan)
    save_file(weights, str(gen / "generator.safetensors"))
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir),
                        generator=str(gen), adapt={"steps": 1, "policy": "random"})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(NonFiniteError, match="generator.safetensors"):
        create_run(tmp_path / "toy.yaml", [], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_policy_adapter_for_another_model_is_refused_up_front(good_adapter, tmp_path, tiny_model_dir, tiny_generator_dir):
    from degaml.controller.episode.adapt import create_run

    policy = shutil.copytree(good_adapter, tmp_path / "policy")
    weights = load_file(str(policy / "adapter_model.safetensors"))
    name = next(k for k in sorted(weights) if "lora_A" in k)
    weights[name] = torch.zeros(weights[name].shape[0], weights[name].shape[1] + 8)  # another hidden size
    save_file(weights, str(policy / "adapter_model.safetensors"))
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir),
                        generator=str(tiny_generator_dir), adapt={"steps": 1, "policy": str(policy)})
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DegamlError, match=r"adapt\.policy: .* does not fit the base model"):
        create_run(tmp_path / "toy.yaml", [], tmp_path / "run")
    assert not (tmp_path / "run").exists()
    create_run(tmp_path / "toy.yaml", [f"adapt.policy={good_adapter}"], tmp_path / "run")  # one that fits is accepted


def test_eval_refuses_an_adapter_for_another_model_before_loading_data(good_adapter, tmp_path, tiny_model_dir, capsys, monkeypatch):
    import degaml.data

    wrong = shutil.copytree(good_adapter, tmp_path / "wrong")
    weights = load_file(str(wrong / "adapter_model.safetensors"))
    name = next(k for k in sorted(weights) if "lora_B" in k)
    weights[name] = torch.zeros(weights[name].shape[0] * 2, weights[name].shape[1])
    save_file(weights, str(wrong / "adapter_model.safetensors"))
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir))
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(degaml.data, "load_task_data", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "toy.yaml"), "--adapter", str(wrong)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--adapter" in err and "does not fit the base model" in err
