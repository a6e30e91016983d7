"""`create_run` validates everything before writing: a corrupt generator, one trained for another base model, or a
remote-code spec without consent leave no run directory; run.json records the data provenance, and a resumed run
refuses data that changed since it started."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from degaml.controller.episode.adapt import build_runtime, create_run, open_run
from degaml.errors import DataError, ModelLoadError
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl


def spec_file(tmp_path, tiny_model_dir, generator, **extra):
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(generator), adapt={"steps": 1, "policy": "random"}, **extra)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_truncated_generator_leaves_no_run_dir(tmp_path, tiny_model_dir, tiny_generator_dir):
    gen = shutil.copytree(tiny_generator_dir, tmp_path / "gen")
    weights = gen / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=r"generator\.safetensors"):
        create_run(spec_file(tmp_path, tiny_model_dir, gen), [], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_generator_for_another_base_model_is_refused_up_front(tmp_path, tiny_model_dir, tiny_generator_dir):
    gen = shutil.copytree(tiny_generator_dir, tmp_path / "gen")
    config = json.loads((gen / "generator.json").read_text())
    (gen / "generator.json").write_text(json.dumps(config | {"base_model": "HuggingFaceTB/SmolLM2-360M"}))
    with pytest.raises(ModelLoadError, match="trained for base model 'HuggingFaceTB/SmolLM2-360M'"):
        create_run(spec_file(tmp_path, tiny_model_dir, gen), [], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_remote_code_spec_without_consent_leaves_no_run_dir(tmp_path, tiny_model_dir, tiny_generator_dir):
    path = spec_file(tmp_path, tiny_model_dir, tiny_generator_dir, trust_remote_code=True)
    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        create_run(path, [], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_json_records_data_provenance_and_resume_refuses_changed_data(tmp_path, tiny_model_dir, tiny_generator_dir):
    path = spec_file(tmp_path, tiny_model_dir, tiny_generator_dir)
    store = create_run(path, [], tmp_path / "run")
    header = json.loads((store.run_dir / "run.json").read_text())
    used = header["data"]["dataset"]["used"]
    assert used["items"] == 60 and used["kind"] == "local" and len(used["sha256"]) == 64
    write_jsonl(tmp_path / "mc.jsonl", mc_rows(61))  # the data file changes under the run
    store, spec = open_run(store.run_dir)
    with pytest.raises(DataError, match="task data changed"):
        build_runtime(spec, store)


def test_balanced_metric_on_a_generative_task_is_refused_before_the_run_exists(tmp_path, tiny_model_dir, tiny_generator_dir):
    from degaml.errors import DegamlError
    from tests.conftest import numeric_rows, numeric_spec_dict

    data = write_jsonl(tmp_path / "num.jsonl", numeric_rows(40))
    spec = numeric_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir),
                             adapt={"steps": 1, "policy": "random", "metric": "balanced_acc"})
    path = tmp_path / "num.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(DegamlError, match="adapt.metric: balanced_acc needs a multiple-choice or exact-match task"):
        create_run(path, [], tmp_path / "run")
    assert not (tmp_path / "run").exists()
    store = create_run(path, ["adapt.metric=acc"], tmp_path / "run")  # accuracy is fine for any task
    assert store.header.spec["adapt"]["metric"] == "acc"
