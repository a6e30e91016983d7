"""Spec loading: valid specs round-trip, overrides apply, and every kind of malformed spec is one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from degaml.errors import SpecError
from degaml.specs import apply_overrides, load_spec, spec_json_schema

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "specs").glob("*.yaml"))


def good(data_file: Path) -> dict:
    return {"version": 1, "task": "t", "format": "multiple_choice", "dataset": [{"source": str(data_file)}]}


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_specs_validate_and_document_their_command(path):
    spec = load_spec(path)
    assert spec.task and spec.version == 1
    header = path.read_text().splitlines()[:4]
    assert any("degaml " in line and line.startswith("#") for line in header), "header comment with launch command"


def test_overrides_apply_nested_and_typed(mc_file, tmp_path):
    path = write(tmp_path, yaml.safe_dump(good(mc_file)))
    spec = load_spec(path, ["num_validation=7", "generation.max_new_tokens=9", "generation.until=[X, Y]", "task=other"])
    assert spec.num_validation == 7 and spec.generation.max_new_tokens == 9
    assert spec.generation.until == ["X", "Y"] and spec.task == "other"


def test_apply_overrides_does_not_mutate_input():
    data = {"generation": {"max_new_tokens": 3}}
    apply_overrides(data, ["generation.max_new_tokens=5"])
    assert data == {"generation": {"max_new_tokens": 3}}


def test_local_paths_resolve_relative_to_spec_file(mc_file, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "d.jsonl").write_text(mc_file.read_text())
    spec_dict = good(mc_file) | {"dataset": [{"source": "d.jsonl"}]}
    assert load_spec(write(sub, yaml.safe_dump(spec_dict))).source_dir == sub.resolve()


def test_schema_is_json_and_names_fields():
    schema = spec_json_schema()
    json.dumps(schema)
    assert {"task", "format", "dataset", "doc_to_text"} <= set(schema["properties"])


# (name, YAML text or callable(data_file) -> dict, expected substring of the message)
MALFORMED = [
    ("empty file", "", "spec is empty"),
    ("only a comment", "# nothing\n", "spec is empty"),
    ("yaml syntax", "version: 1\ntask: [unclosed\n", "YAML syntax error"),
    ("bad indentation", "version: 1\n  task: x\n bad: 2\n", "YAML syntax error"),
    ("top-level list", "- a\n- b\n", "must be a mapping"),
    ("top-level scalar", "hello\n", "must be a mapping"),
    ("missing version", lambda f: {k: v for k, v in good(f).items() if k != "version"}, "version: Field required"),
    ("wrong version", lambda f: good(f) | {"version": 2}, "version"),
    ("missing task", lambda f: {k: v for k, v in good(f).items() if k != "task"}, "task: Field required"),
    ("task with spaces", lambda f: good(f) | {"task": "my task"}, "task"),
    ("unknown format", lambda f: good(f) | {"format": "essay"}, "format"),
    ("unknown top-level key", lambda f: good(f) | {"epochs": 3}, "epochs: unknown key"),
    ("typo in nested key", lambda f: good(f) | {"generation": {"max_tokens": 3}}, "generation.max_tokens: unknown key"),
    ("wrong type batch_size", lambda f: good(f) | {"batch_size": "big"}, "batch_size"),
    ("zero batch_size", lambda f: good(f) | {"batch_size": 0}, "batch_size"),
    ("negative num_support", lambda f: good(f) | {"num_support": -1}, "num_support"),
    ("num_validation float", lambda f: good(f) | {"num_validation": 2.5}, "num_validation"),
    ("empty dataset list", lambda f: good(f) | {"dataset": []}, "dataset"),
    ("dataset not a list", lambda f: good(f) | {"dataset": "x.jsonl"}, "dataset"),
    ("missing data file", lambda f: good(f) | {"dataset": [{"source": "nope/missing.jsonl"}]}, "data file not found"),
    ("unsupported file type", lambda f: good(f) | {"dataset": [{"source": "data.txt"}]}, "dataset[0].source"),
    ("empty hf id", lambda f: good(f) | {"dataset": [{"source": "hf:"}]}, "names no dataset"),
    ("bad device", lambda f: good(f) | {"device": "tpu"}, "device"),
    ("bad dtype", lambda f: good(f) | {"dtype": "int8"}, "dtype"),
    ("empty model", lambda f: good(f) | {"model": ""}, "model"),
    ("template syntax", lambda f: good(f) | {"doc_to_text": "{{ question"}, "doc_to_text: Jinja template syntax error"),
    ("bad answer regex", lambda f: good(f) | {"dataset": [{"source": str(f), "answer_regex": "(unclosed"}]}, "answer_regex"),
    ("regex without group", lambda f: good(f) | {"dataset": [{"source": str(f), "answer_regex": "####"}]}, "capturing group"),
    ("acc_norm on numeric", lambda f: good(f) | {"format": "numeric", "metric": "acc_norm"}, "acc_norm"),
    ("reasoning_gym as MC", lambda f: good(f) | {"dataset": [{"source": "reasoning_gym:chain_sum"}]}, "generative"),
    ("trust_remote_code not bool", lambda f: good(f) | {"trust_remote_code": "maybe"}, "trust_remote_code"),
    ("generation.until not list", lambda f: good(f) | {"generation": {"until": 5}}, "generation.until"),
]


@pytest.mark.parametrize("name,content,expected", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_is_one_line_naming_the_problem(name, content, expected, mc_file, tmp_path):
    text = content if isinstance(content, str) else yaml.safe_dump(content(mc_file))
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert expected in message


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "absent.yaml")


@pytest.mark.parametrize("override", ["novalue", "=3", "a..b=1", "x=[unclosed"])
def test_bad_override(override, mc_file, tmp_path):
    path = write(tmp_path, yaml.safe_dump(good(mc_file)))
    with pytest.raises(SpecError, match="override"):
        load_spec(path, [override])


@pytest.mark.slow
def test_cli_validate_exit_codes_and_one_line(mc_file, tmp_path):
    ok = write(tmp_path, yaml.safe_dump(good(mc_file) | {"num_validation": 20}), "ok.yaml")
    bad = write(tmp_path, yaml.safe_dump(good(mc_file) | {"batch_size": "x"}), "bad.yaml")
    run = lambda *files: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "degaml", "spec", "validate", *map(str, files)], capture_output=True, text=True
    )
    assert run(ok).returncode == 0
    result = run(ok, bad)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "batch_size" in lines[0]


@pytest.mark.parametrize("name", ["..", ".", "..."])
def test_task_and_meta_names_must_be_safe_path_components(name, mc_file, tmp_path):
    with pytest.raises(SpecError, match="task: must be usable as a file or directory name"):
        load_spec(write(tmp_path, yaml.safe_dump(good(mc_file) | {"task": name})))
    from degaml.specs.load import load_meta_spec

    meta = {"version": 1, "name": name, "tasks": ["x.yaml"], "collection": {}, "generator": {}, "policy": {}}
    with pytest.raises(SpecError, match="name: must be usable as a file or directory name"):
        load_meta_spec(write(tmp_path, yaml.safe_dump(meta), "meta.yaml"), [])
