"""Data sources: local files through `datasets`, field maps and templates, fallbacks, reasoning-gym, shared files."""

from __future__ import annotations

import json

import pytest

from degaml.data import load_first_available, load_source, shared_data_dir
from degaml.errors import DataError
from degaml.specs import spec_from_dict
from tests.conftest import mc_spec_dict, numeric_spec_dict, write_jsonl


def test_jsonl_csv_parquet_load_the_same_items(tmp_path):
    import datasets

    rows = [{"id": f"r{i}", "question": f"q{i}", "answer": str(i)} for i in range(5)]
    jsonl = write_jsonl(tmp_path / "a.jsonl", rows)
    ds = datasets.Dataset.from_list(rows)
    ds.to_csv(str(tmp_path / "a.csv"), index=False)
    ds.to_parquet(str(tmp_path / "a.parquet"))
    loaded = []
    for name in ("a.jsonl", "a.csv", "a.parquet"):
        spec = spec_from_dict(numeric_spec_dict(jsonl) | {"dataset": [{"source": str(tmp_path / name)}]})
        loaded.append([(e.id, e.question, e.answer) for e in load_source(spec.dataset[0], spec)])
    assert loaded[0] == loaded[1] == loaded[2] == [(f"r{i}", f"q{i}", str(i)) for i in range(5)]


def test_field_map_dotted_paths_labels_and_templates(tmp_path):
    rows = [{"uid": 7, "stem": "Why?", "passage": "P", "opts": {"text": ["a", "b", "c"], "label": ["A", "B", "C"]}, "key": "C"}]
    path = write_jsonl(tmp_path / "hf_like.jsonl", rows)
    src = {"source": str(path), "fields": {"id": "uid", "question": "{{passage}}\n\n{{stem}}", "choices": "opts.text",
                                           "labels": "opts.label", "answer": "key", "rationale": None}}
    spec = spec_from_dict(mc_spec_dict(path) | {"dataset": [src]})
    (ex,) = load_source(spec.dataset[0], spec)
    assert (ex.id, ex.question, ex.choices, ex.answer) == ("7", "P\n\nWhy?", ("a", "b", "c"), 2)


def test_choices_from_a_template_rendering_a_json_list(tmp_path):
    path = write_jsonl(tmp_path / "w.jsonl", [{"sentence": "A _ b", "option1": "x", "option2": "y", "answer": "2"}])
    src = {"source": str(path), "fields": {"id": None, "question": "sentence", "choices": "{{ [option1, option2] | tojson }}",
                                           "answer": "{{ answer | int - 1 }}", "rationale": None}}
    spec = spec_from_dict(mc_spec_dict(path) | {"dataset": [src]})
    (ex,) = load_source(spec.dataset[0], spec)
    assert ex.choices == ("x", "y") and ex.answer == 1


def test_answer_regex_extracts_gold(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "work...\n#### 1,600"}])
    spec = spec_from_dict(numeric_spec_dict(path) | {"dataset": [{"source": str(path), "answer_regex": "#### (.*)"}]})
    assert load_source(spec.dataset[0], spec)[0].answer == "1,600"


@pytest.mark.parametrize(
    "row,match",
    [
        ({"question": "q", "choices": ["a", "b"], "answer": 5}, "out of range"),
        ({"question": "q", "choices": ["a", "b"], "answer": "B"}, "not a choice index"),
        ({"question": "q", "answer": 0}, "no field 'choices'"),
        ({"choices": ["a", "b"], "answer": 0}, "no field 'question'"),
        ({"question": "q", "choices": "ab", "answer": 0}, "choices must be a list|not a list"),
    ],
)
def test_bad_records_name_the_problem(row, match, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    spec = spec_from_dict(mc_spec_dict(path))
    with pytest.raises(DataError, match=match):
        load_source(spec.dataset[0], spec)


def test_unparseable_file_is_a_data_error(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "q", "answer": 1}\n{not json\n')
    spec = spec_from_dict(numeric_spec_dict(path))
    with pytest.raises(DataError, match="cannot parse"):
        load_source(spec.dataset[0], spec)


def test_fallback_skips_unreachable_hub_and_missing_shared(monkeypatch, mc_file, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DEGAML_SHARED_DATA", str(tmp_path / "no-shared-here"))
    from degaml.models import hub

    hub.hub_reachable.cache_clear()
    skipped: list[str] = []
    sources = [{"source": "hf:some/dataset"}, {"source": "shared:x/y.jsonl"}, {"source": str(mc_file)}]
    spec = spec_from_dict(mc_spec_dict(mc_file) | {"dataset": sources})
    src, examples = load_first_available(spec.dataset, spec, skipped.append)
    hub.hub_reachable.cache_clear()
    assert src.source == str(mc_file) and len(examples) == 60
    assert len(skipped) == 2 and "unreachable" in skipped[0] and "does not exist" in skipped[1]


def test_all_sources_failing_is_one_error(monkeypatch, mc_file, tmp_path):
    monkeypatch.setenv("DEGAML_SHARED_DATA", str(tmp_path))
    spec = spec_from_dict(mc_spec_dict(mc_file) | {"dataset": [{"source": "shared:none.jsonl"}]})
    with pytest.raises(DataError, match="no data source could be loaded"):
        load_first_available(spec.dataset, spec, lambda _: None)


def test_shared_data_dir_env_and_discovery(monkeypatch, tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    deep = tmp_path / "repo" / "specs"
    deep.mkdir(parents=True)
    monkeypatch.delenv("DEGAML_SHARED_DATA", raising=False)
    monkeypatch.chdir(deep)
    assert shared_data_dir(deep) == (tmp_path / "shared" / "data").resolve()
    monkeypatch.setenv("DEGAML_SHARED_DATA", "/some/where")
    assert str(shared_data_dir(deep)) == "/some/where"


def test_reasoning_gym_is_seeded_and_scored_by_its_verifier(mc_file):
    spec = spec_from_dict(numeric_spec_dict(mc_file) | {"dataset": [{"source": "reasoning_gym:chain_sum", "size": 30}]})
    first = load_source(spec.dataset[0], spec)
    again = load_source(spec.dataset[0], spec)
    other = load_source(spec.dataset[0], spec, seed_offset=1)
    assert [e.question for e in first] == [e.question for e in again] != [e.question for e in other]
    ex = first[0]
    assert ex.meta["scorer"](answer=ex.answer, entry=ex.meta["reasoning_gym"]) == 1.0


def test_unknown_reasoning_gym_name(mc_file):
    spec = spec_from_dict(numeric_spec_dict(mc_file) | {"dataset": [{"source": "reasoning_gym:not_a_task"}]})
    with pytest.raises(DataError, match="cannot create dataset"):
        load_source(spec.dataset[0], spec)


def test_shared_benchmark_files_load_when_present():
    root = shared_data_dir()
    if root is None or not (root / "arc_easy" / "validation.jsonl").is_file():
        pytest.skip("shared benchmark data not beside this checkout")
    spec = spec_from_dict(mc_spec_dict(root) | {"dataset": [{"source": "shared:arc_easy/validation.jsonl"}]})
    examples = load_source(spec.dataset[0], spec)
    first = json.loads((root / "arc_easy" / "validation.jsonl").read_text().splitlines()[0])
    assert len(examples) == 570 and examples[0].id == first["id"] and examples[0].answer == first["answer"]


def test_a_bad_jsonl_line_is_one_error_with_nothing_printed_before_it(tmp_path, capfd):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\n{not json\n')
    spec = spec_from_dict(numeric_spec_dict(bad))
    with pytest.raises(DataError, match=r"bad\.jsonl: cannot parse as json \(.*JSON parse error"):
        load_source(spec.dataset[0], spec)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""  # the parser's log line became the reason, not a stray line


def test_an_empty_jsonl_falls_through_to_the_next_source(tmp_path):
    from degaml.data import load_chain

    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    good = write_jsonl(tmp_path / "good.jsonl", [{"question": "q", "answer": "1"}])
    spec = spec_from_dict(numeric_spec_dict(good) | {"dataset": [{"source": str(tmp_path / "empty.jsonl")},
                                                                  {"source": str(tmp_path / "blank.jsonl")}, {"source": str(good)}]})
    src, examples, provenance = load_chain(spec.dataset, spec)
    assert src.source == str(good) and len(examples) == 1
    assert [s.reason.split()[-3:] for s in provenance.skipped] == [["empty", "(no", "items)"]] * 2
    alone = spec_from_dict(numeric_spec_dict(good) | {"dataset": [{"source": str(tmp_path / "empty.jsonl")}]})
    with pytest.raises(DataError, match=r"no data source could be loaded .*empty\.jsonl is empty"):
        load_chain(alone.dataset, alone)
