"""Hostile or wrong specs cost nothing: size, nesting depth and alias expansion are bounded before parsing builds
anything big; `spec validate` checks local paths offline; `trust_remote_code` needs command-line consent."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from degaml.errors import ModelLoadError, SpecError
from degaml.specs import load_spec
from degaml.specs.check import offline_problems
from degaml.specs.load import MAX_SPEC_BYTES

GOOD = "version: 1\ntask: t\nformat: numeric\ndataset:\n  - source: hf:x/y\n"


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")  # 10^10 leaves once expanded
    path = write(tmp_path, GOOD + "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="aliases are expanded"):
        load_spec(path)
    assert time.perf_counter() - start < 10  # generous: refused while composing, not after building 10^10 items


def test_deep_nesting_is_one_line_not_recursion_error(tmp_path):
    path = write(tmp_path, GOOD + "description: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match="nesting deeper"):
        load_spec(path)


def test_huge_spec_is_refused_before_reading(tmp_path):
    path = write(tmp_path, GOOD + "description: '" + "x" * (MAX_SPEC_BYTES + 10) + "'\n")
    with pytest.raises(SpecError, match="at most"):
        load_spec(path)


def test_ordinary_aliases_still_work(tmp_path):
    path = write(tmp_path, "version: 1\ntask: t\nformat: numeric\ndataset:\n  - &src {source: hf:x/y}\ntrain_dataset:\n  - *src\n")
    assert load_spec(path).train_dataset[0].source == "hf:x/y"


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("model: /nonexistent/dir\n", "model: local model directory not found"),
        ("model: ./missing.gguf\n", "model: GGUF file not found"),
        ("encoder: /nope/encoder\n", "encoder: local model directory not found"),
        ("generator: /nope/generator\n", "generator: not a generator directory"),
        ("adapt: {policy: /nope/policy}\n", "adapt.policy: not a PEFT adapter directory"),
    ],
)
def test_offline_problems_name_the_field(tmp_path, extra, problem):
    spec = load_spec(write(tmp_path, GOOD + extra))
    assert any(p.startswith(problem) for p in offline_problems(spec))


def test_offline_problems_accept_hub_ids_and_existing_dirs(tmp_path, tiny_model_dir):
    spec = load_spec(write(tmp_path, GOOD + f"model: {tiny_model_dir}\nencoder: sentence-transformers/x\n"))
    assert offline_problems(spec) == []


def test_spec_validate_cli_reports_missing_model(tmp_path):
    path = write(tmp_path, GOOD + "model: /nonexistent/dir\n")
    proc = subprocess.run([sys.executable, "-m", "degaml", "spec", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "model: local model directory not found" in proc.stderr


def test_trust_remote_code_needs_command_line_consent(tmp_path, tiny_model_dir):
    from degaml.models import llm

    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        llm.load_llm(str(tiny_model_dir), device="cpu", trust_remote_code=True)
    llm.allow_remote_code(True)
    try:
        llm.check_remote_code(True)  # consent given: allowed
    finally:
        llm.allow_remote_code(False)


def test_eval_refuses_remote_code_spec_without_flag_before_any_work(tmp_path, numeric_file):
    path = write(tmp_path, f"version: 1\ntask: t\nformat: numeric\ntrust_remote_code: true\ndataset:\n  - source: {numeric_file}\n")
    proc = subprocess.run([sys.executable, "-m", "degaml", "eval", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "--trust-remote-code" in proc.stderr and "Traceback" not in proc.stderr
