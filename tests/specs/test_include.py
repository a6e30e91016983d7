"""`include:` in spec files: base files deep-merged under the including file, nested includes, and every bad include
(cycle, missing file, non-mapping, a path leaving the spec's directory, too deep, wrong type) as one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from degaml.errors import SpecError
from degaml.specs import load_meta_spec, load_spec, spec_from_dict, spec_json_schema
from degaml.specs.include import MAX_INCLUDE_DEPTH, deep_merge

BASE = """\
version: 1
format: exact_match
dataset:
  - source: reasoning_gym:gcd
    size: 50
    options: {min_value: 1, max_value: 20}
generation:
  until: ["\\n"]
  max_new_tokens: 8
num_validation: 10
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_deep_merge_merges_mappings_and_replaces_lists_and_scalars():
    base = {"a": 1, "g": {"until": ["x"], "n": 8}, "l": [1, 2], "keep": {"k": 1}}
    over = {"a": 2, "g": {"n": 4}, "l": [3], "new": None}
    assert deep_merge(base, over) == {"a": 2, "g": {"until": ["x"], "n": 4}, "l": [3], "keep": {"k": 1}, "new": None}
    assert base["g"] == {"until": ["x"], "n": 8}  # inputs untouched


def test_the_including_file_wins_and_nested_mappings_merge(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    spec = load_spec(write(tmp_path, "t.yaml", "include: _base.yaml\ntask: t\ngeneration:\n  max_new_tokens: 4\n"))
    assert spec.task == "t" and spec.format == "exact_match" and spec.num_validation == 10
    assert spec.generation.max_new_tokens == 4 and spec.generation.until == ["\n"]  # merged, not replaced
    assert spec.dataset[0].options == {"min_value": 1, "max_value": 20}


def test_lists_replace_whole_and_the_result_equals_the_flat_spec(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    over = "include: _base.yaml\ntask: t\ndataset:\n  - source: reasoning_gym:lcm\n"
    spec = load_spec(write(tmp_path, "t.yaml", over))
    assert [(s.source, s.size, s.options) for s in spec.dataset] == [("reasoning_gym:lcm", 1000, {})]
    flat = BASE.replace("reasoning_gym:gcd\n    size: 50\n    options: {min_value: 1, max_value: 20}",
                        "reasoning_gym:lcm") + "task: t\n"
    assert spec.model_dump() == load_spec(write(tmp_path, "flat.yaml", flat)).model_dump()


def test_a_list_applies_in_order_and_includes_nest_relative_to_their_file(tmp_path):
    write(tmp_path, "common/_root.yaml", BASE)
    write(tmp_path, "common/_mid.yaml", "include: _root.yaml\nnum_validation: 20\nseed: 7\n")
    write(tmp_path, "_later.yaml", "seed: 9\nnum_test: 30\n")
    spec = load_spec(write(tmp_path, "t.yaml", "include: [common/_mid.yaml, _later.yaml]\ntask: t\nnum_test: 40\n"))
    assert (spec.num_validation, spec.seed, spec.num_test) == (20, 9, 40)


def test_overrides_apply_after_includes(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    spec = load_spec(write(tmp_path, "t.yaml", "include: _base.yaml\ntask: t\n"), ["generation.max_new_tokens=3"])
    assert spec.generation.max_new_tokens == 3 and spec.generation.until == ["\n"]


def test_a_cycle_is_one_line_naming_the_file_and_field(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\n")
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(SpecError) as exc:
        load_spec(tmp_path / "a.yaml")
    assert "b.yaml: include: include cycle a.yaml → b.yaml → a.yaml" in one_line(exc)
    write(tmp_path, "self.yaml", "include: self.yaml\ntask: t\n")
    with pytest.raises(SpecError, match=r"self.yaml: include: include cycle self.yaml → self.yaml"):
        load_spec(tmp_path / "self.yaml")


def test_the_same_base_twice_is_no_cycle(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    write(tmp_path, "_x.yaml", "include: _base.yaml\n")
    assert load_spec(write(tmp_path, "t.yaml", "include: [_base.yaml, _x.yaml]\ntask: t\n")).task == "t"


def test_a_missing_include_is_one_line(tmp_path):
    path = write(tmp_path, "t.yaml", "include: [_base.yaml, nope.yaml]\ntask: t\n")
    write(tmp_path, "_base.yaml", BASE)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert one_line(exc) == f'{path}: include[1]: file not found (got "nope.yaml")'


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "a list"), ("just text\n", "a str"), ("", "an empty file")])
def test_a_non_mapping_include_is_one_line(tmp_path, text, kind):
    write(tmp_path, "_base.yaml", text)
    path = write(tmp_path, "t.yaml", "include: _base.yaml\ntask: t\n")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert one_line(exc) == f'{path}: include: the included file must be a mapping of keys, not {kind} (got "_base.yaml")'


def test_a_syntax_error_in_an_included_file_names_that_file(tmp_path):
    base = write(tmp_path, "_base.yaml", "version: [1\n")
    with pytest.raises(SpecError, match=rf"^{base.resolve()}: YAML syntax error"):
        load_spec(write(tmp_path, "t.yaml", "include: _base.yaml\ntask: t\n"))


@pytest.mark.parametrize("value, problem", [
    ("/etc/passwd.yaml", "must be a path relative to this file"),
    ("~/base.yaml", "must be a path relative to this file"),
    ("../outside.yaml", "leaves the spec's directory"),
    ("base.txt", "must name a .yaml or .yml file"),
    ("[]", "expected a file name or a non-empty list"),
    ("3", "expected a file name or a non-empty list"),
    ("[3]", "include[0]: expected a file name"),
])
def test_paths_must_stay_in_the_spec_directory_and_values_must_be_names(tmp_path, value, problem):
    write(tmp_path, "outside.yaml", BASE)
    path = write(tmp_path, "specs/t.yaml", f"include: {value}\ntask: t\n")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert one_line(exc).startswith(f"{path}: include") and problem in str(exc.value)


def test_a_symlink_out_of_the_spec_directory_is_refused(tmp_path):
    outside = write(tmp_path, "outside.yaml", BASE)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "_base.yaml").symlink_to(outside)
    with pytest.raises(SpecError, match="leaves the spec's directory"):
        load_spec(write(tmp_path, "specs/t.yaml", "include: _base.yaml\ntask: t\n"))


def test_nesting_is_bounded(tmp_path):
    write(tmp_path, f"_{MAX_INCLUDE_DEPTH}.yaml", BASE)
    for level in range(MAX_INCLUDE_DEPTH):
        write(tmp_path, f"_{level}.yaml", f"include: _{level + 1}.yaml\n")
    assert load_spec(write(tmp_path, "ok.yaml", "include: _1.yaml\ntask: t\n")).task == "t"  # 8 levels
    with pytest.raises(SpecError, match=f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels"):
        load_spec(write(tmp_path, "deep.yaml", "include: _0.yaml\ntask: t\n"))  # 9 levels


def test_include_in_already_parsed_data_is_refused():
    with pytest.raises(SpecError, match="include: resolved only when a spec file is read"):
        spec_from_dict({"include": "_base.yaml", "task": "t"})


def test_a_meta_spec_may_include_a_base(tmp_path):
    write(tmp_path, "_base.yaml", BASE)
    write(tmp_path, "t.yaml", "include: _base.yaml\ntask: t\n")
    write(tmp_path, "_meta_base.yaml", "version: 1\nname: m\ntasks: [t.yaml]\n")
    meta = load_meta_spec(write(tmp_path, "meta.yaml", "include: _meta_base.yaml\nprofile: cpu\n"))
    assert [p.name for p in meta.task_paths()] == ["t.yaml"]


def test_schema_documents_include():
    include = spec_json_schema()["properties"]["include"]
    assert {s["type"] for s in include["anyOf"]} == {"string", "array"} and "relative" in include["description"]


def test_spec_validate_exits_2_on_a_bad_include(tmp_path):
    path = write(tmp_path, "t.yaml", "include: missing.yaml\ntask: t\n")
    code = "import sys; from degaml.cli import main; sys.argv = ['degaml', 'spec', 'validate', sys.argv[1]]; main()"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert 'include: file not found (got "missing.yaml")' in done.stderr and "Traceback" not in done.stderr
    assert json.loads(json.dumps(spec_json_schema()))  # the schema stays JSON with the extra property
